"""Seeded PSCC-Net weights, the same on every machine and torch version (numpy's PCG64, not torch's RNG):
shared by tests/test_pscc.py and tools/pscc_reference.py, which made tests/data/pscc_reference.safetensors."""
import numpy as np
import torch

def seeded_state(module:torch.nn.Module, seed:int)->dict:
    "A state dict for `module` with every tensor drawn from `numpy.random.default_rng(seed)` in sorted key order, scaled to keep activations finite."
    rng, out = np.random.default_rng(seed), {}
    for k, v in sorted(module.state_dict().items()):   # sorted: the same draws whatever order a port registers its tensors in
        if k.endswith('num_batches_tracked'): out[k] = torch.tensor(7); continue
        a = rng.standard_normal(tuple(v.shape)).astype(np.float32)
        if k.endswith('running_var'): a = np.abs(a) + 0.5
        elif k.endswith('weight') and v.ndim > 1: a /= np.sqrt(np.prod(v.shape[1:]))
        else: a *= 0.1
        out[k] = torch.from_numpy(a)
    return out

def seeded_input(seed:int=9, size:int=32)->torch.Tensor:
    "A fixed image batch `(1, 3, size, size)` in [0, 1]."
    return torch.from_numpy(np.random.default_rng(seed).random((1, 3, size, size)).astype(np.float32))
