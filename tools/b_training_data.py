"""Measure whether Patches in setup B is short of training iterations or of training fakes.

`python tools/b_training_data.py` trains Patches with image labels (setup B's supervision, the toy
profile's input size, batch size and learning rate) for a long budget -- `EPOCHS` x `EPOCH_LEN`
iterations, beyond the toy study's; a run ends sooner once its validation AP is perfect
(`dolos.train.PERFECT_SCORE`), never for want of progress (no patience: image labels teach
late) -- on two training sets that differ only in how many partial fakes they hold: setup B's
own (the toy 9k subset, `celebahq-repaint-p2-9k`) and the whole toy RePaint-P2 set it is drawn
from (`celebahq-repaint-p2`, twice as many training fakes; the reals are the same). Both are
evaluated on the same test fakes (`celebahq-repaint-p2`, whose test split neither trains on)
against the same reals. Per run it writes the training fakes, the batch size, the final training
loss beside the entropy of the class prior (the loss of a model that has learned nothing but the
class balance; a loss far below it with a poor validation score is memorisation), the best and last
validation AP (each run on its own training sets' validation split), the iterations after which the
validation AP first reached 100 (empty if it never did), and the test AP, pixel AUC and IoU,
to figures/b_training_data.csv and its .md.
The models go to models/toy-measurements (reused when present). 11 min on two cores (up to 25 if
neither run reaches a perfect validation AP).
"""
import argparse, math, sys, tempfile
from pathlib import Path

from measurement import ROOT, test_cells, write_table

EPOCHS, EPOCH_LEN = 50, 200
TRAIN_SETS = {'setup B (toy 9k subset)': ('celebahq-real', 'celebahq-repaint-p2-9k'),
              'whole toy RePaint-P2 set': ('celebahq-real', 'celebahq-repaint-p2')}
TEST = 'celebahq-repaint-p2'


def prior_entropy(n_real:int, n_fake:int)->float:
    "Cross-entropy (nats) of predicting the class frequencies: what an image-label loss starts from."
    p = n_fake / (n_real + n_fake)
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def first_perfect(scores, epoch_len:int)->int|None:
    "Iterations done when a validation score (percent, one per epoch) first reached `PERFECT_SCORE`; None if it never did."
    from dolos.train import PERFECT_SCORE
    hits = [e for e, v in enumerate(scores) if v >= PERFECT_SCORE]
    return (hits[0] + 1) * epoch_len if hits else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', default=str(ROOT/'models'/'toy-measurements'), help='model cache of these runs')
    args = ap.parse_args(argv)
    import pandas as pd
    from dolos.data import get_items
    from dolos.study import Study
    s = Study('b_training_data', 'toy', models=args.models, hparams={'patches/weak': dict(epochs=EPOCHS, epoch_len=EPOCH_LEN, patience=None)},
              out=tempfile.mkdtemp(prefix='dolos-b-data-'), log=print)
    rows = []
    for name, train in TRAIN_SETS.items():
        cfg = s.config('patches', None, train_datasets=train, supervision='weak')
        ck = s.train(cfg)
        hist = pd.read_csv(Path(ck).parent/'history.csv')
        real, fake = (len(get_items(d, 'train', root=s.root)) for d in train)
        res, _ = s.evaluate(ck, TEST, reals='celebahq-real')
        rows.append({'training set': name, 'train fakes': fake, 'train reals': real, 'batch': cfg.bs, 'iterations': len(hist) * EPOCH_LEN,
                     'final loss': round(float(hist.train_loss.iloc[-1]), 3), 'prior entropy': round(prior_entropy(real, fake), 3),
                     'best valid AP': round(float(hist.valid_score.max()), 1), 'last valid AP': round(float(hist.valid_score.iloc[-1]), 1),
                     'iterations to valid AP 100': first_perfect(hist.valid_score, EPOCH_LEN),
                     **test_cells(res)})
        print(rows[-1], flush=True)
    write_table(rows, 'b_training_data')


if __name__ == '__main__':
    sys.exit(main())
