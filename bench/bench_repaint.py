"""RePaint speed: our sampler (`dolos.generators.diffusion.repaint`) vs diffusers' `RePaintPipeline`.

Both sides run the same `UNet2DModel` (random weights: speed does not depend on them) of P2's size and shape
(diffusers config of the converted P2 UNet: block_out_channels (128,128,256,256,512,512), one layer per block,
resnet up/down-sampling, attention at the 5th level and in the middle, scale-shift norm, head dim 64,
attn_norm_num_groups 32, norm_eps 1e-5), but with 3 output channels, because the pipeline cannot take P2's
learned variance. Same schedule (the 'leading' grid the pipeline forces), same jump settings, same batch of
images and masks. Our side runs `rule='repaint'` (the original RePaint semantics, fixed-small variance since
the model has no variance channels) unless `--rule diffusers`; both rules make the same number of model calls.

The GPU accelerations (`--dtype bf16` autocast, `--channels-last`, `--compile`) apply to our sampler only; the
pipeline runs as shipped (fp32, or `--pipeline-dtype bf16` = its UNet cast to bf16, the only knob it has).
Each side gets one untimed warm-up forward (and for `--compile` one untimed short run) before the timed run.
Memory: the peak RSS of the process (both sides share it; the weights are held twice) and, on a GPU,
`torch.cuda.max_memory_allocated` per side. `--repeats k` times each side k times (alternating) and keeps the best.

`--check` first verifies correctness: fp32, batch 1, same seed, `rule='diffusers'` equals the pipeline within 1e-4.

    python bench/bench_repaint.py --check                      # tiny CPU run: 64 px, 10 steps, jump 5 x 2, batch 1,2
    python bench/bench_repaint.py --paper --dtype bf16 --channels-last --compile --batch 1,8,32   # GPU, 256 px, 250/10/10
"""
from __future__ import annotations
import argparse, copy, os, sys, time

import numpy as np
import torch

from diffusers import RePaintPipeline, RePaintScheduler, UNet2DModel
from dolos.generators.core import PerImageRNG
from dolos.generators.diffusion import Schedule, jump_cost, jump_times, repaint


def p2_sized_unet(resolution:int, seed:int=0)->UNet2DModel:
    "A randomly initialised UNet2DModel with the converted P2 architecture and 3 output channels."
    torch.manual_seed(seed)
    return UNet2DModel(sample_size=resolution, in_channels=3, out_channels=3,
                       block_out_channels=(128, 128, 256, 256, 512, 512), layers_per_block=1,
                       down_block_types=('ResnetDownsampleBlock2D',) * 4 + ('AttnDownBlock2D', 'ResnetDownsampleBlock2D'),
                       up_block_types=('ResnetUpsampleBlock2D', 'AttnUpBlock2D') + ('ResnetUpsampleBlock2D',) * 4,
                       downsample_type='resnet', upsample_type='resnet', resnet_time_scale_shift='scale_shift',
                       attention_head_dim=64, attn_norm_num_groups=32, norm_eps=1e-5,
                       flip_sin_to_cos=True, freq_shift=0).eval()


def inputs(n:int, res:int, seed:int=0):
    "A smooth random batch in [-1, 1] and keep-masks (1 = known) with a rectangular hole per image."
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1
    img = torch.nn.functional.interpolate(low, size=(res, res), mode='bilinear', align_corners=False)
    keep = torch.ones(n, 1, res, res)
    for k in range(n):
        y0, x0 = (torch.randint(0, res // 2, (2,), generator=g)).tolist()
        keep[k, :, y0:y0 + res // 2, x0:x0 + res // 3] = 0
    return img, keep


def peak_rss_mb()->float:
    "Peak resident set size of this process so far (MB, Linux ru_maxrss is in KiB)."
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def run_pipeline(pipe, img, keep, a, seed):
    out = pipe(img, keep, num_inference_steps=a.steps, eta=a.eta, jump_length=a.jump_length,
               jump_n_sample=a.jump_n_sample, generator=torch.Generator(pipe.device).manual_seed(seed), output_type='np')
    return torch.from_numpy(out.images).permute(0, 3, 1, 2) * 2 - 1        # back to [-1, 1]


def make_model_fn(net, device, dtype, channels_last):
    def model_fn(x, t):
        if channels_last: x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return net(x, t).sample.float()
    return model_fn


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--paper', action='store_true', help='paper settings: 256 px, 250 steps, jump 10 x 10 (GPU)')
    p.add_argument('--resolution', type=int, default=None, help='image size (default 64; 256 with --paper)')
    p.add_argument('--steps', type=int, default=None, help='t_T = respaced steps (default 10; 250 with --paper)')
    p.add_argument('--jump-length', type=int, default=None, help='default 5; 10 with --paper')
    p.add_argument('--jump-n-sample', type=int, default=None, help='default 2; 10 with --paper')
    p.add_argument('--batch', default='1,2', help='comma-separated batch sizes, e.g. 1,8,32')
    p.add_argument('--device', default=None, help="'cpu', 'cuda', ... (default: cuda if available)")
    p.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16', 'fp16'], help='our sampler: autocast dtype')
    p.add_argument('--pipeline-dtype', default='fp32', choices=['fp32', 'bf16', 'fp16'], help="the pipeline's UNet dtype")
    p.add_argument('--channels-last', action='store_true', help='our sampler: channels_last UNet and inputs')
    p.add_argument('--compile', action='store_true', help='our sampler: torch.compile the UNet')
    p.add_argument('--rule', default='repaint', choices=['repaint', 'diffusers'], help='our sampler: known-region rule')
    p.add_argument('--eta', type=float, default=0.0, help="pipeline / rule='diffusers' eta")
    p.add_argument('--check', action='store_true', help='first check fp32 batch-1 equality with the pipeline (1e-4)')
    p.add_argument('--skip-pipeline', action='store_true', help='time our sampler only')
    p.add_argument('--threads', type=int, default=1, help='CPU threads for torch (the dev machine is shared)')
    p.add_argument('--repeats', type=int, default=1, help='timed runs per side (alternating); the best is kept')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    for k, small, paper in (('resolution', 64, 256), ('steps', 10, 250), ('jump_length', 5, 10), ('jump_n_sample', 2, 10)):
        if getattr(a, k) is None: setattr(a, k, paper if a.paper else small)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    dt = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
    batches = [int(b) for b in a.batch.split(',')]
    gpu = device.type == 'cuda'
    cost = jump_cost(jump_times(a.steps, a.jump_length, a.jump_n_sample))
    sched = Schedule.create('linear', 1000, a.steps, grid='leading')
    if gpu: hw = torch.cuda.get_device_name(device)   # torch's default TF32 settings are left alone (both sides)
    else: hw = f'CPU, {a.threads} torch thread(s), {os.cpu_count()} cores visible'
    print(f'# RePaint sampler vs RePaintPipeline — {hw}, torch {torch.__version__}')
    print(f'# P2-sized UNet2DModel (3 out channels), {a.resolution}x{a.resolution}; t_T/L/n = {a.steps}/{a.jump_length}/'
          f'{a.jump_n_sample}: {cost["model_calls"]} model calls, {cost["undo_steps"]} undo steps per batch')
    print(f'# ours: rule={a.rule}, dtype {a.dtype}, channels_last {a.channels_last}, compile {a.compile}; '
          f'pipeline: dtype {a.pipeline_dtype}, eta {a.eta}')

    base = p2_sized_unet(a.resolution, a.seed).to(device)
    print(f'# UNet parameters: {sum(q.numel() for q in base.parameters()) / 1e6:.2f} M')
    status = 0
    if a.check:
        img, keep = inputs(1, a.resolution, a.seed)
        img, keep = img.to(device), keep.to(device)
        pipe = RePaintPipeline(base, RePaintScheduler()); pipe.set_progress_bar_config(disable=True)
        ref = run_pipeline(pipe, img, keep, a, a.seed).to(device)
        ours = repaint(lambda x, t: base(x, t).sample, img, keep, sched, PerImageRNG([a.seed], device),
                       a.jump_length, a.jump_n_sample, rule='diffusers', eta=a.eta)
        d = (ours - ref).abs().max().item()
        ok = d < 1e-4
        print(f"# check (fp32, batch 1, seed {a.seed}, rule='diffusers'): max |ours - pipeline| = {d:.2e} "
              f"in [-1, 1] -> {'PASS' if ok else 'FAIL'}")
        status = 0 if ok else 1

    pipe_unet = copy.deepcopy(base)
    if a.pipeline_dtype != 'fp32': pipe_unet = pipe_unet.to(dt[a.pipeline_dtype])
    pipe = RePaintPipeline(pipe_unet, RePaintScheduler()); pipe.set_progress_bar_config(disable=True)
    net = base
    if a.channels_last: net = net.to(memory_format=torch.channels_last)
    if a.compile: net = torch.compile(net)
    model_fn = make_model_fn(net, device, dt[a.dtype], a.channels_last)

    rows = []
    for B in batches:
        img, keep = inputs(B, a.resolution, a.seed + B)
        img, keep = img.to(device), keep.to(device)
        seeds = list(range(a.seed, a.seed + B))
        variance = 'fixed_small'
        # warm-up: one forward each (and one short compiled run for --compile), untimed
        with torch.no_grad():
            t0 = torch.full((B,), 999, dtype=torch.long, device=device)
            pipe_unet(img.to(pipe_unet.dtype), t0); model_fn(img, t0)
        if a.compile:
            repaint(model_fn, img, keep, Schedule.create('linear', 1000, 2, grid='leading'), PerImageRNG(seeds, device),
                    1, 1, variance=variance, rule=a.rule, eta=a.eta)
        res = {'batch': B, 'pipe_s': None, 'ours_s': float('inf'), 'pipe_gpu': 0, 'ours_gpu': 0}
        for _ in range(a.repeats):
            if not a.skip_pipeline:
                if gpu: torch.cuda.reset_peak_memory_stats(device)
                sync(device); t = time.perf_counter()
                run_pipeline(pipe, img, keep, a, a.seed)
                sync(device); dt_s = (time.perf_counter() - t) / B
                res['pipe_s'] = dt_s if res['pipe_s'] is None else min(res['pipe_s'], dt_s)
                if gpu: res['pipe_gpu'] = max(res['pipe_gpu'], torch.cuda.max_memory_allocated(device))
            if gpu: torch.cuda.reset_peak_memory_stats(device)
            sync(device); t = time.perf_counter()
            repaint(model_fn, img, keep, sched, PerImageRNG(seeds, device), a.jump_length, a.jump_n_sample,
                    variance=variance, rule=a.rule, eta=a.eta)
            sync(device); res['ours_s'] = min(res['ours_s'], (time.perf_counter() - t) / B)
            if gpu: res['ours_gpu'] = max(res['ours_gpu'], torch.cuda.max_memory_allocated(device))
        rows.append(res)
        print(f'# batch {B} done', flush=True)

    mb = lambda v: f'{v / 2**20:,.0f}'
    head = '| batch | ours s/img | pipeline s/img | ratio (pipeline / ours) |'
    if gpu: head += ' peak GPU MiB ours / pipeline |'
    print(); print(head); print('|' + '---|' * (head.count('|') - 1))
    for r in rows:
        ps = r.get('pipe_s')
        pst, ratio = ('-', '-') if ps is None else (f'{ps:.3f}', f"{ps / r['ours_s']:.2f}x")
        line = f"| {r['batch']} | {r['ours_s']:.3f} | {pst} | {ratio} |"
        if gpu: line += f" {mb(r['ours_gpu'])} / {mb(r['pipe_gpu'])} |"
        print(line)
    print(f'\nPeak RSS of the process: {peak_rss_mb():,.0f} MB')
    return status


if __name__ == '__main__':
    sys.exit(main())
