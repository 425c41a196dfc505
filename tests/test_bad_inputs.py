"""Bad input, class by class: every command refuses it by name before any work, or handles it right.

The classes (the README's bad-input table lists what each command does with them):
- masks in another value convention, and lossy (JPEG) masks: refused unless the convention is stated;
- parameters out of range (batch size, input size, workers, learning rate, device, ...): refused at the start;
- paths that are not what they should be (a folder, a symlink loop, a named pipe, a file below a file);
- output places that cannot be written: refused before the work, not after;
- file names that are not valid UTF-8: kept, written as \\xNN in CSV files, and a rerun resumes;
- huge images: memory bounded (the overlay no longer makes full-size float64 copies);
- broken or mismatching checkpoints: a message naming the file, never a traceback.
The commands are called in-process through their entry points (the same functions the console scripts run).
"""
import csv, json, os, tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dolos.core import DataError, fake_to_dolos, read_mask, save_image, save_mask
from dolos.data import dolos_data_cli
from dolos.detectors.core import build_detector, save_detector
from dolos.evaluate import dolos_evaluate_cli, write_example_predictions
from dolos.predict import dolos_predict_cli, overlay
from dolos.train import dolos_train_cli

RAW = os.fsdecode(b'caf\xe9')      # a Latin-1 file name stem: not valid UTF-8


def run(cli, args, capsys):
    "Exit status, stdout and stderr of one in-process command."
    rc = cli([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope='module')
def example(tmp_path_factory):
    "A dolos_predict-style folder of six fakes with their DOLOS masks, and its reals."
    tmp = tmp_path_factory.mktemp('bad')
    pred, masks, reals = write_example_predictions(tmp)
    return dict(tmp=tmp, pred=pred, masks=masks, reals=reals)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    p = tmp_path_factory.mktemp('ckpt')/'patches.safetensors'
    save_detector(build_detector('patches', 'weak', seed=0), p)
    return p


# ---------------------------------------------------------------- mask conventions

def rewrite_masks(src:Path, dst:Path, convert, suffix='.png', **save):
    "Copy the DOLOS masks of `src` into `dst` in another convention: `convert(fake bool) -> uint8 array`."
    dst.mkdir(parents=True, exist_ok=True)
    for m in sorted(src.glob('*.png')): Image.fromarray(convert(read_mask(m))).save(dst/f'{m.stem}{suffix}', **save)
    return dst


CONVENTIONS = {   # name -> (writer of a fake mask, the --mask-kind that reads it back)
    '0/1, 1 = fake':    (lambda f: f.astype(np.uint8), 'nonzero'),
    '0/254, 254 = fake': (lambda f: (f * 254).astype(np.uint8), 'nonzero'),
    '0/1/2 labels':     (lambda f: (f * (1 + np.arange(f.shape[1]) % 2)[None]).astype(np.uint8), 'nonzero'),
    '0/1, 0 = fake':    (lambda f: (~f).astype(np.uint8), 'zero'),
}


@pytest.mark.parametrize('name', CONVENTIONS)
def test_evaluate_refuses_another_convention_unless_stated(example, name, capsys):
    write, kind = CONVENTIONS[name]
    masks = rewrite_masks(example['masks'], example['tmp']/name.replace('/', '-').replace(' ', ''), write)
    rc, _, err = run(dolos_evaluate_cli, ['--pred', example['pred'], '--masks', masks, '--device', 'cpu'], capsys)
    assert rc == 2 and 'f000.png: mask values' in err and "do not fit the 'dolos' convention" in err and '--mask-kind' in err, err
    rc, out, _ = run(dolos_evaluate_cli, ['--pred', example['pred'], '--masks', masks, '--mask-kind', kind, '--device', 'cpu',
                                          '--out', example['tmp']/f'{kind}.json'], capsys)
    rc0, out0, _ = run(dolos_evaluate_cli, ['--pred', example['pred'], '--masks', example['masks'], '--device', 'cpu',
                                            '--out', example['tmp']/'dolos.json'], capsys)
    assert rc == rc0 == 0
    assert json.loads(out)['iou'] == json.loads(out0)['iou']           # stated, the same masks score the same


def test_evaluate_refuses_jpeg_masks_unless_binarised(example, capsys):
    masks = rewrite_masks(example['masks'], example['tmp']/'jpeg', lambda f: np.repeat(fake_to_dolos(f)[..., :1], 3, 2), '.jpg', quality=95)
    rc, _, err = run(dolos_evaluate_cli, ['--pred', example['pred'], '--masks', masks, '--device', 'cpu'], capsys)
    assert rc == 2 and 'f000.jpg: a JPEG mask is lossy' in err, err
    rc, out, _ = run(dolos_evaluate_cli, ['--pred', example['pred'], '--masks', masks, '--mask-kind', 'dolos-grey', '--device', 'cpu',
                                          '--out', example['tmp']/'grey.json'], capsys)
    assert rc == 0 and 0 < json.loads(out)['iou'] <= 100


def toy_folder(root:Path, convert=lambda f: fake_to_dolos(f), n=4, size=32):
    "A folder dataset <root>/images|masks/<split>/ with masks written by `convert(fake bool)`."
    rng = np.random.default_rng(0)
    for split in ('train', 'valid'):
        for i in range(n):
            save_image(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), root/'images'/split/f'{i}.png')
            fake = np.zeros((size, size), bool); fake[4 + i:20, 8:24] = True
            (root/'masks'/split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(convert(fake)).save(root/'masks'/split/f'{i}.png')
    return root


def test_train_refuses_another_convention_unless_stated(tmp_path, capsys):
    data = toy_folder(tmp_path/'m01', lambda f: f.astype(np.uint8))
    args = ['--method', 'patches', '--supervision', 'full', '--train-datasets', data, '--size', 32, '--bs', 2,
            '--epochs', 1, '--epoch-len', 1, '--workers', 0, '--quiet', '--out', tmp_path/'run']
    rc, _, err = run(dolos_train_cli, args, capsys)
    assert rc == 2 and 'mask values 0, 1 do not fit' in err, err
    rc, out, err = run(dolos_train_cli, args + ['--mask-kind', 'nonzero'], capsys)
    assert rc == 0, err
    assert json.loads((tmp_path/'run'/'config.json').read_text())['mask_kind'] == 'nonzero'


# ---------------------------------------------------------------- parameters, checked before any work

PREDICT_BAD = [(['--bs', 0], '--bs 0: must be an integer >= 1'), (['--bs', -1], '--bs -1'),
               (['--size', 0], '--size 0: must be an integer in [16, 4096]'), (['--size', 1], '--size 1'),
               (['--size', -3], '--size -3'), (['--size', 100000], '--size 100000'),
               (['--workers', -1], '--workers -1'), (['--device', 'nosuch'], "--device 'nosuch': not a device name")]


@pytest.mark.parametrize('extra,want', PREDICT_BAD, ids=[' '.join(map(str, a)) for a, _ in PREDICT_BAD])
def test_predict_parameters(example, checkpoint, tmp_path, extra, want, capsys):
    img = tmp_path/'in'; save_image(np.zeros((20, 20, 3), np.uint8), img/'a.png')
    rc, _, err = run(dolos_predict_cli, ['--checkpoint', checkpoint, img, '--out', tmp_path/'out', '--quiet', *extra], capsys)
    assert rc == 2 and want in err, err
    assert not (tmp_path/'out').exists()                            # refused before any work


def test_predict_places(checkpoint, tmp_path, capsys):
    img = tmp_path/'in'; save_image(np.zeros((20, 20, 3), np.uint8), img/'a.png')
    (tmp_path/'file').write_text('x'); (tmp_path/'loop').symlink_to(tmp_path/'loop'); os.mkfifo(tmp_path/'pipe')
    (tmp_path/'broken.safetensors').write_bytes(b'not a checkpoint')
    cases = [(['--out', tmp_path/'file'], 'must be a folder, but this is a file'),
             (['--out', tmp_path/'file'/'sub'], 'cannot be created, a parent is not a folder'),
             (['--checkpoint', tmp_path], 'expected checkpoint (--checkpoint), but this is a directory'),
             (['--checkpoint', tmp_path/'loop'], 'but this is a symlink loop'),
             (['--checkpoint', tmp_path/'none.safetensors'], 'none.safetensors: checkpoint (--checkpoint) not found'),
             (['--checkpoint', tmp_path/'broken.safetensors'], 'broken.safetensors: not a readable safetensors detector checkpoint'),
             ([tmp_path/'pipe'], 'pipe: expected an image file or a folder, but this is a named pipe')]
    for extra, want in cases:
        opts = {'--checkpoint': checkpoint, '--out': tmp_path/'out', **dict(zip(extra[::2], extra[1::2]))}
        inputs = extra if len(extra) == 1 else [img]
        rc, _, err = run(dolos_predict_cli, [x for kv in opts.items() for x in kv] + inputs + ['--quiet'], capsys)
        assert rc == 2 and want in err, (extra, err)


def test_predict_checkpoint_with_broken_metadata(tmp_path, capsys):
    from safetensors.torch import save_file
    det = build_detector('patches', 'weak', seed=0)
    state = {k: v.contiguous() for k, v in det.state_dict().items()}
    save_file(state, str(tmp_path/'bad.safetensors'), metadata={'dolos_config': '{"method": '})
    img = tmp_path/'in'; save_image(np.zeros((20, 20, 3), np.uint8), img/'a.png')
    rc, _, err = run(dolos_predict_cli, ['--checkpoint', tmp_path/'bad.safetensors', img, '--out', tmp_path/'out', '--quiet'], capsys)
    assert rc == 2 and 'bad.safetensors: broken detector config' in err, err
    save_file(state, str(tmp_path/'meta.safetensors'), metadata={'dolos_config': json.dumps(det.config()), 'dolos_meta': '{"size": "x"}'})
    rc, _, err = run(dolos_predict_cli, ['--checkpoint', tmp_path/'meta.safetensors', img, '--out', tmp_path/'out', '--quiet'], capsys)
    assert rc == 2 and 'meta.safetensors: bad training size recorded' in err, err


TRAIN_BAD = [(['--bs', 0], '--bs 0: must be an integer >= 1'), (['--lr', 'nan'], '--lr nan'), (['--lr', 0], '--lr 0.0'),
             (['--lr', 'inf'], '--lr inf'), (['--size', 1], '--size 1: must be an integer in [16, 4096]'),
             (['--max-valid', 0], '--max-valid 0: must be an integer >= 1'), (['--epochs', 0], '--epochs 0'),
             (['--epoch-len', -1], '--epoch-len -1'), (['--workers', -1], '--workers -1'), (['--seed', -1], '--seed -1')]


@pytest.mark.parametrize('extra,want', TRAIN_BAD, ids=[' '.join(map(str, a)) for a, _ in TRAIN_BAD])
def test_train_parameters(tmp_path, extra, want, capsys):
    data = toy_folder(tmp_path/'d')
    rc, _, err = run(dolos_train_cli, ['--method', 'patches', '--supervision', 'full', '--train-datasets', data,
                                       '--out', tmp_path/'run', '--quiet', *extra], capsys)
    assert rc == 2 and want in err, err
    assert not (tmp_path/'run').exists()


def test_train_places(tmp_path, capsys):
    data = toy_folder(tmp_path/'d'); (tmp_path/'file').write_text('x')
    base = ['--method', 'patches', '--supervision', 'full', '--train-datasets', data, '--quiet']
    for extra, want in [(['--out', tmp_path/'file'], 'must be a folder, but this is a file'),
                        (['--out', tmp_path/'file'/'run'], 'a parent is not a folder'),
                        (['--out', tmp_path/'run', '--init-weights', tmp_path], 'expected initial weights file, but this is a directory')]:
        rc, _, err = run(dolos_train_cli, base + extra, capsys)
        assert rc == 2 and want in err, (extra, err)


def test_verify_parameters_and_paths(tmp_path, capsys):
    rc, _, err = run(dolos_data_cli, ['verify', '--root', tmp_path, '--workers', 0], capsys)
    assert rc == 2 and '--workers 0' in err
    imgs = tmp_path/'imgs'; save_image(np.zeros((8, 8, 3), np.uint8), imgs/'ok.png')
    (imgs/'gone.png').symlink_to(imgs/'nowhere.png'); os.mkfifo(imgs/'pipe.png')
    rc, out, _ = run(dolos_data_cli, ['verify', '--dataset', imgs], capsys)
    assert rc == 1 and 'gone.png: listed as an image, but this is a broken symlink' in out and 'pipe.png: listed as an image, but this is a named pipe' in out, out


# ---------------------------------------------------------------- file names that are not UTF-8

def test_predict_keeps_non_utf8_names_and_resumes(checkpoint, tmp_path, capsys):
    img = tmp_path/'in'; img.mkdir()
    save_image(np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8), img/f'{RAW}.png')
    (img/os.fsdecode(b'b\xe4d.png')).write_bytes(b'garbage')          # a corrupt file, also with a Latin-1 name
    out = tmp_path/'out'
    rc, stdout, err = run(dolos_predict_cli, ['--checkpoint', checkpoint, img, '--out', out, '--size', 32, '--quiet'], capsys)
    assert rc == 1 and '1 predicted' in stdout and 'b\\xe4d.png' in err, (stdout, err)
    scores = (out/'scores.csv').read_bytes().decode('utf-8')          # valid UTF-8 ...
    assert 'caf\\xe9.png' in scores                                    # ... with the odd byte written as \xNN
    assert 'b\\xe4d.png' in (out/'errors.csv').read_bytes().decode('utf-8')
    assert (out/'maps'/f'{RAW}.npy').is_file()                         # the map keeps the raw name on disk
    rc, stdout, _ = run(dolos_predict_cli, ['--checkpoint', checkpoint, img, '--out', out, '--size', 32, '--quiet'], capsys)
    assert '0 predicted, 1 already done, 1 failed' in stdout, stdout  # a rerun resumes: nothing done twice
    masks = tmp_path/'masks'; save_mask(torch.zeros(24, 24), masks/f'{RAW}.png')
    rc, stdout, err = run(dolos_evaluate_cli, ['--pred', out, '--masks', masks, '--device', 'cpu'], capsys)
    assert rc == 0, err
    assert 'caf\\xe9' in (out/'metrics_per_image.csv').read_bytes().decode('utf-8')


# ---------------------------------------------------------------- huge images

def test_overlay_memory_is_a_few_bytes_per_pixel():
    img = np.zeros((1500, 1500, 3), np.uint8); m = np.random.default_rng(0).random((37, 37)).astype(np.float32)
    overlay(img, m[:4, :4])                                            # warm-up: matplotlib's import and colormap tables
    tracemalloc.start()
    try: ov = overlay(img, m)
    finally: peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert ov.shape == img.shape
    assert peak < 16 * img.shape[0] * img.shape[1], peak / (img.shape[0] * img.shape[1])   # was ~100 B/px (float64 copies)


def test_predict_caps_overlays_of_huge_images(checkpoint, tmp_path, capsys):
    img = tmp_path/'in'; save_image(np.zeros((30, 2100, 3), np.uint8), img/'wide.png')
    rc, _, err = run(dolos_predict_cli, ['--checkpoint', checkpoint, img, '--out', tmp_path/'out', '--size', 32, '--quiet'], capsys)
    assert rc == 0, err
    with Image.open(tmp_path/'out'/'overlays'/'wide.png') as ov: assert ov.size == (2048, 29)


def test_generate_masks_from_another_convention(tmp_path):
    from dolos.data import write_example_tree
    from dolos.fakesets import dolos_generate_cli
    root = write_example_tree(tmp_path/'data', n=2, size=16)
    masks = root/'celebahq'/'fake'/'repaint-p2'
    for m in (masks/'masks'/'train').iterdir(): Image.fromarray(read_mask(m).astype(np.uint8)).save(m)   # 0/1, 1 = fake
    args = ['harmonic', '--root', str(root), '--masks-from', str(masks), '--splits', 'train', '--quiet', '--device', 'cpu']
    with pytest.raises(SystemExit) as e: dolos_generate_cli(args + ['--out', str(tmp_path/'a')])
    assert 'mask values 0, 1 do not fit' in str(e.value.code), e.value.code
    dolos_generate_cli(args + ['--out', str(tmp_path/'b'), '--mask-kind', 'nonzero'])
    assert json.loads((tmp_path/'b'/'generation.json').read_text())['masks']['kind'] == 'nonzero'
    assert len(list((tmp_path/'b'/'images'/'train').iterdir())) == 2
