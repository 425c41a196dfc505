#!/usr/bin/env python3
"""Make tests/data/pscc_reference.safetensors: the outputs of the AUTHORS' PSCC-Net code on seeded weights.

Run once by a developer, beside a checkout of github.com/proteus1991/PSCC-Net (MIT; not part of dolos and
never copied into it), with `yacs` importable:  python tools/pscc_reference.py /path/to/PSCC-Net
The test (tests/test_pscc.py) writes the same seeded weights in the published checkpoint format, loads them
with dolos' port and compares its outputs with the ones stored here."""
import sys
from pathlib import Path
import numpy as np
import torch

repo = Path(sys.argv[1]).resolve()
root = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(repo), str(root/'tests'), str(root)]
np.int = int                                   # the authors' HRNet uses np.int, gone from numpy >= 1.24
from models.seg_hrnet import HighResolutionNet
from models.seg_hrnet_config import get_hrnet_cfg
from models.NLCDetection import NLCDetection
from models.detection_head import DetectionHead
from pscc_seeded import seeded_state, seeded_input
from dolos.core import save_safetensors

out = {}
for crop in (32, 48):                           # 48: the heads resize the features to the crop first
    args = {'crop_size': [crop, crop]}
    nets = [HighResolutionNet(get_hrnet_cfg()), NLCDetection(args), DetectionHead(args)]
    for seed, net in enumerate(nets): net.load_state_dict(seeded_state(net, seed)); net.eval()
    with torch.no_grad():
        feats = nets[0](seeded_input())
        masks = nets[1](feats)
        out[f'crop{crop}/logits'] = nets[2](feats)
        for i, m in enumerate(masks, 1): out[f'crop{crop}/mask{i}'] = m
out['input'] = seeded_input()
dst = Path(__file__).resolve().parents[1]/'tests'/'data'/'pscc_reference.safetensors'
save_safetensors(out, dst, {'source': 'github.com/proteus1991/PSCC-Net @ 53e5ff7 (authors\' code), seeded weights: tests/pscc_seeded.py'})
print(dst, {k: tuple(v.shape) for k, v in out.items()})
