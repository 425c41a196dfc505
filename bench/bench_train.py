"""Training throughput: the real data pipeline vs synthetic on-device batches, per method, in one run.

    python bench/bench_train.py --quick                  # tiny CPU run (64², a few steps)
    python bench/bench_train.py                          # paper scale: 299², bf16 + channels-last on a GPU

Each method trains through the same fastai `Learner` loop as `dolos.train` twice: fed by
`dolos.data.make_dataloaders` (PNG decode + resize in worker processes) and fed by pre-made
batches already on the device. data/synthetic close to 1 means loading keeps up; below 1, it is
the bottleneck. The script writes its own fixture PNGs (256² by default) with masks into a
temporary folder. Targets on one H200 (bf16, 299²): data >= 0.8x synthetic; Patches >= 4,000
img/s; full Xception (Grad-CAM, Attention) >= 1,500 img/s.
"""
import argparse, resource, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np, torch
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.fp16 import MixedPrecision
from fastai.data.core import DataLoaders

from dolos.core import default_device, save_image, save_mask, rng_for
from dolos.data import Item, make_dataloaders, PRESET_OF
from dolos.detectors.core import build_detector
from dolos.train import adam, resolve_precision

SUPERVISION = {'patches': 'full', 'gradcam': 'weak', 'attention': 'weak'}
DEFAULT_BS = {'patches': 64, 'gradcam': 32, 'attention': 32}

def make_fixtures(folder:Path, n:int, side:int, seed:int=0)->list:
    "n smooth-noise RGB PNGs with a rectangular fake region each (DOLOS masks), as `Item`s."
    rng, items = rng_for(seed, 'bench-train'), []
    for k in range(n):
        small = rng.random((3, side // 8, side // 8)).astype(np.float32)
        img = torch.nn.functional.interpolate(torch.from_numpy(small)[None], size=(side, side), mode='bilinear')[0]
        img = (img + 0.05 * torch.from_numpy(rng.standard_normal((3, side, side)).astype(np.float32))).clamp(0, 1)
        m = torch.zeros(side, side); y, x = rng.integers(0, side // 2, 2); m[y:y + side // 3, x:x + side // 3] = 1
        save_image(img, folder/'images'/f'{k:05d}.png'); save_mask(m, folder/'masks'/f'{k:05d}.png')
        items.append(Item(folder/'images'/f'{k:05d}.png', folder/'masks'/f'{k:05d}.png', 1))
    return items

class Timer(Callback):
    "Images per second over the training steps after `warmup` (device synchronised at both ends)."
    order = 100
    def __init__(self, warmup): self.warmup = warmup
    def _sync(self):
        if torch.cuda.is_available(): torch.cuda.synchronize()
    def before_train(self): self.n, self.t0 = 0, None
    def after_batch(self):
        if not self.training: return
        self.n += 1
        if self.n == self.warmup: self._sync(); self.t0, self.imgs = time.perf_counter(), 0
        elif self.n > self.warmup: self.imgs += len(self.learn.yb[-1])
    def after_train(self): self._sync(); self.rate = self.imgs / (time.perf_counter() - self.t0)
    def before_validate(self): raise CancelValidException()

def run(method, dls, args, device, precision):
    det = build_detector(method, SUPERVISION[method], seed=0).to(device)
    cl = device.type == 'cuda'
    if cl: det = det.to(memory_format=torch.channels_last)
    timer = Timer(args.warmup)
    learn = Learner(dls, det, loss_func=det.loss, opt_func=adam, lr=1e-4, cbs=[timer])
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == 'ProgressCallback'])
    learn.logger = lambda *a, **k: None
    if precision == 'bf16': learn.add_cb(MixedPrecision(amp_mode='bf16'))
    if args.compile: learn.model = torch.compile(det)
    learn.fit(1)
    return timer.rate

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='tiny CPU run: 64², batch 8, 6 steps')
    p.add_argument('--methods', default='patches,gradcam,attention')
    p.add_argument('--size', type=int, default=299); p.add_argument('--bs', type=int, help='default: 64 Patches, 32 Xception')
    p.add_argument('--steps', type=int, default=40, help='timed steps'); p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--workers', type=int, default=None, help='loader processes (default: dolos.data default)')
    p.add_argument('--fixtures', type=int, default=512, help='fixture images'); p.add_argument('--side', type=int, default=256)
    p.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'bf16')); p.add_argument('--compile', action='store_true')
    p.add_argument('--no-cache', action='store_true', help='skip the ResizedCache row')
    a = p.parse_args(argv)
    if a.quick: a.size, a.bs, a.steps, a.warmup, a.fixtures, a.side = 64, a.bs or 8, 6, 2, 48, 64
    device = default_device(); precision = resolve_precision(a.precision, device)
    tmp = Path(tempfile.mkdtemp(prefix='bench-train-'))
    items = make_fixtures(tmp, a.fixtures, a.side)
    print(f'device {device}, precision {precision}, input {a.size}², {a.steps} timed steps after {a.warmup}, fixtures {a.fixtures} PNGs at {a.side}² in {tmp}')
    print(f'{"method":<10} {"bs":>4} {"data img/s":>11} {"cached img/s":>13} {"synthetic img/s":>16} {"data/syn":>9} {"cached/syn":>11}')
    for m in a.methods.split(','):
        bs = a.bs or DEFAULT_BS[m]; n = a.steps + a.warmup
        dls = make_dataloaders(items, items[:bs], size=a.size, bs=bs, preprocessing=PRESET_OF[(m, SUPERVISION[m])],
                               epoch_len=n, num_workers=a.workers, device=device)
        x, mask, y = dls.one_batch()
        syn = DataLoaders([(x.to(device), mask.to(device), y.to(device))] * n, [(x.to(device), mask.to(device), y.to(device))])
        syn._device = device; syn.n_inp = 1
        r_syn = run(m, syn, a, device, precision)
        r_data = run(m, dls, a, device, precision)
        r_cache = float('nan')
        if not a.no_cache:   # the same pipeline reading a ResizedCache, filled by one untimed pass first
            cdls = make_dataloaders(items, items[:bs], size=a.size, bs=bs, preprocessing=PRESET_OF[(m, SUPERVISION[m])],
                                    epoch_len=n, num_workers=a.workers, device=device, cache=tmp/'cache')
            ds = cdls.train.dataset
            for i in range(len(ds)): ds.resized(i)
            r_cache = run(m, cdls, a, device, precision)
        print(f'{m:<10} {bs:>4} {r_data:>11.1f} {r_cache:>13.1f} {r_syn:>16.1f} {r_data / r_syn:>8.2f}x {r_cache / r_syn:>10.2f}x', flush=True)
    print(f'peak RSS: main {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, largest worker {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB')
    if device.type == 'cuda': print(f'peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB')
    shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': main()
