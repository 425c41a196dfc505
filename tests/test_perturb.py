"""Perturbations are deterministic: the same bytes in two separate processes (the noise included)."""
import hashlib, subprocess, sys

SCRIPT = '''
import hashlib, io, numpy as np
from PIL import Image
from dolos.perturb import perturb, perturbation_grid
img = Image.fromarray((np.random.default_rng(3).random((33, 47, 3)) * 255).astype(np.uint8))
h = hashlib.sha256()
for kind, s in perturbation_grid()[1:]: h.update(np.asarray(perturb(img, kind, s, seed=5, key='x.png')).tobytes())
print(h.hexdigest())
'''

def test_same_bytes_in_two_processes():
    runs = [subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True, check=True).stdout.strip() for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0]) == 64
