# linkgate: the two commands of the quick start are `make demo` and `make test`.
# Each installs what it needs (a virtual environment in .venv, and for the tests Debian's chromium and
# axe-core from npm) and then runs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test check install install-dev system-deps lint bench messages clean

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

# The suite runs twice: on SQLite (a file per server), then on PostgreSQL (127.0.0.1:5432, database test;
# a schema per server), where the multi-server and outage tests run too. Off CI, an unreachable
# PostgreSQL makes the second run's database tests skip with the reason; under CI it fails them.
test: install-dev system-deps
	@started=$$(date +%s); $(BIN)/python -m pytest -q --durations=20; status=$$?; \
	  echo "test: SQLite pass in $$(( $$(date +%s) - started )) s"; exit $$status
	@started=$$(date +%s); LINKGATE_TEST_DATABASE=postgresql $(BIN)/python -m pytest -q --durations=20; status=$$?; \
	  echo "test: PostgreSQL pass in $$(( $$(date +%s) - started )) s"; exit $$status

# The inner loop: the linters and every test that runs in this process (no gunicorn, no browser), on
# SQLite, in about a minute.
check: install-dev lint
	$(BIN)/python -m pytest -q -m "not server and not browser"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# After changing a visitor string: refresh the template and every catalogue, then translate what is new
# (the next install compiles the catalogues; tests/test_language.py fails while anything is untranslated).
messages: install-dev
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --width 110 \
	  --project linkgate --copyright-holder "Missoula County" -o linkgate/translations/messages.pot .
	$(BIN)/pybabel update -i linkgate/translations/messages.pot -d linkgate/translations --width 110 \
	  --no-fuzzy-matching --ignore-obsolete

bench: install-dev
	$(BIN)/python benchmarks/gate.py
	$(BIN)/python benchmarks/privacy_accuracy.py

clean:
	rm -rf $(VENV) node_modules dist build .pytest_cache .mypy_cache .ruff_cache
