"""The `dolos_toyworld` command line: same seed, byte-identical trees; another seed, other files."""
import hashlib, subprocess
from pathlib import Path

import pytest

from conftest import console_command

COUNTS = ['--train', '3', '--valid', '1', '--test', '2']


def _cli(): return console_command('dolos_toyworld')


def _build(root, seed, *extra):
    return subprocess.run(_cli() + ['--root', str(root), '--seed', str(seed), *COUNTS, *extra],
                          capture_output=True, text=True)


def _tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def worlds(tmp_path_factory):
    d = tmp_path_factory.mktemp('toy')
    out = {}
    for name, seed in (('a', 0), ('b', 0), ('c', 1)):
        r = _build(d/name, seed)
        assert r.returncode == 0, r.stderr
        out[name] = d/name
    return out


def test_same_seed_byte_identical(worlds):
    a, b = _tree(worlds['a']), _tree(worlds['b'])
    assert a == b
    names = set(a)
    assert 'toyworld.json' in names
    for src in ('celebahq', 'ffhq'):
        assert f'{src}/real/train/00000.png' in names and f'{src}/real/test/00005.png' in names
        assert f'{src}/annotations/0/00000_skin.png' in names
    assert sum(n.endswith('.png') and '/real/' in n for n in names) == 12


def test_other_seed_differs(worlds):
    a, c = _tree(worlds['a']), _tree(worlds['c'])
    images = [n for n in a if '/real/' in n]
    assert all(n in c for n in images)                 # same layout ...
    assert all(a[n] != c[n] for n in images)           # ... other pixels


def test_rerun_is_noop_and_mismatch_refused(worlds):
    before = _tree(worlds['a'])
    r = _build(worlds['a'], 0)
    assert r.returncode == 0 and '0 files written' in r.stdout
    assert _tree(worlds['a']) == before
    r = _build(worlds['a'], 5)
    assert r.returncode != 0 and 'seed' in r.stderr and '--force' in r.stderr
    assert _tree(worlds['a']) == before


def test_refuses_foreign_folder(tmp_path):
    (tmp_path/'celebahq').mkdir()
    r = _build(tmp_path, 0)
    assert r.returncode != 0 and 'not a toy world' in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ['celebahq']
