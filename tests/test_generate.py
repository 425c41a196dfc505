"`dolos_generate` across processes and kills: the files must be byte-identical to one uninterrupted process."
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from dolos.data import write_example_tree

JOB = Path(__file__).parent/'gen_job.py'
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'DOLOS_DEVICE': 'cpu'}

@pytest.fixture(scope='module')
def root(tmp_path_factory): return write_example_tree(tmp_path_factory.mktemp('data')/'data', n=6, size=32)

def args(root, out):
    return ['test-slow-harmonic', '--root', str(root), '--out', str(out), '--batch-size', '2', '--quiet',
            '--masks-from', str(root/'celebahq'/'fake'/'repaint-p2'), '--arg', 'noise=1.0']

def files(d): return {str(p.relative_to(d)): p.read_bytes() for p in sorted(Path(d).rglob('*.png'))}

@pytest.fixture(scope='module')
def reference(root, tmp_path_factory):
    out = tmp_path_factory.mktemp('ref')/'set'
    subprocess.run([sys.executable, str(JOB), *args(root, out)], check=True, env=ENV, timeout=300)
    ref = files(out)
    assert len(ref) == 2 * 18, sorted(ref)   # 18 images and 18 masks (6 per split)
    return ref

def test_two_processes_equal_one(root, reference, tmp_path):
    acc = Path(sys.executable).parent/'accelerate'
    out = tmp_path/'set'
    r = subprocess.run([str(acc), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                        '--mixed_precision', 'no', '--dynamo_backend', 'no', str(JOB), *args(root, out)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert files(out) == reference
    ranks = {line.split('"rank": ')[1].split(',')[0] for line in (out/'generation.log').read_text().splitlines()}
    assert ranks == {'0', '1'}   # both processes did work

def test_killed_run_resumes_to_identical_files(root, reference, tmp_path):
    out = tmp_path/'set'
    p = subprocess.Popen([sys.executable, str(JOB), *args(root, out)], env={**ENV, 'GEN_JOB_SLEEP': '0.5'})
    t0 = time.time()
    while not list(out.rglob('images/*/*.png')) and time.time() - t0 < 120: time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    done = len(list(out.rglob('images/*/*.png')))
    assert 0 < done < 18, done
    subprocess.run([sys.executable, str(JOB), *args(root, out)], check=True, env=ENV, timeout=300)
    assert files(out) == reference
    assert not list(out.rglob('*.tmp'))
