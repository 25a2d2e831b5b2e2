# Two commands on a fresh machine: `make demo` and `make test` (the whole suite, as CI runs it).
# `make test-fast` skips the tests marked slow and spreads the rest over the cores (pytest-xdist):
# the check to run before every commit.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,baselines,report,ray,gpu,all]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25  # the 25 slowest tests, so every CI log says where the time goes

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -n auto --dist loadgroup

demo: $(STAMP)
	$(BIN)/python -m autocomp.demo

clean:
	rm -rf $(VENV) .pytest_cache  # never runs/: it holds every stored result (user data)
