# `make test` works on a fresh machine: it creates .venv, installs the project with
# its test extras, then runs ruff, mypy --strict and the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: install lint typecheck pytest test bench example demo chromium docs-screenshot clean

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

pytest: $(STAMP) chromium
	$(BIN)/pytest

# The dashboard's browser tests drive Debian's Chromium (Playwright's own browser
# download is not used): installed through apt when missing and running as root.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "the browser tests need Chromium at $(CHROMIUM): sudo apt-get install chromium" >&2; \
			exit 1; \
		fi; \
	fi

# A sample site with synthetic visitors and the dashboard, until Ctrl-C.
demo: $(STAMP)
	$(BIN)/pymetrix demo

# Refreshes the README's screenshot of the dashboard.
docs-screenshot: $(STAMP) chromium
	PYMETRIX_DOCS_SCREENSHOT=1 $(BIN)/pytest tests/web/test_dashboard_browser.py -k aggregate_chart

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

example: $(STAMP)
	$(BIN)/python examples/quickstart.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-artifacts
