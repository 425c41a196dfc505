"""Execute notebooks in place so their small example outputs stay in the docs.

Usage: python tools/execute_nb.py nbs/00_core.ipynb [...]. Runs each notebook from nbs/ with execnb
(what `nbdev_test` uses), saves the outputs, then `nbdev_clean` should be run.
"""
import os, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

for p in sys.argv[1:]:
    p = Path(p).resolve()
    nb = read_nb(p)
    cwd = os.getcwd(); os.chdir(p.parent)
    try:
        sh = CaptureShell()
        sh.run_all(nb, exc_stop=True)
    finally: os.chdir(cwd)
    write_nb(nb, p)
    print('executed', p.name)
