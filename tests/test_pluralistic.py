"""Pluralistic port: published container format, errors, an independent functional re-statement of the blocks,
deterministic spectral norm, the shipped toy weights and deterministic toy training."""
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dolos.core import DataError, data_root
from dolos.generators.core import build_generator, check_generator, toy_inputs
from dolos.generators.pluralistic import (CELEBA_RANDOM, TOY_CONFIG, PluralisticEncoder, PluralisticGenerator,
                                          PluralisticInpainter, count_keys_params, load_published, load_toy_weights,
                                          pluralistic_sample, read_published, toy_weights_path)
from dolos.generators.toytrain import train_toy_pluralistic
from dolos.toyworld import build_toyworld, read_manifest, toyworld_manifest

SMALL = dict(resolution=32, ngf=8, img_f=16, z_nc=8, layers=4, enc_blocks=2, gen_blocks=1, output_scale=3, use_attn=True)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def published(tmp_path_factory):
    "Random SMALL-config weights written as the original writes them: DataParallel state dicts via torch.save."
    d = tmp_path_factory.mktemp('celeba_random')
    torch.manual_seed(1)
    E, G = PluralisticEncoder(SMALL), PluralisticGenerator(SMALL)
    with torch.no_grad():        # non-zero attention mixing weights, so the attention terms matter
        G.attn1.gamma.fill_(0.6); G.attn1.alpha.fill_(1.4)
    for n, m in (('E', E), ('G', G)): torch.save(nn.DataParallel(m).state_dict(), d/f'latest_net_{n}.pth')
    return d, E, G


def _same_state(a, b): return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_full_size_counts_on_meta():
    with torch.device('meta'):
        E, G = PluralisticEncoder(CELEBA_RANDOM), PluralisticGenerator(CELEBA_RANDOM)
    assert count_keys_params(E) == (312, 3_635_614, 3_604_224)     # 3.64 M with the u/v vectors
    assert count_keys_params(G) == (224, 2_399_558, 2_374_016)     # 2.40 M


def test_published_container_roundtrip(published):
    d, E, G = published
    raw = torch.load(d/'latest_net_E.pth', weights_only=True)
    assert all(k.startswith('module.') for k in raw) and 'module.encoder0.conv1.module.weight_bar' in raw
    assert 'module.encoder0.model.1.module.weight_bar' in raw          # the same tensor under its second name
    E2, G2 = load_published(d/'latest_net_E.pth', d/'latest_net_G.pth', SMALL)
    assert _same_state(E2.state_dict(), E.state_dict()) and _same_state(G2.state_dict(), G.state_dict())
    assert not E2.training and not G2.training
    for w in (str(d), (d/'latest_net_E.pth', d/'latest_net_G.pth')):
        gen = build_generator('pluralistic', device='cpu', weights=w, net_config=SMALL)
        assert gen.resolution == 32 and gen.net_config == SMALL
    check_generator(gen)


def test_loader_errors(published, tmp_path):
    d, E, _ = published
    e, g = d/'latest_net_E.pth', d/'latest_net_G.pth'
    with pytest.raises(DataError, match=r"latest_net_E\.pth .*shape mismatches .*posterior\.conv2\.module\.bias: file "
                                        r"\(16,\) vs model \(32,\)"):
        load_published(e, g, dict(SMALL, z_nc=16))
    torch.save(torch.load(e, weights_only=True), tmp_path/'latest_net_E.pth')
    torch.save({**torch.load(g, weights_only=True), 'module.attn1.gamma': torch.zeros(2)}, tmp_path/'latest_net_G.pth')
    with pytest.raises(DataError, match=r"latest_net_G\.pth .*shape mismatches \(1\): attn1\.gamma: file \(2,\) vs model \(1,\)"):
        build_generator('pluralistic', weights=str(tmp_path), net_config=SMALL)
    with pytest.raises(DataError, match=r"shape mismatches .*: file .* vs model"):
        build_generator('pluralistic', weights=str(d))                  # published config on small files
    raw = torch.load(e, weights_only=True)
    bad = {k: v for k, v in raw.items() if '.infer_prior1.' not in k}
    torch.save(bad, tmp_path/'missing_E.pth')
    with pytest.raises(DataError, match=r"missing_E\.pth .*missing keys \(\d+\): infer_prior1\.conv1\.module\.bias, "):
        load_published(tmp_path/'missing_E.pth', g, SMALL)
    torch.save({**raw, 'module.extra.weight': torch.zeros(2)}, tmp_path/'extra_E.pth')
    with pytest.raises(DataError, match=r"extra_E\.pth .*unexpected keys \(1\): extra\.weight"):
        load_published(tmp_path/'extra_E.pth', g, SMALL)
    torch.save([torch.zeros(1)], tmp_path/'list.pth')
    with pytest.raises(DataError, match=r"list\.pth: expected a state dict"):
        read_published(tmp_path/'list.pth')
    torch.save(nn.Linear(2, 2), tmp_path/'pickled_module.pth')                    # not loadable weights-only
    with pytest.raises(DataError, match=r"pickled_module\.pth: refused by torch\.load\(weights_only=True\)"):
        read_published(tmp_path/'pickled_module.pth')
    with pytest.raises(DataError, match=r"nothing\.pth: checkpoint not found"):
        read_published(tmp_path/'nothing.pth')
    with pytest.raises(DataError, match=r"missing\.safetensors: weights file not found"):
        build_generator('pluralistic', weights=str(tmp_path/'missing.safetensors'))


# ---- an independent re-statement of the published forward pass, with functional ops on the file's tensors ----

def _sn(sd, name):
    "Weight after one power iteration from the stored u (the original's first forward after loading), and bias."
    w, u = sd[name + '.module.weight_bar'], sd[name + '.module.weight_u']
    W = w.reshape(w.shape[0], -1)
    v = W.t() @ u; v = v / (v.norm() + 1e-12)
    u2 = W @ v; u2 = u2 / (u2.norm() + 1e-12)
    return w / (u2 @ W @ v), sd[name + '.module.bias']


def _lr(t, s=0.1): return F.leaky_relu(t, s)


def _stem(sd, p, x):
    h = F.avg_pool2d(F.conv2d(_lr(F.conv2d(x, *_sn(sd, p + 'conv1'), padding=1)), *_sn(sd, p + 'conv2'), padding=1), 2)
    return h + F.conv2d(F.avg_pool2d(x, 2), *_sn(sd, p + 'bypass'))


def _res(sd, p, x, down=False, slope=0.1):
    h = F.conv2d(_lr(F.conv2d(_lr(x, slope), *_sn(sd, p + 'conv1'), padding=1), slope), *_sn(sd, p + 'conv2'), padding=1)
    b = F.conv2d(x, *_sn(sd, p + 'bypass'))
    return F.avg_pool2d(h, 2) + F.avg_pool2d(b, 2) if down else h + b


def _dec(sd, p, x):
    def inorm(t, i): return F.instance_norm(t, weight=sd[f'{p}model.{i}.weight'], bias=sd[f'{p}model.{i}.bias'], eps=1e-5)
    h = F.conv2d(_lr(inorm(x, 0)), *_sn(sd, p + 'conv1'), padding=1)
    h = F.conv_transpose2d(_lr(inorm(h, 3)), *_sn(sd, p + 'conv2'), stride=2, padding=1, output_padding=1)
    return h + F.conv_transpose2d(x, *_sn(sd, p + 'bypass'), stride=2, padding=1, output_padding=1)


def _out(sd, p, x): return torch.tanh(F.conv2d(F.pad(_lr(x), (1, 1, 1, 1), mode='reflect'), *_sn(sd, p + 'conv1')))


def _attn(sd, p, x, pre, keep):
    B, C, H, W = x.shape
    q = F.conv2d(x, sd[p + 'query_conv.weight'], sd[p + 'query_conv.bias']).reshape(B, -1, H * W)
    A = torch.softmax(torch.einsum('bcn,bcm->bnm', q, q), -1)
    short = sd[p + 'gamma'] * torch.einsum('bcm,bnm->bcn', x.reshape(B, C, -1), A).reshape(B, C, H, W) + x
    long_ = torch.einsum('bcm,bnm->bcn', pre.reshape(B, C, -1), A).reshape(B, C, H, W)
    ctx = sd[p + 'alpha'] * (1 - keep) * long_ + keep * pre
    return _res(sd, p + 'model.', torch.cat([short, ctx], 1), slope=0.01)


def _reference_sample(sdE, sdG, cfg, x, keep, noise):
    "The whole test-time pass of the SMALL model (layers 4, enc_blocks 2, gen_blocks 1, output_scale 3)."
    xm = keep * x
    f = [_stem(sdE, 'block0.', xm)]
    for i in range(3): f.append(_res(sdE, f'encoder{i}.', f[-1], down=True))
    h = f[-1]
    for i in range(2): h = _res(sdE, f'infer_prior{i}.', h)
    mu, s = _res(sdE, 'prior.', h).split(cfg['z_nc'], 1)
    z = mu + F.softplus(s) * noise
    out = _res(sdG, 'generator0.', _res(sdG, 'generator.', z)) + f[-1]
    keep_e = F.interpolate(keep, size=f[1].shape[-2:], mode='bilinear', align_corners=True)
    for i in range(4):
        out = _dec(sdG, f'decoder{i}.', out)
        if i == 1: out = _attn(sdG, 'attn1.', out, f[1], keep_e)
        if i >= 1:
            img = _out(sdG, f'out{i}.', out); out = torch.cat([out, img], 1)
    return img


def test_matches_independent_restatement(published):
    d, _, _ = published
    sdE, sdG = read_published(d/'latest_net_E.pth'), read_published(d/'latest_net_G.pth')
    E, G = load_published(d/'latest_net_E.pth', d/'latest_net_G.pth', SMALL)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    keep = torch.ones(2, 1, 32, 32); keep[0, :, 8:20, 10:26] = 0; keep[1, :, 16:30, 2:14] = 0
    noise = torch.randn(2, 8, 2, 2, generator=g)
    with torch.no_grad():
        feat = torch.randn(2, 16, 8, 8, generator=g)
        assert (E.encoder1(feat) - _res(sdE, 'encoder1.', feat, down=True)).abs().max() < 1e-5
        y = torch.randn(2, 19, 8, 8, generator=g)
        assert (G.decoder2(y) - _dec(sdG, 'decoder2.', y)).abs().max() < 1e-5
        k8 = (torch.rand(2, 1, 8, 8, generator=g) > 0.4).float()
        assert (G.attn1(feat, feat.flip(0), k8) - _attn(sdG, 'attn1.', feat, feat.flip(0), k8)).abs().max() < 1e-5
        ours, ref = pluralistic_sample(E, G, x, keep, noise), _reference_sample(sdE, sdG, SMALL, x, keep, noise)
    assert ours.shape == (2, 3, 32, 32) and (ours - ref).abs().max() < 1e-5


def test_spectral_norm_is_frozen_in_eval(published):
    d, _, _ = published
    gen = build_generator('pluralistic', device='cpu', weights=str(d), net_config=SMALL)
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    x, m, s = toy_inputs(3, 32)
    a, b = gen(x, m, s), gen(x, m, s)
    assert torch.equal(a, b)
    assert _same_state(gen.state_dict(), before)                          # loaded u, v untouched
    assert not torch.equal(a, gen(x, m, [v + 1 for v in s]))               # the seed matters


def test_masks_are_one_is_fake(published):
    "The library's 1 = fake becomes the model's 1 = known, and no flips: the result equals the direct call."
    d, _, _ = published
    gen = build_generator('pluralistic', device='cpu', weights=str(d), net_config=SMALL)
    x, m, s = toy_inputs(2, 32, seed=4)
    out = gen(x, m, s)
    from dolos.generators.core import PerImageRNG
    noise = PerImageRNG(s).randn(8, 2, 2)
    direct = (pluralistic_sample(gen.net_E, gen.net_G, x * 2 - 1, 1 - m, noise) + 1) / 2
    expect = torch.where(m.bool(), direct.clamp(0, 1), x)
    assert (out - expect).abs().max() < 1e-6
    assert torch.equal(gen(x, torch.zeros_like(m), s), x)               # nothing fake: the input comes back


def test_shipped_toy_weights():
    p = toy_weights_path()
    assert p.is_file() and p.stat().st_size <= 2.5e6
    E, G, meta = load_toy_weights(p)
    assert meta['config'] == TOY_CONFIG and meta['training']['steps'] == 1200
    from safetensors import safe_open
    with safe_open(str(p), 'pt') as f: assert {f.get_slice(k).get_dtype() for k in f.keys()} == {'F16'}
    gen = build_generator('pluralistic', device='cpu')
    assert gen.resolution == 64 and gen.weights == 'toy'
    check_generator(gen)
    with pytest.raises(DataError, match='works at 64x64 only'): gen(*toy_inputs(1, 32))
    with pytest.raises(DataError, match='differs from the config stored'): PluralisticInpainter('toy', net_config=SMALL)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    for r in (data_root(), Path('/work/toydata')):
        if r.is_dir() and read_manifest(r) == toyworld_manifest(0): return r
    r = tmp_path_factory.mktemp('toyworld')
    build_toyworld(r, seed=0, counts={'train': 8, 'valid': 0, 'test': 1}, workers=2)
    return r


def test_toy_training_is_deterministic(toy_root, tmp_path):
    runs = [train_toy_pluralistic(toy_root, tmp_path/f'{i}.safetensors', steps=2, seed=s, limit=8, log_every=1)
            for i, s in enumerate((3, 3, 4))]
    from safetensors import safe_open
    def content(i):   # tensors and metadata (the byte order of the metadata in the header is not fixed)
        with safe_open(str(tmp_path/f'{i}.safetensors'), 'pt') as f: return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    (ma, a), (mb, b), (mc, c) = content(0), content(1), content(2)
    assert ma == mb and _same_state(a, b)
    assert not _same_state(a, c)
    assert runs[0]['final_loss'] == runs[1]['final_loss'] and runs[0]['steps'] == 2 and runs[0]['images'] == 8
    assert torch.get_num_threads() == 1                                  # restored to the fixture's setting
    gen = build_generator('pluralistic', device='cpu', weights=str(tmp_path/'0.safetensors'))
    assert gen.training_record['seed'] == 3
