"Project-level checks: README in sync with the index notebook, console scripts resolve, CI runs the README's test command."
import configparser, importlib, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_readme_matches_index_notebook():
    sys.path.insert(0, str(ROOT/'tools'))
    import readme
    assert (ROOT/'README.md').read_text() == readme.render(), 'README.md drifted from nbs/index.ipynb: run python tools/readme.py'

def test_console_scripts_resolve():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    scripts = [s.strip() for s in cfg['DEFAULT']['console_scripts'].splitlines() if s.strip()]
    assert scripts
    for s in scripts:
        name, target = s.split('=')
        mod, fn = target.split(':')
        assert callable(getattr(importlib.import_module(mod), fn)), f'{name} -> {target} is not callable'

def test_ci_runs_readme_test_command():
    readme, ci = (ROOT/'README.md').read_text(), (ROOT/'.ci'/'run').read_text()
    assert 'make test' in readme and 'make test' in ci

def test_console_script_help_runs():
    for exe in ('dolos_data', 'dolos_toyworld'):
        r = subprocess.run([str(Path(sys.executable).parent/exe), '--help'], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
