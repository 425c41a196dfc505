"""The toy study's training on a CPU: loader processes against none, on the same runs, side by side.

    python bench/bench_toy_train.py            # the toy data under data/ (made by `make reproduce` or `dolos_toyworld` + `dolos_generate toy`)
    python bench/bench_toy_train.py --quick    # fewer iterations

The toy images are 64² PNGs: decoding and resizing one takes well under a millisecond, while on a
CPU the model's step already uses every core through torch's threads. Loader processes then only
compete with those threads for the same cores. Each row trains the same configuration (the toy
study's, `dolos.profiles.study_hparams`) twice through `dolos.train.train`, with the loader
processes of `dolos.data.default_num_workers` on a GPU machine (one per core, at most 8) and with
none, and prints the ratio of their wall times. Both runs must reach the same weights: the loader
processes change where batches are made, never what they hold.
"""
import argparse, os, tempfile, time
from pathlib import Path

import torch

from dolos.profiles import study_hparams
from dolos.train import make_config, train

RUNS = [('patches', 'B', 'weak'), ('patches', 'C', 'full'), ('gradcam', 'C', 'full')]

def timed(cfg, out, workers):
    t = time.perf_counter()
    res = train(cfg, out, num_workers=workers, quiet=True)
    return time.perf_counter() - t, res.detector.state_dict()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='2 epochs of 5 iterations per run')
    args = ap.parse_args()
    workers = min(8, os.cpu_count() or 1)
    print(f'{os.cpu_count()} cores, {torch.get_num_threads()} torch threads; loader processes: {workers} vs 0')
    print('| run | size | iterations | with loader processes (s) | without (s) | with / without | same weights |')
    print('|---|---|---|---|---|---|---|')
    for method, setup, sup in RUNS:
        hp = study_hparams('toy', method, sup)
        if args.quick: hp.update(epochs=2, epoch_len=5)
        hp.update(patience=None)
        cfg = make_config(method, setup, 'toy', **hp)
        with tempfile.TemporaryDirectory() as tmp:
            t_w, sd_w = timed(cfg, Path(tmp)/'w', workers)
            t_0, sd_0 = timed(cfg, Path(tmp)/'0', 0)
        same = all(torch.equal(sd_w[k], sd_0[k]) for k in sd_w)
        print(f'| {method} {setup} | {cfg.size}² | {cfg.epochs * cfg.epoch_len} | {t_w:.1f} | {t_0:.1f} | {t_w / t_0:.2f}× | {same} |')

if __name__ == '__main__': main()
