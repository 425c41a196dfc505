"""Keep README.md in sync with nbs/index.ipynb, and the experiment notebooks' result cells with figures/.

`python tools/readme.py` rewrites README.md from the notebook (quarto, which `nbdev_readme` needs, cannot
be installed here) and fills the result cells; `--check` exits 1 when either differs.
README: markdown cells are copied as they are; code cells become ```python fences; `#| hide` cells are left out.
Result cells: a markdown cell whose first line is `<!-- result: figures/<notebook>/<file> -->` shows that
committed file, below the marker: a Markdown table (`.md`) as it is, an image (`.png`) as an image link.
The rest of the cell is generated, so the page cannot drift from what a run wrote.
"""
import json, os, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r'<!-- result: (\S+) -->')

def render(nb_path=ROOT/'nbs'/'index.ipynb'):
    cells = json.loads(Path(nb_path).read_text())['cells']
    out = []
    for c in cells:
        src = ''.join(c['source']).strip()
        if not src: continue
        if c['cell_type'] == 'markdown': out.append(src.replace('](../', ']('))   # result cells link from nbs/; the README sits one level up
        elif c['cell_type'] == 'code':
            lines = src.splitlines()
            if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
            code = '\n'.join(l for l in lines if not l.startswith('#|'))
            out.append(f'```python\n{code}\n```')
    return '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n' + '\n\n'.join(out) + '\n'

def result_text(rel:str, nb_dir:Path=ROOT/'nbs')->str:
    "The markdown of a result cell showing the committed file `rel` (relative to the project root)."
    path, link = ROOT/rel, Path(os.path.relpath(ROOT/rel, nb_dir)).as_posix()
    head = f'<!-- result: {rel} -->\n*[`{rel}`]({link}), as committed (filled in by `tools/readme.py`):*\n\n'
    if not path.is_file(): return head + '*(not written yet: run `dolos_reproduce`)*'
    if path.suffix == '.md': return head + path.read_text(encoding='utf-8').strip()
    if path.suffix in ('.png', '.svg', '.jpg'): return head + f'![{path.stem}]({link})'
    sys.exit(f'{rel}: a result cell shows .md tables or .png/.svg/.jpg images')

def fill_results(nb_path:Path, skip=())->str|None:
    "The notebook's text with its result cells filled in from figures/ (but those showing a file in `skip`), or None when they already are."
    text = Path(nb_path).read_text(encoding='utf-8')
    nb, changed = json.loads(text), False
    for c in nb['cells']:
        m = MARKER.match(''.join(c['source'])) if c['cell_type'] == 'markdown' else None
        if not m or m.group(1) in skip: continue
        new = result_text(m.group(1), Path(nb_path).parent)
        if ''.join(c['source']) != new: c['source'], changed = new.splitlines(keepends=True), True
    # the layout nbdev_clean writes (execnb's nb2str), so a filled notebook stays clean
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n' if changed else None

def result_notebooks()->list:
    return sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if '<!-- result: ' in p.read_text(encoding='utf-8'))

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    filled = {p: fill_results(p) for p in result_notebooks()}
    stale = [p.relative_to(ROOT) for p, t in filled.items() if t is not None]
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit('README.md differs from nbs/index.ipynb: run `python tools/readme.py`')
        if stale: sys.exit(f'result cells of {", ".join(map(str, stale))} differ from figures/: run `python tools/readme.py`')
    else:
        for p, t in filled.items():
            if t is not None: p.write_text(t, encoding='utf-8')
        readme.write_text(render())   # after the result cells: the README shows index's filled ones
