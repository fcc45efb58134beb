# Two entry points, both self-contained on a fresh machine with Python 3.11:
#   make demo   create .venv, install newsbench, run the default ablation, print the report, draw its figures
#   make test   create .venv, install newsbench with its test extras, run the test suite
# A Makefile because the install step is a real dependency: it reruns only when pyproject.toml or
# constraints.txt change, and both targets share it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# Runs in parallel processes, one torch thread each (a run's thread count is part of its identity, so the records
# are the same whatever WORKERS is); at most 4, since each process holds the dataset and features.
WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: demo test install clean

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# constraints.txt pins the CPU build of torch; the package itself only asks for a range.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/newsbench ablate --workers $(WORKERS) --plots

test: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
