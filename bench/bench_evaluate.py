"""Benchmark: `dolos_evaluate`'s batched, streaming localisation metrics vs the original per-image loop.

Both sides read the same files from disk: maps as `<stem>.npy` (float32, 37x37 by default) and DOLOS mask PNGs
(3-channel, 255 = real, 0 = fake, 256x256 by default). The baseline is the original study's loop, one image at a
time: np.load the map, PIL-open the mask, PIL bicubic resize (mode F), numpy IoU/accuracy at full and map resolution
(`dolos.metrics.reference_scores`). Ours is `dolos.evaluate.evaluate_localisation` (a pool of reading threads that
decode the PNGs and, on a CPU, resize the maps; batched metrics on `default_device()`), first with the paper's metric set only (like for like), then with every metric
(pixel AUC, threshold grid). Fixture generation is not timed. Prints per-image agreement, times, the ratio, peak RSS
per phase and GPU peak memory on cuda.

    python bench/bench_evaluate.py            # 8,500 masks (the paper's scale)
    python bench/bench_evaluate.py --quick    # 500 masks
"""
import argparse, os, resource, shutil, tempfile, threading, time
from pathlib import Path

import numpy as np
import psutil
import torch
from PIL import Image

from dolos.core import default_device, rng_for, save_mask
from dolos.evaluate import default_workers, evaluate_localisation, pair_maps_masks
from dolos.metrics import LocalisationMeter, reference_scores


def make_fixture(root: Path, n: int, size: int, map_size: int, seed: int = 0):
    "n fake images: a DOLOS mask PNG (ellipse of random area, ~1% empty) and a plausible 37x37 map (noisy blurred truth)."
    (root/'pred'/'maps').mkdir(parents=True, exist_ok=True); (root/'masks').mkdir(parents=True, exist_ok=True)
    done = root/'.complete'
    if done.is_file() and done.read_text() == f'{n} {size} {map_size} {seed}': return
    rng = rng_for(seed)
    yy, xx = np.mgrid[:size, :size] / size
    for i in range(n):
        t = np.zeros((size, size), np.float32)
        if rng.random() > 0.01:
            cy, cx = rng.uniform(0.2, 0.8, 2); ry, rx = rng.uniform(0.03, 0.35, 2)
            t[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
        save_mask(t, root/'masks'/f'{i:05d}.png')
        small = np.asarray(Image.fromarray(t).resize((map_size, map_size), Image.Resampling.BOX))
        m = np.clip(0.15 + 0.7 * small + rng.normal(0, 0.15, small.shape), 0, 1).astype(np.float32)
        np.save(root/'pred'/'maps'/f'{i:05d}.npy', m)
    done.write_text(f'{n} {size} {map_size} {seed}')


class PeakRSS:
    "Sample the RSS of this process plus any children every 5 ms; `.peak` in bytes."
    def __enter__(self):
        self.p, self.peak, self.stop = psutil.Process(), 0, threading.Event()
        def loop():
            while not self.stop.is_set(): self.peak = max(self.peak, self.rss()); time.sleep(0.005)
        self.t = threading.Thread(target=loop, daemon=True); self.t.start(); return self
    def rss(self):
        total = self.p.memory_info().rss
        for c in self.p.children(recursive=True):
            try: total += c.memory_info().rss
            except psutil.Error: pass
        return total
    def __exit__(self, *a): self.stop.set(); self.t.join(); self.peak = max(self.peak, self.rss())


def baseline(pairs):
    "The original loop: one image at a time, PIL + numpy."
    out = []
    for stem, mp, mk, _ in pairs:
        pred = np.load(mp)
        true = 1 - (np.asarray(Image.open(mk))[:, :, 0] == 255).astype(np.float64)   # load_mask_keep: fake unless 255
        out.append(reference_scores(pred, true))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=8500); ap.add_argument('--quick', action='store_true', help='500 masks')
    ap.add_argument('--size', type=int, default=256); ap.add_argument('--map-size', type=int, default=37)
    ap.add_argument('--bs', type=int, default=128); ap.add_argument('--workers', type=int, help='reading threads (default: dolos.evaluate.default_workers())')
    ap.add_argument('--device'); ap.add_argument('--dir', help='fixture folder (kept; default: a temporary one)')
    a = ap.parse_args()
    n = 500 if a.quick else a.n
    dev = default_device(a.device)
    root = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix='bench_evaluate_'))
    t0 = time.perf_counter(); make_fixture(root, n, a.size, a.map_size)
    print(f'fixture: {n} masks {a.size}x{a.size}, maps {a.map_size}x{a.map_size} in {root} ({time.perf_counter() - t0:.1f} s, not timed)')
    pairs = pair_maps_masks(root/'pred', root/'masks')
    workers = default_workers() if a.workers is None else a.workers
    print(f'device {dev}, {os.cpu_count()} cpus, torch threads {torch.get_num_threads()}, reading threads {workers}, batch {a.bs}')
    evaluate_localisation(pairs[:a.bs], LocalisationMeter(device=dev), a.bs, workers)          # warm-up (not timed)
    if dev.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()

    def ours(extended):
        with PeakRSS() as mem:
            t = time.perf_counter()
            m = evaluate_localisation(pairs, LocalisationMeter(device=dev, extended=extended), a.bs, workers)
            if dev.type == 'cuda': torch.cuda.synchronize()
            return m.per_image(), time.perf_counter() - t, mem
    df, t_ours, mem_ours = ours(False)
    with PeakRSS() as mem_base:
        t = time.perf_counter(); ref = baseline(pairs); t_base = time.perf_counter() - t
    df_all, t_all, mem_all = ours(True)

    diff = {k: float(np.max(np.abs(df[k].to_numpy() - np.array([r[k] for r in ref])))) for k in ('iou', 'pbca', 'iou_sm', 'pbca_sm')}
    same = all(v == 0 for v in diff.values()) and np.array_equal(df.iou.to_numpy(), df_all.iou.to_numpy())
    mb = lambda b: f'{b / 2**20:.0f} MiB'
    print(f'\nper-image agreement with the original loop: max |diff| ' + ', '.join(f'{k} {v:.3g}' for k, v in diff.items())
          + f'  -> {"IDENTICAL" if same else "DIFFERENT"}')
    print(f'macro IoU {100 * df.iou.mean():.4f} (ours) vs {100 * np.mean([r["iou"] for r in ref]):.4f} (original);'
          f' empty unions {int(df.empty_union.sum())}')
    print(f'\n{"":34}{"time":>9}{"ms/img":>9}{"ratio":>8}{"peak RSS":>11}')
    print(f'{"original per-image loop":34}{t_base:8.2f}s{1e3 * t_base / n:9.3f}{1:8.2f}{mb(mem_base.peak):>11}')
    print(f'{"ours, paper metrics":34}{t_ours:8.2f}s{1e3 * t_ours / n:9.3f}{t_base / t_ours:8.2f}{mb(mem_ours.peak):>11}')
    print(f'{"ours, all metrics (+AUC, grid)":34}{t_all:8.2f}s{1e3 * t_all / n:9.3f}{t_base / t_all:8.2f}{mb(mem_all.peak):>11}')
    print(f'peak RSS (getrusage): {mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)} (one process: the readers are threads)')
    if dev.type == 'cuda': print(f'GPU peak memory: {mb(torch.cuda.max_memory_allocated())}')
    if not a.dir: shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__': main()
