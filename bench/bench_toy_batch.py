"""The toy study's Patches step on a CPU: images per second at batch 8 against batch 16, side by side.

    python bench/bench_toy_batch.py            # sizes 96 and 128, 7 alternating rounds
    python bench/bench_toy_batch.py --quick    # 2 rounds

A training step of Patches (forward, backward, Adam) reads and writes its activations several
times; the largest, after block1, is 128 channels at 61×61 for a 128² input: 1.9 MB per image in
float32, 30 MB for a batch of 16, so how much of a batch stays in the processor's last-level cache
changes what a step costs per image. Each round times the same randomly initialised detector
(`dolos.detectors.build_detector`, channels-last, as the study trains it) at both batch sizes,
alternating, and the table gives the median per-image time and the ratio batch 16 / batch 8
(above 1: batch 8 does more images per second). Speed does not depend on the weights or the
pixel values.
"""
import argparse, os, statistics, time

import torch

from dolos.detectors.core import build_detector

def per_image_ms(size:int, bs:int, steps:int)->float:
    "Milliseconds per image of `steps` Patches training steps at batch `bs` and `size`² (after 2 warm-up steps)."
    det = build_detector('patches', 'full', seed=0).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(det.parameters(), 1e-3)
    x = torch.randn(bs, 3, size, size).contiguous(memory_format=torch.channels_last)
    def step():
        loss = det(x)[0].float().square().mean()
        opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(2): step()
    t = time.perf_counter()
    for _ in range(steps): step()
    return (time.perf_counter() - t) / steps / bs * 1000

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help="2 rounds instead of 7")
    ap.add_argument('--sizes', default='96,128', help='input sides, comma-separated')
    args = ap.parse_args()
    rounds, sizes, images = (2 if args.quick else 7), [int(s) for s in args.sizes.split(",")], 192
    print(f'{os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {rounds} rounds of {images} images per cell')
    print('| size | batch 8 ms/img | batch 16 ms/img | batch 16 / batch 8 |')
    print('|---|---|---|---|')
    for size in sizes:
        t = {8: [], 16: []}
        for _ in range(rounds):
            for bs in t: t[bs].append(per_image_ms(size, bs, images // bs))
        m8, m16 = statistics.median(t[8]), statistics.median(t[16])
        print(f'| {size}² | {m8:.2f} | {m16:.2f} | {m16 / m8:.2f}× |', flush=True)

if __name__ == '__main__': main()
