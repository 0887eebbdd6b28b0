# `make test` works on a fresh machine: it creates .venv, installs the project with
# its test extras, then runs ruff, mypy --strict and the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install postgres-bin lint typecheck pytest test bench bench-storage example clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

# The PostgreSQL tests start a throwaway server from the machine's PostgreSQL binaries
# (tests/pgcluster.py); install them where they are missing, unless the tests are
# pointed at an existing server with PYMETRIX_TEST_POSTGRES_URL.
postgres-bin:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
		|| [ -n "$$PYMETRIX_TEST_POSTGRES_URL" ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) postgres-bin
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

bench-storage: $(STAMP) postgres-bin
	$(BIN)/python benchmarks/bench_storage.py

example: $(STAMP)
	$(BIN)/python examples/quickstart.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
