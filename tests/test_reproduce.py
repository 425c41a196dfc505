"""The study end to end on the toy profile: `dolos_reproduce` and the experiment notebooks.

These tests share the project's model cache (`models/toy`) and data (`data/`) with `nbdev_test`,
which runs the notebooks 04-09 first in `make test` (`make study`); run alone, the first test trains what is missing.
"""
import io, json, shutil, subprocess, sys
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dolos.agreement import RESULT_TABLES as TABLES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIGURES = ['04_main_experiments/fig3', '04_main_experiments/learning_curves', '05_cross_dataset/fig4', '05_cross_dataset/fig5',
           '06_cross_generator/fig6', '06_cross_generator/fig7', '08_robustness/robustness']
SHOWN = {'figures/04_main_experiments/table2.md', 'figures/04_main_experiments/floors.md', 'figures/05_cross_dataset/table3.md',
         'figures/06_cross_generator/floors.md', 'figures/07_unseen_datasets/table4.md', 'figures/08_robustness/robustness.md',
         'figures/findings.md', 'figures/reproduce.md'} | {f'figures/{f}.png' for f in FIGURES}


def reproduce(*args):
    r = subprocess.run([str(BIN/'dolos_reproduce'), *args], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(l) for l in (ROOT/'runs'/'toy'/'record.jsonl').read_text().splitlines()]


def tables():
    return {t: (ROOT/'figures'/t).read_bytes() for t in TABLES if (ROOT/'figures'/t).is_file()}


def test_reproduce_twice_same_tables_nothing_trained():
    "A second run trains nothing and writes byte-identical tables (the first run may be nbdev_test's)."
    if len(tables()) < len(TABLES): reproduce()
    before = tables()
    assert sorted(before) == sorted(TABLES)
    events = reproduce()
    assert [e for e in events if e['event'] == 'trained'] == []
    assert sum(e['event'] == 'reused' for e in events) >= 20
    assert tables() == before
    for f in FIGURES:
        for ext in ('png', 'pdf'): assert (ROOT/'figures'/f'{f}.{ext}').stat().st_size > 1000, f
    for t in TABLES: assert (ROOT/'figures'/t).with_suffix('.md').is_file()


def test_tables_agree_with_the_committed_ones():
    """The result tables in figures/ (in CI: what its from-scratch `make study` just wrote) are the committed ones:
    byte for byte on a machine with the committed fingerprint, within each table's measured cross-machine tolerance elsewhere."""
    from dolos.agreement import ISA_SPREAD, MACHINE_FILE, check_agreement, committed_file, compare_tables, machine_fingerprint, tolerance
    committed = partial(committed_file, root=ROOT)
    if len(tables()) < len(TABLES): reproduce()
    same = json.loads(committed(MACHINE_FILE)) == machine_fingerprint()
    tol = tolerance(pd.read_csv(io.BytesIO(committed(ISA_SPREAD))))
    rep = compare_tables(ROOT/'figures', committed)
    print(f'same machine: {same}\n' + rep.assign(tolerance=rep.table.map(tol)).to_string(index=False))
    check_agreement(rep, same, tol)


def test_patches_setup_c_localises_toy_fakes(tmp_path):
    """Patches trained with masks localises the toy RePaint-P2 test fakes, and 04's floors table holds this very number.

    Whether it meets its learning floor (dolos.floors) is asserted by notebook 04 itself; here the model is only
    required to have learned to rank the inpainted pixels (pixel AUC) and to mark some of them at tau = 0.5."""
    import pandas as pd
    import torch
    from dolos.study import Study
    from dolos.profiles import TOY_THREADS
    before = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        s = Study('04_main_experiments', 'toy', out=tmp_path, log=None)
        assert torch.get_num_threads() == TOY_THREADS   # the toy study's numbers depend on the thread count: it fixes it
    finally: torch.set_num_threads(before)
    res, per_image = s.evaluate(s.train(s.config('patches', 'C')), 'celebahq-repaint-p2')
    assert res['n_images'] == 48 and len(per_image) == 48
    assert res['iou'] >= 20 and res['pixel_auc'] >= 90, (res['iou'], res['pixel_auc'])
    floors = pd.read_csv(ROOT/'figures'/'04_main_experiments'/'floors.csv')
    row = floors[(floors.row == 'C patches') & (floors.metric == 'iou')]
    assert abs(float(row.value.iloc[0]) - res['iou']) < 0.01, (row, res['iou'])


def test_bare_papermill_and_unknown_values(tmp_path):
    "`papermill nbs/05_cross_dataset.ipynb out.ipynb` runs from the root; a bad value stops the notebook at once, listing the valid ones."
    r = subprocess.run([str(BIN/'papermill'), 'nbs/05_cross_dataset.ipynb', str(tmp_path/'out.ipynb')], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    for nb, param, value, valid in (('05_cross_dataset', 'profile', 'papr', 'valid: paper, toy'),
                                    ('04_main_experiments', 'methods', '["patches", "gradcm"]', 'valid: attention, gradcam, patches'),
                                    ('06_cross_generator', 'generators', '["celebahq-lamma"]', 'valid names: celebahq-real')):
        r = subprocess.run([str(BIN/'papermill'), f'nbs/{nb}.ipynb', str(tmp_path/'bad.ipynb'), '-y', f'{param}: {value}'],
                           cwd=ROOT, capture_output=True, text=True)
        assert r.returncode != 0 and valid in r.stderr, (nb, r.stderr[-2000:])
        out = json.loads((tmp_path/'bad.ipynb').read_text())
        ran = [c for c in out['cells'] if c['cell_type'] == 'code' and c.get('execution_count')]
        assert len(ran) <= 3, f'{nb}: {len(ran)} cells ran before the error'   # parameters, injected parameters, the checks


def test_paper_profiles_hold_the_papers_settings():
    "nbs/params/*.yaml spell out the paper rows of dolos.profiles.HPARAMS for every method they train; they cannot drift from them."
    from dolos.profiles import HPARAMS, study_hparams
    for f in sorted((ROOT/'nbs'/'params').glob('*.yaml')):
        p = yaml.safe_load(f.read_text())
        assert p['profile'] == 'paper' and (p.get('hparams') or f.stem == '09_findings'), f   # 09 trains nothing
        for key, hp in (p.get('hparams') or {}).items():
            method, sup = key.split('/')
            row = HPARAMS[('paper', method, sup)]
            assert hp['size'] == row['size'] and hp['bs'] == row['bs'] and hp['lr'] == row['lr'] and hp['epoch_len'] == 500, (f, key)
            if 'epochs' in hp: assert hp['epochs'] == row['epochs'], (f, key)
            assert study_hparams('paper', method, sup, overrides=p['hparams']) == study_hparams('paper', method, sup), (f, key)


def test_result_cells_show_the_committed_figures():
    "The tables and figures on the pages of 04-09 are the committed files of figures/, filled in by tools/readme.py."
    sys.path.insert(0, str(ROOT/'tools'))
    import readme
    nbs = readme.result_notebooks()
    assert [p.stem for p in nbs] == ['04_main_experiments', '05_cross_dataset', '06_cross_generator', '07_unseen_datasets', '08_robustness',
                                     '09_findings', 'index']
    for p in nbs:   # (a from-scratch run, as CI's, records its own machine's cost in figures/reproduce.md)
        assert readme.fill_results(p, skip={'figures/reproduce.md'}) is None, f'{p.name}: result cells differ from figures/: run python tools/readme.py'
    shown = {m.group(1) for p in nbs for m in readme.MARKER.finditer(p.read_text())}
    assert SHOWN == shown, shown ^ SHOWN
