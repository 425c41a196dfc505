"""A 2-process data-parallel training job for tests/test_train.py (run under `accelerate launch`).

Trains (1) `tiny-test`, a detector without batch-norm, through `dolos.train.train`, and (2) a real
Patches detector through the `dolos_train` command line. Usage: dist_train_job.py ROOT OUT_TINY OUT_PATCHES
"""
import sys
from pathlib import Path
import torch, torch.nn.functional as F
from torch import nn
from dolos.detectors.core import Detector, register_detector
import dolos.train as T

@register_detector
class TinyTest(Detector):
    "Two convolutions and no batch-norm: data-parallel training must equal single-process training."
    method, supervisions = 'tiny-test', ('weak', 'full')
    def __init__(self, supervision='full'):
        super().__init__(supervision)
        self.c1, self.c2 = nn.Conv2d(3, 4, 4, stride=4), nn.Conv2d(4, 2, 1)
    def forward(self, x): return (self.c2(F.relu(self.c1(x))),)
    def loss(self, out, mask, label):
        (z,) = out
        t = F.interpolate(mask, z.shape[-2:], mode='nearest-exact')[:, 0].long() if self.supervision == 'full' \
            else label[:, None, None].expand(-1, *z.shape[-2:])
        return F.cross_entropy(z.float(), t)
    def postprocess(self, out):
        p = out[0].softmax(1)[:, 1]; return p.mean((1, 2)), p
    def map_size(self, size): return (size // 4, size // 4)

def tiny_config(**kw):
    return T.make_config('tiny-test', 'C', 'toy', size=16, bs=4, epochs=2, epoch_len=3, **kw)

if __name__ == '__main__':
    root, out_tiny, out_patches = sys.argv[1:4]
    T.train(tiny_config(), out_tiny, root=root, num_workers=0, quiet=True)
    rc = T.dolos_train_cli(['--method', 'patches', '--setup', 'A', '--profile', 'toy', '--root', root, '--out', out_patches,
                            '--size', '32', '--bs', '4', '--epochs', '1', '--epoch-len', '2', '--workers', '0', '--quiet'])
    sys.exit(rc)
