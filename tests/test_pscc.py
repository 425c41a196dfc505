"""PSCC-Net: dolos' port against the authors' network, through their published checkpoint format."""
import tempfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dolos.core import DataError
from dolos.detectors.core import build_detector
from dolos.detectors.pscc import PSCCNet, PSCC_FILES, load_pscc_published, pscc_checkpoint_path
from pscc_seeded import seeded_state, seeded_input

REFERENCE = Path(__file__).parent/'data'/'pscc_reference.safetensors'

def _published(root:Path, det:PSCCNet)->Path:
    "Seeded weights written exactly as the authors publish them: one torch.save'd DataParallel state dict per part."
    parts = {'features': det.features.net, 'localizer': det.localizer, 'head': det.head}
    for seed, (part, name) in enumerate(PSCC_FILES.items()):
        sd = seeded_state(parts[part], seed)
        path = pscc_checkpoint_path(root, name); path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(OrderedDict((f'module.{k}', v) for k, v in sd.items()), path)
    return root

@pytest.mark.parametrize('crop', [32, 48])
def test_port_matches_the_authors_network(crop, tmp_path):
    ref = load_file(str(REFERENCE))
    torch.testing.assert_close(ref['input'], seeded_input())            # the fixture's input is the one made here
    det = load_pscc_published(PSCCNet(crop=crop), _published(tmp_path/'checkpoint', PSCCNet())).eval()
    with torch.no_grad(): logits, *masks = det(seeded_input() * 2 - 1)  # dolos inputs are in [-1, 1]
    torch.testing.assert_close(logits, ref[f'crop{crop}/logits'], rtol=1e-4, atol=1e-5)
    for i, m in enumerate(masks, 1): torch.testing.assert_close(m, ref[f'crop{crop}/mask{i}'], rtol=1e-4, atol=1e-5)
    score, soft = det.predict(seeded_input() * 2 - 1)
    torch.testing.assert_close(score, ref[f'crop{crop}/logits'].softmax(1)[:, 1], rtol=1e-4, atol=1e-5)
    assert soft.shape == (1, crop, crop)

def test_registered_and_rebuilt_from_config():
    det = build_detector('pscc', 'full', crop=256)
    assert det.config() == {'method': 'pscc', 'supervision': 'full', 'crop': 256, 'class_weights': [1.0, 1.0]}

def test_a_wrong_file_is_named(tmp_path):
    root = _published(tmp_path/'checkpoint', PSCCNet())
    bad = pscc_checkpoint_path(root, 'DetectionHead')
    sd = torch.load(bad, weights_only=True); sd['module.classifier.2.weight'] = torch.zeros(3, 16); torch.save(sd, bad)
    with pytest.raises(DataError, match=r'DetectionHead.pth: tensors do not match PSCCDetectionHead; shape mismatches \(1\): classifier.2.weight'):
        load_pscc_published(PSCCNet(), root)
    torch.save({'net': print}, bad)
    with pytest.raises(DataError, match='refused by torch.load'): load_pscc_published(PSCCNet(), root)
    (root/'HRNet_checkpoint'/'HRNet.pth').unlink()
    with pytest.raises(DataError, match='HRNet.pth'): load_pscc_published(PSCCNet(), root)
