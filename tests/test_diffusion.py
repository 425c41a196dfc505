"""Equivalence of dolos.generators.diffusion with diffusers (RePaintPipeline, DDPMScheduler) and batch invariance.

Tiny random UNet2DModel at 32x32, fp32, CPU; the whole file runs in well under a minute.
"""
import numpy as np
import pytest
import torch

from diffusers import DDPMScheduler, RePaintPipeline, RePaintScheduler, UNet2DModel
from dolos.generators.core import PerImageRNG
from dolos.generators.diffusion import Schedule, jump_times, repaint, sample

torch.set_num_threads(1)


def tiny_unet(out_channels=3, seed=0):
    torch.manual_seed(seed)
    return UNet2DModel(sample_size=32, in_channels=3, out_channels=out_channels, block_out_channels=(16, 32),
                       layers_per_block=1, down_block_types=('DownBlock2D', 'AttnDownBlock2D'),
                       up_block_types=('AttnUpBlock2D', 'UpBlock2D'), norm_num_groups=8, attention_head_dim=8).eval()


def fn(unet):
    return lambda x, t: unet(x, t).sample


@pytest.fixture(scope='module')
def unet3(): return tiny_unet(3, 0)


@pytest.fixture(scope='module')
def unet6(): return tiny_unet(6, 1)


def inputs(n=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n, 3, 32, 32, generator=g) * 2 - 1
    keep = torch.ones(n, 1, 32, 32)
    for k in range(n): keep[k, :, 6 + 2 * k:22 + 2 * k, 8:26 - k] = 0
    return img, keep


@pytest.mark.parametrize('eta', [0.0, 1.0])
@pytest.mark.parametrize('seed', [0, 123])
def test_repaint_matches_pipeline(unet3, eta, seed):
    "rule='diffusers' on the leading grid == RePaintPipeline (batch 1, fp32, same seed), compared in [-1, 1]."
    img, keep = inputs(1, seed)
    steps, L, n = 25, 5, 3
    pipe = RePaintPipeline(unet3, RePaintScheduler()); pipe.set_progress_bar_config(disable=True)
    ref = pipe(img, keep, num_inference_steps=steps, eta=eta, jump_length=L, jump_n_sample=n,
               generator=torch.Generator().manual_seed(seed), output_type='np').images
    ref = torch.from_numpy(ref).permute(0, 3, 1, 2) * 2 - 1           # the pipeline's (x/2+0.5).clamp(0,1), undone
    sched = Schedule.create(steps=steps, grid='leading')
    ours = repaint(fn(unet3), img, keep, sched, PerImageRNG([seed]), L, n, rule='diffusers', eta=eta)
    assert ours.abs().max() <= 1                                        # so the pipeline's clamp was a no-op
    d = (ours - ref).abs().max().item()
    print(f'eta={eta} seed={seed}: max |ours - pipeline| = {d:.2e}')
    assert d < 1e-4
    assert torch.equal(ours[keep.expand_as(ours) > 0], img[keep.expand_as(img) > 0])   # exact known pixels


def test_jump_times_equal_scheduler():
    for cfg in [(250, 10, 10), (250, 10, 5), (100, 10, 10), (50, 5, 5), (250, 10, 1), (25, 5, 3), (40, 3, 4)]:
        rs = RePaintScheduler(); rs.set_timesteps(*cfg)
        assert [t * (1000 // cfg[0]) for t in jump_times(*cfg)[:-1]] == rs.timesteps.tolist()


def test_ddpm_learned_range_one_step(unet6):
    "One learned-range step: our mean/variance equal DDPMScheduler's deterministic part and its noise term."
    sched = Schedule.create(steps=250)
    ddpm = DDPMScheduler(variance_type='learned_range', clip_sample=True)
    ddpm.set_timesteps(timesteps=sched.timesteps.flip(0).tolist())
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    for i in (249, 120, 1):
        t = int(sched.timesteps[i])
        with torch.no_grad(): out = unet6(x, t).sample
        mean, logvar, x0 = sched.p_mean_variance(out, x, i, 'learned_range', True)
        # diffusers' deterministic part: step with a generator whose noise we also draw ourselves
        g = torch.Generator().manual_seed(9)
        res = ddpm.step(out, t, x, generator=g)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
        assert (res.pred_original_sample - x0).abs().max() < 1e-5
        dlogvar = ddpm._get_variance(t, predicted_variance=out[:, 3:])   # learned range: diffusers' log variance
        dmean = res.prev_sample - torch.exp(0.5 * dlogvar) * noise        # diffusers' deterministic part
        scale = max(1., mean.abs().max().item())
        print(f'i={i}: mean {(dmean - mean).abs().max().item() / scale:.1e} (rel), log var {(dlogvar - logvar).abs().max().item():.1e}')
        assert (dmean - mean).abs().max() < 1e-4 * scale
        # diffusers forms beta = 1 - abar_t / abar_prev in float32 (cancellation: ~1e-4 relative at small t),
        # which enters both the mean coefficients and the log variance
        assert (dlogvar - logvar).abs().max() < 1e-3
        assert (sched.p_sample(out, x, i, noise)[0] - res.prev_sample).abs().max() < 1e-3 * scale


def test_sample_matches_ddpm_loop(unet6):
    "Whole 10-step guided-grid runs agree (DDPM draws noise only at t > 0, after the start noise: same order)."
    sched = Schedule.create(steps=10)
    ddpm = DDPMScheduler(variance_type='learned_range', clip_sample=True)
    ddpm.set_timesteps(timesteps=sched.timesteps.flip(0).tolist())
    g = torch.Generator().manual_seed(11)
    x = torch.randn(1, 3, 32, 32, generator=g)
    with torch.no_grad():
        for t in ddpm.timesteps: x = ddpm.step(unet6(x, t).sample, t, x, generator=g).prev_sample
    ours = sample(fn(unet6), (3, 32, 32), sched, PerImageRNG([11]))
    assert (ours - x).abs().max() < 1e-4


@pytest.mark.parametrize('kw', [dict(rule='repaint', variance='learned_range'), dict(rule='diffusers', eta=1.0),
                                dict(rule='repaint', variance='fixed_large')])
def test_repaint_batch_invariance(unet6, kw):
    img, keep = inputs(3, 7)
    sched = Schedule.create(steps=12, grid='leading' if kw['rule'] == 'diffusers' else 'guided')
    seeds = [21, 22, 23]
    batch = repaint(fn(unet6), img, keep, sched, PerImageRNG(seeds), 3, 2, **kw)
    for k in range(3):
        alone = repaint(fn(unet6), img[k:k + 1], keep[k:k + 1], sched, PerImageRNG(seeds[k:k + 1]), 3, 2, **kw)
        assert (alone[0] - batch[k]).abs().max() < 1e-5
    other = repaint(fn(unet6), img, keep, sched, PerImageRNG([s + 1 for s in seeds]), 3, 2, **kw)
    assert not torch.equal(other, batch)
    # the hole's content is never read
    scrambled = torch.where(keep > 0, img, torch.randn_like(img))
    assert torch.equal(repaint(fn(unet6), scrambled, keep, sched, PerImageRNG(seeds), 3, 2, **kw), batch)


def test_sample_batch_invariance(unet6):
    sched = Schedule.create(steps=8)
    batch = sample(fn(unet6), (3, 32, 32), sched, PerImageRNG([1, 2, 3]))
    for k in range(3):
        alone = sample(fn(unet6), (3, 32, 32), sched, PerImageRNG([k + 1]))
        assert (alone[0] - batch[k]).abs().max() < 1e-5
    assert batch.abs().max() <= 1
