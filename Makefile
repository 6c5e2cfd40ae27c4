# linkgate: the two commands of the quick start are `make demo` and `make test`.
# Each installs what it needs (a virtual environment in .venv, and for the tests Debian's chromium and
# axe-core from npm) and then runs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-dev system-deps lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

system-deps:
	bash scripts/install-test-deps.sh

demo: install
	$(BIN)/linkgate demo

test: install-dev system-deps
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install-dev
	$(BIN)/python benchmarks/gate.py
	$(BIN)/python benchmarks/privacy_accuracy.py

clean:
	rm -rf $(VENV) node_modules dist build .pytest_cache .mypy_cache .ruff_cache
