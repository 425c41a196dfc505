"""End-to-end tests of the `dolos_predict` command.

The main run goes through the installed console script in a subprocess, as a user runs it, and its
output folder is then read by `dolos_evaluate` (also a subprocess). The other cases call the same
entry point function in-process, which saves the ~10 s of imports a subprocess costs.
"""
import csv, json, shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_console
from dolos.core import save_mask
from dolos.detectors.core import build_detector, save_detector, xception_size
from dolos.predict import dolos_predict_cli

SIZE = 64                          # model input side: small, so everything runs in seconds on a CPU
SIZES = {'a.png': (48, 40), 'b.png': (64, 64), 'c.jpg': (30, 50)}   # (H, W) of the good images


def console(name, *args): return run_console(name, *args, timeout=600, DOLOS_DEVICE='cpu')


def read_csv(path):
    with open(path, newline='') as f: return list(csv.reader(f))


def make_images(d:Path)->Path:
    "Three good images of different sizes (two not square) and one corrupt PNG."
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (h, w) in SIZES.items(): Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(d/name)
    (d/'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)   # a PNG signature, then nothing readable
    return d


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "One `dolos_predict` run, through the console script, on a folder that holds one corrupt image."
    tmp = tmp_path_factory.mktemp('predict')
    ckpt = tmp/'patches.safetensors'
    save_detector(build_detector('patches', 'weak', seed=0), ckpt)
    images, out = make_images(tmp/'images'), tmp/'pred'
    r = console('dolos_predict', '--checkpoint', ckpt, images, '--out', out, '--size', SIZE, '--bs', 2, '--quiet')
    return dict(tmp=tmp, ckpt=ckpt, images=images, out=out, proc=r)


def test_corrupt_image_is_named_and_the_rest_completes(run):
    r, out = run['proc'], run['out']
    assert r.returncode == 1, r.stderr                      # something failed ...
    assert 'broken.png' in r.stderr and 'a.png' not in r.stderr
    assert '3 predicted, 0 already done, 1 failed' in r.stdout
    errors = read_csv(out/'errors.csv')                      # ... named in errors.csv too ...
    assert errors[0] == ['path', 'error'] and [Path(p).name for p, _ in errors[1:]] == ['broken.png']
    assert 'corrupt' in errors[1][1]
    assert sorted(p.name for p in (out/'maps').iterdir()) == ['a.npy', 'b.npy', 'c.npy']   # ... and the rest is done


def test_output_format(run):
    out, images = run['out'], run['images']
    # scores.csv: exactly the columns path,score; one row per readable image, in input (sorted) order
    rows = read_csv(out/'scores.csv')
    assert rows[0] == ['path', 'score']
    assert [Path(p) for p, _ in rows[1:]] == [images/n for n in SIZES]
    # maps: float32 (h, w) at the detector's native resolution (Patches: block2 grid), values in [0, 1]
    side = xception_size(SIZE, 'block2')
    for (_, score), name in zip(rows[1:], SIZES):
        m = np.load(out/'maps'/f'{Path(name).stem}.npy')
        assert m.dtype == np.float32 and m.shape == (side, side)
        assert 0 <= m.min() and m.max() <= 1
        np.testing.assert_allclose(m.mean(), float(score), rtol=1e-5)      # Patches score = mean of its map
    # overlays: an RGB PNG per image at the image's own size
    for name, (h, w) in SIZES.items():
        with Image.open(out/'overlays'/f'{Path(name).stem}.png') as ov: assert ov.size == (w, h) and ov.mode == 'RGB'
    assert sorted(p.name for p in (out/'overlays').iterdir()) == ['a.png', 'b.png', 'c.png']
    meta = json.loads((out/'run.json').read_text())
    assert meta['size'] == SIZE and meta['resample'] == 'lanczos' and meta['config']['method'] == 'patches'


def test_evaluate_reads_the_output(run, tmp_path):
    "dolos_evaluate takes the folder as it is: maps against masks, and scores of fakes vs reals for AP."
    masks, reals = tmp_path/'masks', tmp_path/'reals'
    for name, (h, w) in SIZES.items():
        fake = np.zeros((h, w), np.float32); fake[: h//2] = 1
        save_mask(fake, masks/f'{Path(name).stem}.png')
    good = [str(run['images']/n) for n in SIZES]
    assert dolos_predict_cli(['--checkpoint', str(run['ckpt']), *good, '--out', str(reals), '--size', str(SIZE), '--quiet']) == 0
    r = console('dolos_evaluate', '--pred', run['out'], '--masks', masks, '--reals', reals)
    assert r.returncode == 0, r.stderr
    res = json.dumps(json.loads(r.stdout))
    for k in ('iou', 'pbca', 'f1', 'mcc', 'pixel_auc', 'ap'): assert f'"{k}' in res, k


def test_resume_skips_finished_images(run, tmp_path, capsys):
    images, out = tmp_path/'images', tmp_path/'pred'
    shutil.copytree(run['images'], images)
    args = ['--checkpoint', str(run['ckpt']), str(images), '--out', str(out), '--size', str(SIZE), '--quiet']
    assert dolos_predict_cli(args) == 1
    mtime = (out/'maps'/'a.npy').stat().st_mtime_ns
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(images/'broken.png')     # the user fixes the bad file
    capsys.readouterr()
    assert dolos_predict_cli(args) == 0
    assert '1 predicted, 3 already done, 0 failed' in capsys.readouterr().out
    assert (out/'maps'/'a.npy').stat().st_mtime_ns == mtime                      # not recomputed
    assert len(read_csv(out/'scores.csv')) == 5 and read_csv(out/'errors.csv') == [['path', 'error']]
    # the same folder with another detector is refused, not mixed
    other = tmp_path/'other.safetensors'; save_detector(build_detector('patches', 'weak', seed=1), other)
    assert dolos_predict_cli(['--checkpoint', str(other), *args[2:]]) == 2
    assert 'another detector' in capsys.readouterr().err


def test_no_overlays_and_input_errors(run, tmp_path, capsys):
    ck, images = str(run['ckpt']), run['images']
    out = tmp_path/'pred'
    assert dolos_predict_cli(['--checkpoint', ck, str(images/'a.png'), str(images/'c.jpg'), '--out', str(out),
                              '--size', str(SIZE), '--no-overlays', '--quiet']) == 0
    assert not (out/'overlays').exists() and sorted(p.name for p in (out/'maps').iterdir()) == ['a.npy', 'c.npy']
    # two inputs with the same stem would overwrite each other's map: refused up front, both named
    other = tmp_path/'other'; other.mkdir(); shutil.copy(images/'a.png', other/'a.png')
    capsys.readouterr()
    assert dolos_predict_cli(['--checkpoint', ck, str(images), str(other), '--out', str(tmp_path/'p2'), '--quiet']) == 2
    err = capsys.readouterr().err
    assert str(images/'a.png') in err and str(other/'a.png') in err and not (tmp_path/'p2').exists()
    # a typo in an input; a missing checkpoint
    assert dolos_predict_cli(['--checkpoint', ck, str(tmp_path/'nope'), '--out', str(tmp_path/'p3'), '--quiet']) == 2
    assert 'nope: no such file or folder' in capsys.readouterr().err
    assert dolos_predict_cli(['--checkpoint', str(tmp_path/'none.safetensors'), str(images), '--out', str(tmp_path/'p3'), '--quiet']) == 2
    assert 'none.safetensors' in capsys.readouterr().err


def test_training_config_sets_the_input_size(run, tmp_path, capsys):
    "A checkpoint beside dolos_train's config.json is run at the size and filter it was trained with."
    ck = tmp_path/'run'/'best.safetensors'; ck.parent.mkdir()
    shutil.copy(run['ckpt'], ck)
    (ck.parent/'config.json').write_text(json.dumps(dict(method='patches', supervision='full', size=32, preprocessing='full')))
    out = tmp_path/'pred'
    assert dolos_predict_cli(['--checkpoint', str(ck), str(run['images']/'b.png'), '--out', str(out), '--quiet']) == 0
    meta = json.loads((out/'run.json').read_text())
    assert (meta['size'], meta['resample']) == (32, 'bilinear')
    assert np.load(out/'maps'/'b.npy').shape == (xception_size(32, 'block2'),) * 2
    assert 'records no input size' not in capsys.readouterr().err


def test_checkpoint_copied_elsewhere_keeps_its_training_size(run, tmp_path, capsys):
    "A dolos_train checkpoint records its input size and preprocessing itself: copied alone to another folder, it still predicts at that size."
    from dolos.data import write_example_tree
    from dolos.train import make_config, train
    root = write_example_tree(tmp_path/'data', n=2, size=32)
    res = train(make_config('patches', 'C', 'toy', size=40, bs=2, epochs=1, epoch_len=1, max_valid=2), tmp_path/'run', root=root, num_workers=0, quiet=True)
    ck = tmp_path/'elsewhere'/'model.safetensors'; ck.parent.mkdir()
    shutil.copy(res.best_path, ck)   # no config.json beside it
    out = tmp_path/'pred'
    assert dolos_predict_cli(['--checkpoint', str(ck), str(run['images']/'b.png'), '--out', str(out), '--quiet', '--no-overlays']) == 0
    meta = json.loads((out/'run.json').read_text())
    assert (meta['size'], meta['resample']) == (40, 'bilinear')
    assert np.load(out/'maps'/'b.npy').shape == (xception_size(40, 'block2'),) * 2
    assert 'records no input size' not in capsys.readouterr().err
