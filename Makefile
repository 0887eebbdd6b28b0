# `make test` works on a fresh machine: it creates .venv, installs the project with
# its test extras, then runs ruff, mypy --strict and the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint typecheck pytest test bench bench-http example clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

# HTTP overhead of the middleware against plain FastAPI and a peer, under wrk.
bench-http: $(STAMP)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python benchmarks/bench_http.py

example: $(STAMP)
	$(BIN)/python examples/quickstart.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
