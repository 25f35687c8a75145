# Everything starts from a plain Python 3 with pip: each target makes .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Subprocesses (pytester runs) inherit this and write their data beside ours.
COVER := COVERAGE_FILE=$(CURDIR)/.coverage COVERAGE_RCFILE=$(CURDIR)/pyproject.toml

.PHONY: demo test lint docs minimum bench wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: run the examples; show the passing ones and the failing ones with their diagnostics
demo: $(STAMP)
	$(BIN)/python examples/demo.py

## test: lint and docs, then the whole suite under both pytest-twisted reactors (the default
## one on two pytest-xdist workers) with branch coverage, gated: 100% of the core, 95% in all
test: lint docs
	rm -f .coverage .coverage.*
	$(COVER) $(BIN)/python -m coverage run -m pytest --reactor=default -n 2
	$(COVER) $(BIN)/python -m coverage run -m pytest --reactor=asyncio
	$(BIN)/python -m coverage combine -q
	$(BIN)/python -m coverage report --fail-under=95
	$(BIN)/python -m coverage report --include='*/pytest_tcpclient/core/*' --fail-under=100

## minimum: the suite on two workers with the lowest versions pyproject.toml claims
## (constraints/minimum.txt), in a virtual environment of its own
MINIMUM := .venv-minimum
$(MINIMUM)/.installed: pyproject.toml constraints/minimum.txt
	$(PYTHON) -m venv $(MINIMUM)
	PIP_CONSTRAINT=$(CURDIR)/constraints/minimum.txt $(MINIMUM)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

minimum: $(MINIMUM)/.installed
	$(MINIMUM)/bin/python -m pytest -q -p no:cacheprovider --reactor=default -n 2
	$(MINIMUM)/bin/python -m pytest -q -p no:cacheprovider --reactor=asyncio -n 2

## lint: ruff, and mypy --strict on src/
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: the plugin against raw Twisted and raw asyncio, side by side
bench: $(STAMP)
	$(BIN)/python bench/run.py

## docs: the documentation site (Sphinx), into docs/_build/html; warnings are errors
docs: $(STAMP) docs/requirements.txt
	$(BIN)/python -m pip install --quiet -r docs/requirements.txt
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

wheel: $(STAMP)
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) $(MINIMUM) dist build .coverage .coverage.* src/*.egg-info docs/_build
