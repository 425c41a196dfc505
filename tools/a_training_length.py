"""Measure how setup A's Patches localises partial fakes against how long it trained past a perfect validation AP.

`python tools/a_training_length.py` trains Patches with image labels on setup A's training data (the
toy reals and P2 full fakes; the toy study's input size, batch size and learning rate) for one epoch
of `N` iterations, for each `N` in `LENGTHS`. Training reads one seeded stream of batches whatever the
epoch length, so the run of `N` iterations is the first `N` iterations of the longer ones, and its
single validation after them is setup A's validation AP at that point. Each run is evaluated on
the toy RePaint-P2 test fakes against the test reals (the cells setup A's floors are on: AP, pixel
AUC, and IoU), and the table goes to figures/a_training_length.csv and its .md. It shows why the toy
study validates its runs with labels once per 1,000 iterations: a perfect validation AP on full
fakes, which ends a run, comes long before the AP and pixel AUC on partial fakes stop rising.
The models go to models/toy-measurements (reused when present). 5 min on two cores.
"""
import argparse, sys, tempfile
from dataclasses import replace
from pathlib import Path

from measurement import ROOT, test_cells, write_table

LENGTHS = (200, 400, 1000, 2000)
TEST = 'celebahq-repaint-p2'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', default=str(ROOT/'models'/'toy-measurements'), help='model cache of these runs')
    args = ap.parse_args(argv)
    import pandas as pd
    from dolos.study import Study
    s = Study('a_training_length', 'toy', models=args.models, out=tempfile.mkdtemp(prefix='dolos-a-length-'), log=print)
    rows = []
    for n in LENGTHS:
        cfg = replace(s.config('patches', 'A'), epochs=1, epoch_len=n)
        ck = s.train(cfg)
        hist = pd.read_csv(Path(ck).parent/'history.csv')
        res, _ = s.evaluate(ck, TEST, reals='celebahq-real')
        rows.append({'iterations': n, 'images seen': n * cfg.bs, 'valid AP (P2 full fakes)': round(float(hist.valid_score.iloc[-1]), 1),
                     **test_cells(res)})
        print(rows[-1], flush=True)
    write_table(rows, 'a_training_length')


if __name__ == '__main__':
    sys.exit(main())
