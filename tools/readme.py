"""Keep README.md in sync with nbs/index.ipynb (quarto, which `nbdev_readme` needs, cannot be installed here).

`python tools/readme.py` rewrites README.md from the notebook; `--check` exits 1 when they differ.
Markdown cells are copied as they are; code cells become ```python fences; `#| hide` cells are left out.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb'):
    cells = json.loads(Path(nb_path).read_text())['cells']
    out = []
    for c in cells:
        src = ''.join(c['source']).strip()
        if not src: continue
        if c['cell_type'] == 'markdown': out.append(src)
        elif c['cell_type'] == 'code':
            lines = src.splitlines()
            if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
            code = '\n'.join(l for l in lines if not l.startswith('#|'))
            out.append(f'```python\n{code}\n```')
    return '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n' + '\n\n'.join(out) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit('README.md differs from nbs/index.ipynb: run `python tools/readme.py`')
    else: readme.write_text(text)
