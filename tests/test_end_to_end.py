"Every method x setup end to end on a tiny DOLOS tree: train, predict (maps, scores, overlays), evaluate (IoU ... AP)."
import math
import pytest

from dolos.core import list_images
from dolos.data import write_example_tree
from dolos.detectors.core import load_detector
from dolos.evaluate import evaluate_folders
from dolos.predict import predict_to_dir
import dolos.train as T

@pytest.fixture(scope='module')
def root(tmp_path_factory): return write_example_tree(tmp_path_factory.mktemp('e2e')/'data', n=4, size=32)

@pytest.mark.parametrize('method', ['patches', 'gradcam', 'attention'])
@pytest.mark.parametrize('setup', ['A', 'B', 'C'])
def test_train_predict_evaluate(method, setup, root, tmp_path):
    cfg = T.make_config(method, setup, 'toy', size=32, bs=2, epochs=1, epoch_len=1, max_valid=2)
    res = T.train(cfg, tmp_path/'run', root=root, num_workers=0, quiet=True)
    assert res.epochs_done == 1 and res.best_epoch == 0
    det = load_detector(res.best_path, 'cpu')
    fakes = root/'celebahq'/'fake'/'repaint-p2'
    kw = dict(size=32, batch_size=4, num_workers=0, writers=1)
    rep = predict_to_dir(det, list_images(fakes/'images'/'test'), tmp_path/'fake', **kw)
    predict_to_dir(det, list_images(root/'celebahq'/'real'/'test'), tmp_path/'real', overlays=False, **kw)
    n = len(list_images(fakes/'images'/'test'))
    assert (rep.predicted, rep.errors) == (n, []) and len(list((tmp_path/'fake'/'overlays').glob('*.png'))) == n
    metrics = evaluate_folders(tmp_path/'fake', fakes/'masks'/'test', reals=tmp_path/'real', workers=0, device='cpu')
    for k in ('iou', 'pbca', 'f1', 'mcc', 'ap'):
        assert k in metrics and not math.isnan(metrics[k]), (k, metrics)
    assert 0 <= metrics['iou'] <= 100 and 0 <= metrics['pbca'] <= 100 and 0 <= metrics['ap'] <= 100
