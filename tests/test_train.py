"Training: every method x setup end to end on tiny data, the command line, and 2-process data-parallel training (gloo, CPU)."
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from safetensors.torch import load_file

from dolos.data import write_example_tree
import dolos.train as T

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import dist_train_job as J   # registers the batch-norm-free `tiny-test` detector

@pytest.fixture(scope='module')
def root(tmp_path_factory): return write_example_tree(tmp_path_factory.mktemp('data')/'data', n=4, size=32)

# Every method x setup trains, predicts and evaluates end to end: tests/test_end_to_end.py.

def test_cli_help_and_bad_values(tmp_path):
    exe = Path(sys.executable).parent/'dolos_train'
    r = subprocess.run([str(exe), '--help'], capture_output=True, text=True)
    assert r.returncode == 0 and '--train-datasets' in r.stdout
    r = subprocess.run([str(exe), '--method', 'patches', '--setup', 'D', '--out', str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice: 'D'" in r.stderr and "'A', 'B', 'C'" in r.stderr

def test_two_process_training_equals_one_process(root, tmp_path):
    "accelerate launch, 2 CPU processes (gloo): a batch-norm-free model ends where 1 process with the same global batch ends."
    acc = Path(sys.executable).parent/'accelerate'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'DOLOS_DEVICE': 'cpu'}
    r = subprocess.run([str(acc), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
                        '--dynamo_backend', 'no', str(HERE/'dist_train_job.py'), str(root), str(tmp_path/'tiny2'), str(tmp_path/'patches2')],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    T.train(J.tiny_config(), tmp_path/'tiny1', root=root, num_workers=0, quiet=True)
    one, two = load_file(tmp_path/'tiny1'/'last.safetensors'), load_file(tmp_path/'tiny2'/'last.safetensors')
    for k in one: torch.testing.assert_close(two[k], one[k], rtol=1e-5, atol=1e-6)
    h1 = (tmp_path/'tiny1'/'history.csv').read_text().splitlines(); h2 = (tmp_path/'tiny2'/'history.csv').read_text().splitlines()
    assert [l.split(',')[:3] for l in h1] == [l.split(',')[:3] for l in h2]   # same losses (6 digits)
    summary = json.loads(r.stdout.strip().splitlines()[-1])   # the Patches run through dolos_train (ranks checked to agree)
    assert summary['epochs_done'] == 1 and Path(summary['best']).is_file()

def test_init_weights_imagenet_gradcam(root, tmp_path, capsys):
    "GradCAM weak starts from an ImageNet Xception file (timm layout): the weights before the first step are the file's; a changed file is refused on resume."
    import hashlib, timm
    from fastai.callback.core import Callback
    torch.manual_seed(123)
    ref = timm.create_model('legacy_xception', pretrained=False)
    sd = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() and not k.endswith('running_var') else v
          for k, v in ref.state_dict().items() if not k.endswith('num_batches_tracked')}
    f = tmp_path/'xception-43020ad28.pth'; torch.save(sd, f)

    class First(Callback):
        def before_fit(self): self.w = {k: v.detach().clone() for k, v in self.learn.model.state_dict().items()}
    cb = First()
    cfg = T.make_config('gradcam', 'A', 'toy', size=32, bs=2, epochs=1, epoch_len=2, max_valid=2, init_weights=str(f))
    res = T.train(cfg, tmp_path/'run', root=root, num_workers=0, quiet=True, cbs=[cb])
    want = {f'backbone.{k}': v for k, v in sd.items() if not k.startswith('fc.')}
    assert set(want) <= set(cb.w)
    for k, v in want.items(): assert torch.equal(cb.w[k], v), k        # frozen in time: the file, before step 1
    own = T.build_detector('gradcam', 'weak', seed=0).state_dict()
    assert not torch.equal(own['backbone.conv1.weight'], want['backbone.conv1.weight'])   # not the default init
    assert not torch.equal(res.detector.state_dict()['backbone.conv1.weight'].cpu(), want['backbone.conv1.weight'])  # and it trained
    rec = json.loads((tmp_path/'run'/'config.json').read_text())
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    assert rec['init_weights'] == str(f) and rec['init_sha256'] == sha

    # the command line: same run, more epochs, but the file changed -> refused, naming both hashes
    torch.save({k: v * 1.5 if v.is_floating_point() else v for k, v in sd.items()}, f)
    sha2 = hashlib.sha256(f.read_bytes()).hexdigest()
    args = ['--method', 'gradcam', '--setup', 'A', '--root', str(root), '--out', str(tmp_path/'run'), '--size', '32', '--bs', '2',
            '--epochs', '2', '--epoch-len', '2', '--max-valid', '2', '--workers', '0', '--quiet', '--init-weights', str(f)]
    assert T.dolos_train_cli(args) == 2
    err = capsys.readouterr().err
    assert 'initial weights changed' in err and sha in err and sha2 in err
    # a missing file is named
    assert T.dolos_train_cli(args[:-1] + [str(tmp_path/'nope.pth')]) == 2
    assert 'nope.pth: initial weights file not found' in capsys.readouterr().err
