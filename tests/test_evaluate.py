"""End-to-end tests of the `dolos_evaluate` command (the console script, run as a user runs it)."""
import json

import numpy as np
import pytest

from conftest import run_console
from dolos.core import load_mask
from dolos.evaluate import pair_maps_masks, write_example_predictions
from dolos.metrics import reference_scores


def run(*args): return run_console('dolos_evaluate', *args, DOLOS_DEVICE='cpu')


@pytest.fixture()
def folders(tmp_path):
    return write_example_predictions(tmp_path, n=7, size=48, seed=3)


KEYS = ('iou', 'pbca', 'f1', 'mcc', 'pixel_auc', 'iou_sm', 'pbca_sm', 'oracle_iou', 'oracle_tau_iou',
        'iou_by_area', 'n_images', 'n_empty_union', 'n_auc_undefined', 'n_mcc_undefined', 'tau', 'units')


def test_cli_end_to_end(folders):
    pred, masks, reals = folders
    r = run('--pred', pred, '--masks', masks, '--reals', reals, '--tau', 0.5)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    for k in KEYS + ('ap', 'ap_2std', 'aps', 'ap_n', 'image_auc', 'n_real', 'real_fp_area', 'real_any_fake'): assert k in res, k
    assert res['units'] == 'percent' and res['tau'] == 0.5 and res['n_images'] == 7 and res['ap_n'] == 7
    assert json.loads((pred/'metrics.json').read_text()) == res           # also written beside the predictions
    assert (pred/'metrics_per_image.csv').is_file()
    # the paper's numbers equal the original per-image protocol on the same files
    ref = [reference_scores(np.load(mp), load_mask(mk).numpy()) for _, mp, mk, _ in pair_maps_masks(pred, masks)]
    assert res['iou'] == pytest.approx(100 * np.mean([x['iou'] for x in ref]), abs=1e-3)
    assert res['pbca'] == pytest.approx(100 * np.mean([x['pbca'] for x in ref]), abs=1e-3)


def test_cli_without_reals_has_no_ap(folders):
    pred, masks, _ = folders
    r = run('--pred', pred, '--masks', masks, '--no-extended')
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert 'ap' not in res and res['pixel_auc'] is None and res['iou'] is not None


def test_missing_mask_names_the_map(folders):
    pred, masks, _ = folders
    (masks/'f002.png').unlink()
    r = run('--pred', pred, '--masks', masks)
    assert r.returncode != 0 and 'f002.npy' in r.stderr, r.stderr


def test_missing_map_names_the_mask(folders):
    pred, masks, _ = folders
    (pred/'maps'/'f004.npy').unlink()
    r = run('--pred', pred, '--masks', masks)
    assert r.returncode != 0 and 'f004.png' in r.stderr, r.stderr


def test_bad_map_and_missing_scores_are_named(folders):
    pred, masks, reals = folders
    np.save(pred/'maps'/'f001.npy', np.zeros((2, 3, 4), np.float32))
    r = run('--pred', pred, '--masks', masks)
    assert r.returncode != 0 and 'f001.npy' in r.stderr, r.stderr
    np.save(pred/'maps'/'f001.npy', np.zeros((37, 37), np.float32))
    (reals/'scores.csv').unlink()
    r = run('--pred', pred, '--masks', masks, '--reals', reals)
    assert r.returncode != 0 and 'scores.csv' in r.stderr, r.stderr
