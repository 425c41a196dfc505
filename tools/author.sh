#!/usr/bin/env bash
# Authoring aid: turn a jupytext percent-format draft into a notebook under nbs/, export, execute, clean.
#   tools/author.sh draft.py nbs/NAME.ipynb      (needs `pip install jupytext` in the venv)
set -euo pipefail
src=$1; dst=$2
.venv/bin/jupytext --quiet --to ipynb "$src" -o "$dst"
.venv/bin/nbdev_export
.venv/bin/python tools/execute_nb.py "$dst"
.venv/bin/nbdev_clean --fname "$dst"
