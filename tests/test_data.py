"""Tests of the `dolos_data` console script (dolos.data:dolos_data_cli) on a tiny DOLOS-layout tree."""
import shutil, subprocess

import pytest

from conftest import console_command
from dolos.data import DATASETS, dolos_data_cli, write_example_tree


def _cli(): return console_command('dolos_data')


def run(*args):
    "Run the console script in a fresh process (what a user runs)."
    return subprocess.run(_cli() + list(args), capture_output=True, text=True, timeout=300)


def run_here(capsys, *args):
    "Call the same entry point in this process (no interpreter start-up: for the finer cases)."
    rc = dolos_data_cli(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out.out, out.err)


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return write_example_tree(tmp_path_factory.mktemp('dolos')/'data', n=2, size=16)


@pytest.fixture
def damaged(tree, tmp_path):
    root = tmp_path/'data'
    shutil.copytree(tree, root)
    return root


def test_list_prints_every_catalog_dataset():
    r = run('list')
    assert r.returncode == 0, r.stderr
    for name in DATASETS: assert name in r.stdout
    assert 'celebahq/fake/lama/{images,masks}/{split}/<name>.png' in r.stdout


def test_verify_passes_on_a_good_tree(tree):
    r = run('verify', '--root', str(tree))
    assert r.returncode == 0, r.stdout + r.stderr
    assert '0 problem(s)' in r.stdout
    assert 'celebahq-pluralistic' in r.stdout and 'coco-glide' in r.stdout


def test_verify_one_dataset(tree, capsys):
    r = run_here(capsys, 'verify', '--root', str(tree), '--dataset', 'three-but-lama', '--split', 'test')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'celebahq-repaint-p2-9k' in r.stdout and 'celebahq-lama ' not in r.stdout


def test_verify_names_a_truncated_image(damaged):
    img = damaged/'celebahq/fake/ldm/images/valid/00001.png'
    data = img.read_bytes(); img.write_bytes(data[:len(data)//2])
    r = run('verify', '--root', str(damaged))
    assert r.returncode == 1
    assert f'{img}: unreadable or truncated image' in r.stdout


def test_verify_names_a_deleted_mask(damaged):
    (damaged/'celebahq/fake/repaint-p2/masks/train/00000.png').unlink()
    r = run('verify', '--root', str(damaged))
    assert r.returncode == 1
    assert f"{damaged/'celebahq/fake/repaint-p2/images/train/00000.png'}: missing mask" in r.stdout


def test_verify_lists_every_problem(damaged, capsys):
    (damaged/'ffhq/fake/repaint-p2/masks/test/00000.png').unlink()
    (damaged/'coco-glide/mask/dog_1037_mask.png').unlink()
    r = run_here(capsys, 'verify', '--root', str(damaged))
    assert r.returncode == 1
    assert '2 problem(s)' in r.stdout
    assert 'ffhq/fake/repaint-p2/images/test/00000.png: missing mask' in r.stdout
    assert 'coco-glide/mask/dog_1037_mask.png: missing mask' in r.stdout


def test_verify_missing_root_is_a_clear_error(tmp_path):
    r = run('verify', '--root', str(tmp_path/'nowhere'))
    assert r.returncode == 2
    assert 'does not exist' in r.stderr and 'nowhere' in r.stderr


def test_verify_unknown_dataset_lists_valid_names(tree, capsys):
    r = run_here(capsys, 'verify', '--root', str(tree), '--dataset', 'celebahq-lamma')
    assert r.returncode == 2
    assert 'celebahq-lama' in r.stderr and 'three-but-pluralistic' in r.stderr


def test_verify_a_csv_dataset(tree, tmp_path, capsys):
    csv = tmp_path/'mine.csv'
    csv.write_text(f"image,mask,label\n{tree/'celebahq/fake/lama/images/test/00000.png'},"
                   f"{tree/'celebahq/fake/lama/masks/test/00000.png'},1\n"
                   f"{tree/'celebahq/real/test/00000.png'},,0\n")
    r = run_here(capsys, 'verify', '--root', str(tree), '--dataset', str(csv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert '      2       1' in r.stdout   # two images, one mask
