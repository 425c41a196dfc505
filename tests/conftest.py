"""Helpers shared by the test files: how a test runs a console script as a user does."""
import os, shutil, subprocess, sys
from pathlib import Path


def console_command(name:str)->list[str]:
    "The command that runs console script `name` (`dolos_X`): the installed script if there is one, else its entry point `dolos.X:dolos_X_cli` through this interpreter."
    exe = Path(sys.executable).parent/name
    if exe.is_file(): return [str(exe)]
    found = shutil.which(name)
    if found: return [found]
    mod, fn = 'dolos.' + name.removeprefix('dolos_'), f'{name}_cli'
    return [sys.executable, '-c', f'import sys; from {mod} import {fn}; sys.exit({fn}())']


def run_console(name:str, *args, timeout:float=300, **env)->subprocess.CompletedProcess:
    "Run console script `name` with `args` in a fresh process, `env` added to the environment; its exit status, stdout and stderr."
    return subprocess.run(console_command(name) + [str(a) for a in args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)
