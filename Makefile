# Two commands do all set-up on a fresh machine (Python >= 3.10 with pip and venv):
#   make reproduce   regenerate every table and figure of the study on the embedded toy world
#   make test        run the whole test suite (what CI runs)
# Both create or reuse a project-local venv (override with VENV=/some/path).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SEED ?= 0

.PHONY: install test sync-check nbtest study pytest reproduce toyworld readme bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip setuptools wheel

# (Re)install the package with its dev extras, at the exact versions of constraints.txt (the ones the
# committed figures were made with); pip is quick when everything is already there.
install: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]" -c constraints.txt

# Notebooks and library must agree, and notebooks must be clean.
sync-check: install
	@before="$$(git status --porcelain -- nbs dolos README.md)"; \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean && $(BIN)/python tools/readme.py; \
	after="$$(git status --porcelain -- nbs dolos README.md)"; \
	if [ "$$before" != "$$after" ]; then echo "nbdev_export/nbdev_clean/readme changed files: commit the synced notebooks and library"; git status --short -- nbs dolos README.md; exit 1; fi; \
	echo "notebooks, library and README in sync"

# Every notebook's tests, two at a time, except the experiment notebooks (04-09): `study` runs those once, in order.
nbtest: install
	$(BIN)/nbdev_test --n_workers 2 --timing --skip_file_re '^([_.]|0[4-9]_)'

# The experiment notebooks on the toy profile, as `make reproduce` runs them (each asserts its learning floors).
study: install
	$(BIN)/dolos_reproduce

pytest: install
	$(BIN)/python -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

test: sync-check nbtest study pytest

toyworld: install
	$(BIN)/dolos_toyworld --root data --seed $(SEED)

# The whole study on the toy profile: the toy world and its fake sets (made if missing), then the
# experiment notebooks 04-09 with papermill; tables and figures in figures/, executed notebooks in runs/.
reproduce: install
	$(BIN)/dolos_reproduce

readme: install
	$(BIN)/python tools/readme.py

bench: install
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf runs _proc _docs
