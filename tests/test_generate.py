"""`dolos_generate` across processes, threads and kills: the files must be byte-identical to one uninterrupted process;
every parameter is checked before any work."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from dolos.data import write_example_tree
from dolos.fakesets import dolos_generate_cli

JOB = Path(__file__).parent/'gen_job.py'
BIN = Path(sys.executable).parent
# no OMP_NUM_THREADS: torch would use every core here; the files must not depend on that (--threads fixes it)
ENV = {**{k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}, 'DOLOS_DEVICE': 'cpu'}

@pytest.fixture(scope='module')
def root(tmp_path_factory): return write_example_tree(tmp_path_factory.mktemp('data')/'data', n=6, size=32)

def args(root, out):
    return ['test-slow-harmonic', '--root', str(root), '--out', str(out), '--batch-size', '2', '--quiet',
            '--masks-from', str(root/'celebahq'/'fake'/'repaint-p2'), '--arg', 'noise=1.0']

def files(d): return {str(p.relative_to(d)): p.read_bytes() for p in sorted(Path(d).rglob('*.png'))}
def log_ranks(out): return {json.loads(l)['rank'] for l in (Path(out)/'generation.log').read_text().splitlines()}

@pytest.fixture(scope='module')
def reference(root, tmp_path_factory):
    out = tmp_path_factory.mktemp('ref')/'set'
    subprocess.run([sys.executable, str(JOB), *args(root, out)], check=True, env=ENV, timeout=300)
    ref = files(out)
    assert len(ref) == 2 * 18, sorted(ref)   # 18 images and 18 masks (6 per split)
    return ref

def test_two_processes_equal_one(root, reference, tmp_path):
    out = tmp_path/'set'
    r = subprocess.run([str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                        '--mixed_precision', 'no', '--dynamo_backend', 'no', str(JOB), *args(root, out)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert files(out) == reference
    assert log_ranks(out) == {0, 1}   # both processes did work

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

# --- the documented CPU launch lines, with a generator whose float sums depend on the thread count ---------------------
# toy P2 (5 steps): one process at 1 thread and at 2 threads differ in 2 of these 6 images by one level
P2 = ['p2', '--splits', 'train', '--count', 'train=6', '--batch-size', '2', '--device', 'cpu', '--quiet',
      '--arg', 'weights=toy-celebahq', '--arg', 'steps=5', '--arg', 'variance=fixed_small']

def dolos_generate(*a, launch=(), env=ENV):
    return subprocess.run([*launch, str(BIN/'dolos_generate'), *a], capture_output=True, text=True, env=env, timeout=300)

@pytest.fixture(scope='module')
def p2_one(root, tmp_path_factory):
    "One plain process (torch's default thread count here: every core), the default --threads 1."
    out = tmp_path_factory.mktemp('p2')/'one'
    r = dolos_generate(*P2, '--root', str(root), '--out', str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(files(out)) == 6 and json.loads((out/'generation.json').read_text())['threads'] == 1
    return files(out)

def test_documented_cpu_launch(root, p2_one, tmp_path):
    "`accelerate launch --multi_gpu --num_processes 2 $(which dolos_generate) ... --device cpu`: two ranks, one process's bytes."
    out = tmp_path/'set'
    r = dolos_generate(*P2, '--root', str(root), '--out', str(out),
                       launch=[str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2'])
    assert r.returncode == 0, r.stderr[-3000:]
    assert log_ranks(out) == {0, 1}
    assert files(out) == p2_one

def test_torchrun_cpu_launch(root, p2_one, tmp_path):
    out = tmp_path/'set'
    r = dolos_generate(*P2, '--root', str(root), '--out', str(out), launch=[str(BIN/'torchrun'), '--nproc_per_node', '2'])
    assert r.returncode == 0, r.stderr[-3000:]
    assert log_ranks(out) == {0, 1}
    assert files(out) == p2_one

def test_fixed_threads_any_processes(root, tmp_path):
    "--threads 2: one process equals two processes (each with 2 threads, whatever OMP_NUM_THREADS the launcher set)."
    one, two = tmp_path/'one', tmp_path/'two'
    r1 = dolos_generate(*P2, '--threads', '2', '--root', str(root), '--out', str(one), env={**ENV, 'OMP_NUM_THREADS': '1'})
    r2 = dolos_generate(*P2, '--threads', '2', '--root', str(root), '--out', str(two), launch=[str(BIN/'torchrun'), '--nproc_per_node', '2'])
    assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr + r2.stderr)[-3000:]
    assert {json.loads(l)['threads'] for l in (two/'generation.log').read_text().splitlines()} == {2}
    assert files(one) == files(two) and len(files(one)) == 6

def test_cpu_flag_launch_is_refused(root, tmp_path):
    "`accelerate launch --cpu --num_processes 2` starts one process: it must say so, not run everything alone."
    out = tmp_path/'set'
    r = dolos_generate(*P2, '--root', str(root), '--out', str(out),
                       launch=[str(BIN/'accelerate'), 'launch', '--cpu', '--num_processes', '2'])
    assert r.returncode != 0
    assert 'dolos_generate: error:' in r.stderr and 'started this one alone' in r.stderr and '--multi_gpu' in r.stderr, r.stderr[-3000:]
    assert not out.exists()

@pytest.mark.parametrize('env', [{'WORLD_SIZE': '2'}, {'WORLD_SIZE': '2', 'RANK': '5'}, {'LOCAL_RANK': '0'}])
def test_inconsistent_launch_env_is_refused(root, tmp_path, env):
    r = dolos_generate(*P2, '--root', str(root), '--out', str(tmp_path/'set'), env={**ENV, **env})
    assert r.returncode != 0 and r.stderr.startswith('dolos_generate: error:') and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert not (tmp_path/'set').exists()

# --- every parameter is checked before any work ---------------------------------------------------------------------
HARM = lambda root: ['harmonic', '--root', str(root), '--masks-from', str(root/'celebahq'/'fake'/'repaint-p2'), '--quiet']

BAD = {   # case: (extra arguments, what the message must contain); {root}, {file}, {tmp} are filled in
    'batch size 0': (['--batch-size', '0'], '--batch-size 0: must be an integer in [1, '),
    'batch size < 0': (['--batch-size', '-3'], '--batch-size -3'),
    'batch size absurd': (['--batch-size', '100000000'], '--batch-size 100000000'),
    'threads 0': (['--threads', '0'], '--threads 0: must be an integer in [1, '),
    'workers -1': (['--workers', '-1'], '--workers -1: must be an integer in [1, '),
    'max batches 0': (['--max-batches', '0'], '--max-batches 0'),
    'seed < 0': (['--seed', '-1'], '--seed -1'),
    'mask seed < 0': (['--mask-seed', '-1'], '--mask-seed -1'),
    'count < 0': (['--count', 'train=-2'], '--count'),
    'count absurd': (['--count', 'train=100000000000'], '--count train 100000000000'),
    'count split not generated': (['--splits', 'train', '--count', 'test=2'], "split 'test' is not among --splits"),
    'unknown split': (['--splits', 'train,dev'], "--splits 'train,dev'"),
    'empty splits': (['--splits', ''], '--splits'),
    'device nosuch': (['--device', 'nosuch'], "--device 'nosuch': not a device name"),
    'device absent': (['--device', 'cuda:7'], "--device cuda:7"),
    'unknown generator arg': (['--arg', 'nosuch=1'], "--arg: harmonic has no argument(s) ['nosuch']"),
    'malformed generator arg': (['--arg', 'noise'], "--arg 'noise': expected key=value"),
    'bad generator arg value': (['--arg', 'omega=5'], 'omega'),
    'out is a file': (['--out', '{file}'], '--out {file}: must be a folder, but this is a file'),
    'out under a file': (['--out', '{file}/sub/set'], 'cannot be created, a parent is not a folder'),
    'root is a file': (['--root', '{file}'], '--root'),
    'root missing': (['--root', '{tmp}/nowhere'], '--root'),
    'source missing': (['--source', 'nosuch'], "{root}/nosuch/real/train: source folder of split 'train' (--source"),
    'source with a slash': (['--source', 'a/b'], "--source 'a/b': expected a plain folder name"),
    'folder with a slash': (['--folder', '../x'], "--folder '../x'"),
    'masks-from missing': (['--masks-from', '{tmp}/nowhere'], '--masks-from'),
    'annotations missing': (['--masks-from', None, '--annotations', '{tmp}/nowhere'], '--annotations'),
}

def fill(a, root, file, tmp):
    return [None if x is None else x.format(root=root, file=file, tmp=tmp) for x in a]

@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_parameter(case, root, tmp_path, capsys):
    extra, want = BAD[case]
    file = tmp_path/'a-file'; file.write_text('x')
    want = want.format(root=root, file=file, tmp=tmp_path)
    argv = HARM(root) + ['--out', str(tmp_path/'set')] + fill(extra, root, file, tmp_path)
    if None in argv:   # drop the option before None with its value: here, --masks-from
        k = argv.index('--masks-from'); del argv[k:k + 2]; argv.remove(None)
    with pytest.raises(SystemExit) as e: dolos_generate_cli(argv)
    msg = str(e.value.code) if not isinstance(e.value.code, int) else capsys.readouterr().err
    assert e.value.code != 0 and 'dolos_generate: error:' in msg and want in msg, msg
    assert not (tmp_path/'set').exists()   # nothing was written

def test_bad_parameter_stderr_and_status(root, tmp_path):
    "The message reaches stderr as one `dolos_generate: error:` line, exit status 1, no traceback."
    r = dolos_generate(*HARM(root), '--out', str(tmp_path/'set'), '--workers', '-1')
    assert r.returncode == 1 and r.stderr.strip().startswith('dolos_generate: error: --workers -1') and 'Traceback' not in r.stderr, r.stderr
    r = dolos_generate('toy', '--root', str(root), '--count', 'train=2')
    assert r.returncode == 1 and '--count: not used by `dolos_generate toy`' in r.stderr, r.stderr
