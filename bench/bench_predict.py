"""Prediction throughput: `dolos_predict`'s batched, streamed path vs the original one-image-at-a-time loop.

Both sides use the same detector (random weights: speed does not depend on them) on the same PNG files:

- loop (the original style, `*/predict.py`): files in `os.listdir` order, PIL open + resize per image on the
  main thread, batch 1, float32, one GPU->CPU copy per image, float64 maps kept in memory and saved in one
  `.npz` at the end;
- batched (ours): `dolos.predict.predict_to_dir`, i.e. exactly what `dolos_predict --no-overlays` runs
  (DataLoader workers, batches, bf16 + channels_last on a GPU, one copy per batch, maps/<stem>.npy +
  scores.csv written atomically by background threads). A second batched run with overlays is timed too.

Fixture images (256x256 PNG, the DOLOS image size) are generated in a temporary folder first; that is not
timed. Each side gets a warm-up pass on a few images before its timed run. "model only" is the detector alone
on synthetic batches already on the device (no decoding, no writing): the ceiling of the batched side, which
shows whether image loading is the bottleneck. Peak memory is sampled per run:
RSS of this process plus its loader processes, and `torch.cuda.max_memory_allocated` on a GPU.

    python bench/bench_predict.py --quick          # tiny CPU run (64 px, 96 images), a few minutes on 2 cores
    python bench/bench_predict.py                  # paper scale: 299 px, 2048 images (loop on 512), bf16 on GPU
"""
from __future__ import annotations
import argparse, os, shutil, sys, tempfile, threading, time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dolos.core import default_device, seed_everything
from dolos.detectors.core import build_detector
from dolos.data import RESAMPLE
from dolos.predict import detector_resample, predict_to_dir

# ---------------------------------------------------------------------------------------------- memory
def _rss(pid:int)->int:
    "Proportional set size of `pid` (shared pages split between the processes sharing them), else its RSS."
    for name, key in (('smaps_rollup', 'Pss:'), ('status', 'VmRSS:')):
        try:
            with open(f'/proc/{pid}/{name}') as f:
                for line in f:
                    if line.startswith(key): return int(line.split()[1]) * 1024
        except OSError: pass
    return 0

def _rss_tree(pid:int)->int:
    "Resident bytes (PSS where the kernel gives it) of `pid` and all its descendants, from /proc (Linux)."
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            total += _rss(p)
            for t in os.listdir(f'/proc/{p}/task'):
                with open(f'/proc/{p}/task/{t}/children') as f: stack += [int(c) for c in f.read().split()]
        except (OSError, ValueError): pass
    return total

class PeakMemory:
    "Context manager sampling the peak RSS of this process tree (every 20 ms) and the peak CUDA allocation."
    def __init__(self, device): self.device, self.rss, self.gpu = device, 0, 0
    def __enter__(self):
        self._stop = threading.Event()
        if self.device.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(self.device)
        def run():
            while not self._stop.is_set(): self.rss = max(self.rss, _rss_tree(os.getpid())); self._stop.wait(0.02)
        self._t = threading.Thread(target=run, daemon=True); self._t.start()
        return self
    def __exit__(self, *exc):
        self.rss = max(self.rss, _rss_tree(os.getpid())); self._stop.set(); self._t.join()
        if self.device.type == 'cuda': torch.cuda.synchronize(); self.gpu = torch.cuda.max_memory_allocated(self.device)

# ---------------------------------------------------------------------------------------------- fixtures
def make_fixtures(folder:Path, n:int, side:int=256, seed:int=0)->list[Path]:
    "n smooth random RGB PNGs (noise upsampled, plus fine noise) named 00000.png ..."
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        low = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((side, side), Image.BICUBIC)
        a = np.clip(np.asarray(low, np.int16) + rng.integers(-12, 13, (side, side, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(folder/f'{k:05d}.png')
    return sorted(folder.glob('*.png'))

# ---------------------------------------------------------------------------------------------- the two sides
def loop_predict(det, folder:Path, size:int, resample, device, out:Path, limit:int|None=None):
    "The original style: one image at a time, PIL resize, batch 1, float32, a GPU->CPU sync per image."
    names = os.listdir(folder)[:limit]
    scores, maps = [], []
    for name in names:
        im = Image.open(folder/name).convert('RGB').resize((size, size), resample)
        x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float().div(255).sub(0.5).div(0.5)
        score, m = det.predict(x[None].to(device))
        scores.append(score.item()); maps.append(m[0].cpu().numpy().astype(np.float64))
    np.savez(out, label_preds=np.array(scores), mask_preds=np.stack(maps))
    return len(names)

def model_only(det, n:int, size:int, bs:int, device)->int:
    "The detector alone on synthetic on-device batches, as `predict_items` runs it: the ceiling for the batched side."
    amp = device.type == 'cuda'
    x = torch.randn(bs, 3, size, size, device=device)
    if amp: det = det.to(memory_format=torch.channels_last); x = x.contiguous(memory_format=torch.channels_last)
    done = 0
    while done < n:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            s, m = det.predict(x)
        m.float().cpu(); done += bs
    return done

def timed(fn, device):
    with PeakMemory(device) as mem:
        t = time.perf_counter(); n = fn()
        if device.type == 'cuda': torch.cuda.synchronize()
        dt = time.perf_counter() - t
    return n / dt, mem

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='tiny CPU run: 64 px, 96 images (loop on 48), batch 8')
    ap.add_argument('--n', type=int, default=None, help='images for the batched side (default 2048; quick 96)')
    ap.add_argument('--n-loop', type=int, default=None, help='images for the loop side (default min(n, 512))')
    ap.add_argument('--size', type=int, default=None, help='model input side (default 299; quick 64)')
    ap.add_argument('--bs', type=int, default=None, help='batch size (default 128; quick 8)')
    ap.add_argument('--workers', type=int, default=None, help='loader processes (default: dolos_predict default)')
    ap.add_argument('--device', default=None)
    ap.add_argument('--methods', nargs='+', default=['patches', 'gradcam', 'attention'])
    a = ap.parse_args(argv)
    q = a.quick
    n = a.n or (96 if q else 2048); n_loop = min(n, a.n_loop or (48 if q else 512))
    size = a.size or (64 if q else 299); bs = a.bs or (8 if q else 128)
    device = default_device('cpu' if q and a.device is None else a.device)
    seed_everything(0)
    tmp = Path(tempfile.mkdtemp(prefix='bench_predict_'))
    try:
        paths = make_fixtures(tmp/'images', n)
        print(f'# bench_predict: {n} PNGs 256² -> {size}², batch {bs}, device {device}'
              f'{" (" + torch.cuda.get_device_name(device) + ", bf16 + channels_last)" if device.type == "cuda" else ""}, '
              f'torch {torch.__version__}, {os.cpu_count()} CPUs; loop side on the first {n_loop} images')
        head = f'{"method":<10} {"loop img/s":>10} {"batched img/s":>13} {"ratio":>6} {"+overlays img/s":>15} {"model only":>10} ' \
               f'{"RSS loop":>9} {"RSS batched":>11} {"GPU loop":>9} {"GPU batched":>11}'
        print(head); print('-' * len(head))
        for method in a.methods:
            det = build_detector(method, 'weak', seed=0).to(device).eval()
            resample = RESAMPLE[detector_resample(det)]
            kw = dict(size=size, batch_size=bs, device=device, num_workers=a.workers)
            # warm-ups (not timed): lazy CUDA init, cudnn algorithm choice, allocator
            predict_to_dir(det, paths[:2 * bs], tmp/'warm', overlays=False, **kw); shutil.rmtree(tmp/'warm')
            loop_predict(det, tmp/'images', size, resample, device, tmp/'warm.npz', limit=4)
            r_loop, m_loop = timed(lambda: loop_predict(det, tmp/'images', size, resample, device, tmp/'loop.npz', limit=n_loop), device)
            det = det.to(memory_format=torch.contiguous_format)
            model_only(det, bs, size, bs, device)
            r_model, _ = timed(lambda: model_only(det, n, size, bs, device), device)
            det = det.to(memory_format=torch.contiguous_format)
            r_ours, m_ours = timed(lambda: predict_to_dir(det, paths, tmp/'ours', overlays=False, **kw).predicted, device)
            r_ov, _ = timed(lambda: predict_to_dir(det, paths, tmp/'ours_ov', overlays=True, **kw).predicted, device)
            for d in ('ours', 'ours_ov'): shutil.rmtree(tmp/d)
            mb = lambda b: f'{b / 2**20:.0f} MB' if b else '-'
            print(f'{method:<10} {r_loop:>10.1f} {r_ours:>13.1f} {r_ours / r_loop:>5.1f}x {r_ov:>15.1f} {r_model:>10.1f} '
                  f'{mb(m_loop.rss):>9} {mb(m_ours.rss):>11} {mb(m_loop.gpu):>9} {mb(m_ours.gpu):>11}', flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': main()
