"""Execute notebooks in place so their small example outputs stay in the docs.

Usage: python tools/execute_nb.py nbs/00_core.ipynb [...]. Runs each notebook from nbs/ with execnb
(what `nbdev_test` uses), saves the outputs, then `nbdev_clean` should be run. Cells flagged `#| slow`
or `#| gpu` are skipped (as `nbdev_test` skips them); pass --all to run them too.
"""
import re
import os, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

run_flagged = '--all' in sys.argv
FLAG = re.compile(r'^\s*#\s*\|\s*(slow|gpu)\s*$', re.M)
def skip(cell): return not run_flagged and cell.cell_type == 'code' and bool(FLAG.search(cell.source))

for p in [a for a in sys.argv[1:] if a != '--all']:
    p = Path(p).resolve()
    nb = read_nb(p)
    cwd = os.getcwd(); os.chdir(p.parent)
    try:
        sh = CaptureShell()
        sh.run_all(nb, exc_stop=True, preproc=skip)
    finally: os.chdir(cwd)
    write_nb(nb, p)
    print('executed', p.name)
