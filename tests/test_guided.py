"""Heavier checks of dolos.generators.guided: the full P2 network converts exactly; edge configs; dtype; copies."""
import json, math

import pytest
import torch

from dolos.core import DataError
from dolos.generators.guided import (P2_UNET, GuidedUNet, convert_guided_state_dict, diffusers_unet_config,
                                     load_guided_unet)

TINY = dict(image_size=32, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
            attention_resolutions=(16,), channel_mult=(1, 2, 2), num_head_channels=16)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _guided(cfg, seed=0):
    "A GuidedUNet with random, non-trivial weights everywhere (norms and zero-initialised convs included)."
    torch.manual_seed(seed)
    m = GuidedUNet(cfg).eval()
    with torch.no_grad():
        for p in m.parameters(): p.add_(torch.randn_like(p) * (0.2 if p.ndim == 1 else 0.5 / math.sqrt(p[0].numel())))
    return m


def test_full_p2_exact_at_64px():
    "The real P2 architecture (93.56 M params) with random weights: converted diffusers output == reference output."
    g = _guided(P2_UNET)
    assert sum(p.numel() for p in g.parameters()) == 93_563_910  # 93.56 M, as published
    u = load_guided_unet(g.state_dict())
    x, t = torch.randn(2, 3, 64, 64), torch.tensor([3, 999])  # fully convolutional: 64 px is enough to exercise every block
    with torch.no_grad(): a, b = g(x, t), u(x, t).sample
    assert a.shape == (2, 6, 64, 64)
    assert a.abs().mean() > 0.1
    assert (a - b).abs().max() < 1e-5  # observed ~1e-6 with outputs of order 1


@pytest.mark.parametrize('extra', [dict(attention_resolutions=(16, 8)),              # attention also at the deepest level
                                   dict(attention_resolutions=[32], num_res_blocks=2),  # top level, JSON-style list
                                   dict(out_channels=3, num_head_channels=32)])        # no learned sigma, 1-2 heads
def test_tiny_variants_exact(extra):
    cfg = json.loads(json.dumps({**TINY, **extra}))  # lists instead of tuples, as read back from metadata
    g = _guided(cfg, seed=2)
    u = load_guided_unet(g.state_dict(), cfg)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(): torch.testing.assert_close(u(x, torch.tensor([10, 700])).sample, g(x, [10, 700]), atol=1e-5, rtol=0)


def test_dtype_and_no_shared_storage():
    g = _guided(TINY)
    sd = g.state_dict()
    u = load_guided_unet(sd, TINY, dtype=torch.bfloat16)
    assert {p.dtype for p in u.parameters()} == {torch.bfloat16}
    u32 = load_guided_unet(sd, TINY)
    assert not any(p.is_meta for p in u32.parameters())
    with torch.no_grad(): u32.conv_in.weight.zero_()
    assert sd['input_blocks.0.0.weight'].abs().sum() > 0  # the caller's tensors are untouched


def test_converter_rejects_unknown_keys_and_bad_config():
    g = GuidedUNet(TINY)
    with pytest.raises(DataError, match='label_emb.weight'):
        convert_guided_state_dict({**g.state_dict(), 'label_emb.weight': torch.zeros(3, 128)}, TINY)
    with pytest.raises(DataError, match='resblock_updown'):
        diffusers_unet_config({**P2_UNET, 'resblock_updown': False})
    with pytest.raises(DataError, match='num_head_channels'):
        GuidedUNet({**TINY, 'num_head_channels': 24})


def test_many_errors_are_listed_with_a_count(tmp_path):
    sd = {k: v[..., :1] if v.ndim == 4 else v for k, v in GuidedUNet(TINY).state_dict().items()}
    torch.save(sd, tmp_path/'shapes.pt')
    with pytest.raises(DataError, match=r'shapes\.pt.*shape mismatches \(\d+\): .*, \.\.\. \(\d+ more\)'):
        load_guided_unet(tmp_path/'shapes.pt', TINY)
