"""A generation job for tests/test_generate.py (run plain or under `accelerate launch`).

Registers `test-slow-harmonic`: the harmonic inpainter plus a pause of $GEN_JOB_SLEEP seconds per batch (the pause
changes nothing in the result; it gives the kill test time to kill). Usage: gen_job.py <dolos_generate arguments>
"""
import os, sys, time
from dolos.generators.core import register_generator
from dolos.generators.harmonic import HarmonicInpainter
from dolos.fakesets import dolos_generate_cli

@register_generator
class SlowHarmonic(HarmonicInpainter):
    name = 'test-slow-harmonic'
    def inpaint(self, images, masks, rng):
        time.sleep(float(os.environ.get('GEN_JOB_SLEEP', '0')))
        return super().inpaint(images, masks, rng)

if __name__ == '__main__': dolos_generate_cli(sys.argv[1:])
