"""Generation throughput and memory per generator and batch size, through the real driver (`dolos.fakesets.generate`).

Each (generator, batch size) runs in its own process, so the peak resident memory it prints is that run's own.
Prints images/s (model loading excluded), peak RSS and, on CUDA, peak GPU memory, so users can pick the largest
batch that fits. Inputs: the test split of toy source A (a toy world is built in a temporary folder if --root has none).

    python bench/bench_generate.py                                   # CPU: every toy generator, batch 1 and 16
    python bench/bench_generate.py --generators lama,pluralistic --batch-sizes 1,8,32 --images 64
    python bench/bench_generate.py --generators repaint-p2 --args weights=/ckpt/celebahq_p2.pt --device cuda
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

def child(a):
    import torch
    from dolos.fakesets import plan_inpainting, plan_synthesis, generate, parse_args
    from dolos.layout import annotation_root, real_dir
    from dolos.generators.core import build_generator
    torch.set_num_threads(a.threads)
    gen = build_generator(a.generators, device=a.device, **parse_args(a.args))
    root = Path(a.root)
    if gen.kind == 'synthesis': jobs = plan_synthesis({'test': a.images})
    else: jobs = plan_inpainting({'test': real_dir(root, 'celebahq', 'test')}, counts={'test': a.images})
    if torch.cuda.is_available(): torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.time()
        generate(gen, jobs, out, a.batch_sizes, annotations=annotation_root(root, 'celebahq'), progress=False, log=None)
        dt = time.time() - t0
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    print(json.dumps({'generator': a.generators, 'batch': a.batch_sizes, 'images': a.images, 'seconds': dt,
                      'images_per_s': a.images / dt, 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      'peak_gpu_mb': gpu}))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--generators', default='harmonic,lama,pluralistic,ldm,repaint-p2,p2')
    ap.add_argument('--batch-sizes', default='1,16')
    ap.add_argument('--images', type=int, default=16, help='images per run (toy source A test split)')
    ap.add_argument('--root', default=None, help='toy world root (built in a temporary folder if missing)')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--args', default='', help='generator arguments key=value,key=value (e.g. weights=...)')
    ap.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.args = [x for x in a.args.split(',') if x]
    if a.child:
        a.batch_sizes = int(a.batch_sizes); return child(a)
    tmp = None
    if a.root is None or not (Path(a.root)/'toyworld.json').is_file():
        from dolos.toyworld import build_toyworld
        tmp = tempfile.TemporaryDirectory(); a.root = tmp.name
        build_toyworld(a.root, counts={'train': 0, 'valid': 0, 'test': max(a.images, 1)}, log=None)
    rows = []
    for g in a.generators.split(','):
        for bs in a.batch_sizes.split(','):
            cmd = [sys.executable, __file__, '--child', '--generators', g, '--batch-sizes', bs, '--images', str(a.images),
                   '--root', a.root, '--device', a.device, '--threads', str(a.threads), '--args', ','.join(a.args)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode: print(f'{g} batch {bs}: failed\n{r.stderr[-2000:]}'); continue
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f'\n| generator | batch | images | images/s | s/image | peak RSS (MB) | peak GPU (MB) |\n|---|---|---|---|---|---|---|')
    for r in rows:
        gpu = '-' if r['peak_gpu_mb'] is None else f"{r['peak_gpu_mb']:.0f}"
        print(f"| {r['generator']} | {r['batch']} | {r['images']} | {r['images_per_s']:.2f} | {1 / r['images_per_s']:.3f} | {r['peak_rss_mb']:.0f} | {gpu} |")

if __name__ == '__main__': main()
