"""LaMa port (dolos.generators.lama): published key layout, forward pass vs an independent functional
re-statement, best.ckpt / TorchScript formats written with random weights, errors, toy weights, toy training."""
import pickle, sys, types, warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dolos.core import DataError
from dolos.generators.core import build_generator, check_generator, toy_inputs
from dolos.generators.lama import (BIG_LAMA, TOY_LAMA, TOY_WEIGHTS, Inert, LamaComposite, LamaInpainter, build_lama,
                                   check_arch, generator_state, is_torchscript, pad_to_multiple,
                                   read_lama_safetensors, read_lightning_checkpoint, restricted_load)
from dolos.generators.toytrain import train_toy_lama

SMALL = dict(TOY_LAMA, ngf=8, n_blocks=2)


def randomise(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in net.state_dict().items():
            if v.is_floating_point():
                v.copy_(torch.rand(v.shape, generator=g) + 0.5 if k.endswith('running_var') else 0.2 * torch.randn(v.shape, generator=g))
    return net


class DictConfig:
    "Stands in for omegaconf.DictConfig: registered under a fake module only while a checkpoint is written."
    def __init__(self, content): self._content = content
    def __setstate__(self, state): raise RuntimeError('the unpickler ran code of the checkpoint')


class ListLike(list):
    "A list subclass: pickled with APPENDS onto an instance of a class the reader must not import."


def write_lightning_ckpt(net, path, **extra):
    sd = {f'generator.{k}': v for k, v in net.state_dict().items()}
    sd.update({'discriminator.model0.0.ffc.convl2l.weight': torch.randn(64, 3, 3, 3),
               'discriminator.model4.0.weight': torch.randn(1, 512, 3, 3),
               'loss_resnet_pl.impl.conv1.weight': torch.randn(64, 3, 7, 7)})
    mod = types.ModuleType('fake_omegaconf')
    for cls in (DictConfig, ListLike): cls.__module__ = 'fake_omegaconf'; setattr(mod, cls.__name__, cls)
    sys.modules['fake_omegaconf'] = mod
    try:
        torch.save({'epoch': 39, 'global_step': 1_000_000, 'pytorch-lightning_version': '1.2.9', 'state_dict': sd,
                    'hyper_parameters': DictConfig({'generator': {'n_blocks': 2}, 'layers': ListLike([1, 2, 3])}), **extra}, path)
    finally:
        del sys.modules['fake_omegaconf']
    return path


@pytest.fixture(scope='module')
def net():
    return randomise(build_lama(SMALL))


@pytest.fixture(scope='module')
def ckpt(net, tmp_path_factory):
    return write_lightning_ckpt(net, tmp_path_factory.mktemp('lama')/'best.ckpt')


# (d) full size, on the meta device
def test_big_lama_layout():
    big = build_lama(BIG_LAMA, device='meta')
    sd = big.state_dict()
    assert len(sd) == 989
    assert sum(p.numel() for p in big.parameters()) == 50_975_875
    assert tuple(sd['model.4.ffc.convl2g.weight'].shape) == (384, 256, 3, 3)
    assert tuple(sd['model.22.conv2.ffc.convg2g.fu.conv_layer.weight'].shape) == (384, 384, 1, 1)
    assert tuple(sd['model.34.weight'].shape) == (3, 64, 7, 7) and 'model.34.bias' in sd
    assert sum(k.endswith('num_batches_tracked') for k in sd) == 152   # stem 1 + down 4 + 18 blocks x 8 + up 3


# (c) an independent functional re-statement of the published layer list
def _bn(p, pre, x):
    return F.batch_norm(x, p[pre + 'running_mean'], p[pre + 'running_var'], p[pre + 'weight'], p[pre + 'bias'], False, 0., 1e-5)

def _fourier(p, pre, x):
    X = torch.fft.rfft2(x, norm='ortho')
    z = torch.zeros(X.shape[0], 2 * X.shape[1], *X.shape[2:])
    z[:, 0::2], z[:, 1::2] = X.real, X.imag
    z = F.relu(_bn(p, pre + 'bn.', F.conv2d(z, p[pre + 'conv_layer.weight'])))
    return torch.fft.irfft2(torch.complex(z[:, 0::2], z[:, 1::2]), s=x.shape[-2:], norm='ortho')

def _ffc_layer(p, pre, xl, xg):
    c3 = lambda x, w: F.conv2d(F.pad(x, (1, 1, 1, 1), mode='reflect'), w)
    f = pre + 'ffc.'
    s = F.relu(_bn(p, f + 'convg2g.conv1.1.', F.conv2d(xg, p[f + 'convg2g.conv1.0.weight'])))
    yg = c3(xl, p[f + 'convl2g.weight']) + F.conv2d(s + _fourier(p, f + 'convg2g.fu.', s), p[f + 'convg2g.conv2.weight'])
    yl = c3(xl, p[f + 'convl2l.weight']) + c3(xg, p[f + 'convg2l.weight'])
    return F.relu(_bn(p, pre + 'bn_l.', yl)), F.relu(_bn(p, pre + 'bn_g.', yg))

def _block(p, pre, xl, xg):
    al, ag = _ffc_layer(p, pre + 'conv1.', xl, xg)
    bl, bg = _ffc_layer(p, pre + 'conv2.', al, ag)
    return xl + bl, xg + bg

def _generator(p, a, x):
    nd, nb = a['n_downsampling'], a['n_blocks']
    x = F.relu(_bn(p, 'model.1.bn_l.', F.conv2d(F.pad(x, (3,) * 4, mode='reflect'), p['model.1.ffc.convl2l.weight'])))
    for i in range(nd):
        f, xp = f'model.{2 + i}.', F.pad(x, (1,) * 4, mode='reflect')
        x = xl = F.relu(_bn(p, f + 'bn_l.', F.conv2d(xp, p[f + 'ffc.convl2l.weight'], stride=2)))
        if i == nd - 1: xg = F.relu(_bn(p, f + 'bn_g.', F.conv2d(xp, p[f + 'ffc.convl2g.weight'], stride=2)))
    for b in range(nb): xl, xg = _block(p, f'model.{2 + nd + b}.', xl, xg)
    x, j = torch.cat([xl, xg], 1), 2 + nd + nb + 1
    for i in range(nd):
        x = F.conv_transpose2d(x, p[f'model.{j}.weight'], p[f'model.{j}.bias'], stride=2, padding=1, output_padding=1)
        x, j = F.relu(_bn(p, f'model.{j + 1}.', x)), j + 3
    return torch.sigmoid(F.conv2d(F.pad(x, (3,) * 4, mode='reflect'), p[f'model.{j + 1}.weight'], p[f'model.{j + 1}.bias']))

def test_matches_functional_restatement(net):
    p = net.state_dict()
    xl, xg = torch.randn(2, 16, 6, 9), torch.randn(2, 48, 6, 9)
    with torch.no_grad():
        for ours, ref in zip(net.model[6]((xl, xg)), _block(p, 'model.6.', xl, xg)):
            assert (ours - ref).abs().max() <= 1e-5
        x = torch.rand(2, 4, 32, 48)
        assert (net(x) - _generator(p, SMALL, x)).abs().max() <= 1e-5


def test_fft_in_fp32_under_autocast(net):
    x = torch.rand(1, 4, 24, 40)
    with torch.no_grad():
        ref = net(x)
        with torch.autocast('cpu', dtype=torch.bfloat16): low = net(x)
    assert torch.isfinite(low).all() and (low.float() - ref).abs().max() < 0.05


# (a) the Lightning best.ckpt layout
def test_lightning_checkpoint(net, ckpt):
    with pytest.raises(pickle.UnpicklingError): torch.load(ckpt, weights_only=True)
    raw = read_lightning_checkpoint(ckpt)
    assert 'fake_omegaconf' not in sys.modules
    hp = raw['hyper_parameters']
    assert isinstance(hp, Inert) and hp.pickled_as == 'fake_omegaconf.DictConfig'
    assert hp.state['_content']['generator'] == {'n_blocks': 2}
    assert hp.state['_content']['layers'].elements == [1, 2, 3]
    assert raw['epoch'] == 39 and raw['pytorch-lightning_version'] == '1.2.9'
    gs = generator_state(raw, str(ckpt))
    assert sorted(gs) == sorted(net.state_dict()) and all(torch.equal(gs[k], v) for k, v in net.state_dict().items())
    assert torch.equal(raw['state_dict']['discriminator.model4.0.weight'],
                       restricted_load(ckpt)['state_dict']['discriminator.model4.0.weight'])
    gen = LamaInpainter(ckpt, arch=SMALL)
    x, m, s = toy_inputs(2, 40)
    with torch.no_grad(): native = LamaComposite(net)(pad_to_multiple(x), pad_to_multiple(m))[..., :40, :40]
    assert torch.equal(gen(x, m, s), torch.where(m.bool(), native.clamp(0, 1), x))
    check_generator(gen, stochastic=False)


def test_plain_checkpoint_uses_weights_only(net, tmp_path):
    path = tmp_path/'plain.ckpt'
    torch.save({'state_dict': {f'generator.{k}': v for k, v in net.state_dict().items()}, 'epoch': 1}, path)
    torch.load(path, weights_only=True)                       # loads the safe way, no fallback needed
    x, m, s = toy_inputs(2, 24)
    assert torch.equal(LamaInpainter(path, arch=SMALL)(x, m, s), LamaInpainter(write_lightning_ckpt(net, tmp_path/'l.ckpt'), arch=SMALL)(x, m, s))


# (b) a TorchScript file with the published forward(image, mask) contract
def test_torchscript(net, ckpt, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(LamaComposite(net), (torch.rand(1, 3, 32, 32), (torch.rand(1, 1, 32, 32) > 0.7).float()),
                                 check_trace=False)
    traced.save(str(tmp_path/'big-lama.pt'))
    assert is_torchscript(tmp_path/'big-lama.pt') and not is_torchscript(ckpt)
    jit = LamaInpainter(tmp_path/'big-lama.pt')
    x, m, s = toy_inputs(2, 48, seed=3)
    x, m = x[..., :40, :], m[..., :40, :]                    # another size than the trace, not a multiple of 8
    assert (jit(x, m, s) - LamaInpainter(ckpt, arch=SMALL)(x, m, s)).abs().max() <= 1e-5
    with pytest.raises(DataError, match='leave arch=None'): LamaInpainter(tmp_path/'big-lama.pt', arch=SMALL)
    with pytest.raises(DataError, match='TorchScript'): read_lightning_checkpoint(tmp_path/'big-lama.pt')


# (e) bad files
def _edited(net, path, edit):
    sd = {f'generator.{k}': v for k, v in net.state_dict().items()}
    edit(sd)
    torch.save({'state_dict': sd}, path)
    return path

def test_errors(net, ckpt, tmp_path):
    wrong = _edited(net, tmp_path/'wrong.ckpt', lambda sd: sd.update({'generator.model.1.ffc.convl2l.weight': torch.zeros(9, 4, 7, 7)}))
    with pytest.raises(DataError) as e: LamaInpainter(wrong, arch=SMALL)
    assert str(wrong) in str(e.value) and 'model.1.ffc.convl2l.weight: file (9, 4, 7, 7) vs model (8, 4, 7, 7)' in str(e.value)
    missing = _edited(net, tmp_path/'missing.ckpt', lambda sd: sd.pop('generator.model.6.conv2.ffc.convg2g.fu.conv_layer.weight'))
    with pytest.raises(DataError, match=r'missing keys \(1\): model\.6\.conv2\.ffc\.convg2g\.fu\.conv_layer\.weight'):
        LamaInpainter(missing, arch=SMALL)
    extra = _edited(net, tmp_path/'extra.ckpt', lambda sd: sd.update({'generator.model.99.weight': torch.zeros(3)}))
    with pytest.raises(DataError, match=r'unexpected keys \(1\): model\.99\.weight'): LamaInpainter(extra, arch=SMALL)
    with pytest.raises(DataError, match=r'file \(8, 4, 7, 7\) vs model \(64, 4, 7, 7\)'): LamaInpainter(ckpt)   # big-lama config
    nogen = tmp_path/'nogen.ckpt'; torch.save({'state_dict': {'discriminator.w': torch.zeros(1)}}, nogen)
    with pytest.raises(DataError, match="found prefixes \\['discriminator'\\]"): LamaInpainter(nogen)
    junk = tmp_path/'junk.ckpt'; junk.write_bytes(b'not a checkpoint')
    with pytest.raises(DataError, match='not a zip-format'): LamaInpainter(junk)
    with pytest.raises(DataError, match='not found'): LamaInpainter(tmp_path/'absent.ckpt')
    with pytest.raises(DataError, match=r"unknown key\(s\) \['nfg'\]"): check_arch({'nfg': 8})
    nbt = _edited(net, tmp_path/'nbt.ckpt', lambda sd: [sd.pop(k) for k in list(sd) if k.endswith('num_batches_tracked')])
    x, m, s = toy_inputs(1, 16)
    assert torch.equal(LamaInpainter(nbt, arch=SMALL)(x, m, s), LamaInpainter(ckpt, arch=SMALL)(x, m, s))


# the shipped toy weights and the generator contract
def test_toy_generator():
    assert TOY_WEIGHTS.stat().st_size <= 2.5e6
    arch, sd, meta = read_lama_safetensors(TOY_WEIGHTS)
    assert arch == TOY_LAMA and meta['steps'] == 700 and meta['seed'] == 0
    assert all(v.dtype == torch.float16 for v in sd.values() if v.is_floating_point())
    gen = build_generator('lama', device='cpu')
    assert gen.config() == {'name': 'lama', 'weights': 'toy', 'arch': TOY_LAMA}
    check_generator(gen, stochastic=False)
    x, m, s = toy_inputs(3, 36)
    assert torch.equal(gen(x, m, s), gen(x, m, [v + 1 for v in s]))          # deterministic: the seed is unused
    with pytest.raises(DataError, match='differs'): LamaInpainter('toy', arch={'ngf': 32})


def test_pad_to_multiple():
    x = torch.rand(2, 3, 13, 21)
    assert torch.equal(pad_to_multiple(x), torch.from_numpy(np.pad(x.numpy(), ((0, 0), (0, 0), (0, 3), (0, 3)), mode='symmetric')))
    assert torch.equal(pad_to_multiple(x, mode='reflect'), F.pad(x, (0, 3, 0, 3), mode='reflect'))
    assert pad_to_multiple(torch.rand(1, 1, 2, 3)).shape == (1, 1, 8, 8)


def test_train_toy_lama_deterministic(tmp_path):
    from dolos.toyworld import build_toyworld
    build_toyworld(tmp_path/'toy', seed=0, counts={'train': 4, 'valid': 0, 'test': 0})
    kw = dict(steps=2, bs=2, arch=dict(TOY_LAMA, ngf=8, n_blocks=1), max_images=4)
    threads = torch.get_num_threads()
    a = train_toy_lama(tmp_path/'toy', tmp_path/'a.safetensors', seed=0, **kw)
    b = train_toy_lama(tmp_path/'toy', tmp_path/'b.safetensors', seed=0, **kw)
    c = train_toy_lama(tmp_path/'toy', tmp_path/'c.safetensors', seed=1, **kw)
    assert torch.get_num_threads() == threads
    assert a['path'].read_bytes() == b['path'].read_bytes() != c['path'].read_bytes()
    gen = LamaInpainter(a['path'])
    assert gen.arch == check_arch(kw['arch']) and gen.meta['steps'] == 2
