# `make test` works on a fresh machine: it creates .venv, installs the project with
# its test extras, then runs ruff, mypy --strict and the whole test suite. `make demo`
# installs only what the demo needs (the web extra).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-web
CHROMIUM := /usr/bin/chromium
NODE_STAMP := node_modules/.installed

.PHONY: install postgres-bin chromium npm lint typecheck pytest test bench bench-all bench-storage bench-rollups bench-dashboard bench-clickhouse bench-scale bench-http bench-web lighthouse example demo docs-screenshot clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[web]'
	touch $(DEMO_STAMP)

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

pytest: $(STAMP) postgres-bin chromium $(NODE_STAMP)
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

# The browser tests check the dashboard with axe-core, a test-time tool: npm installs
# the version package-lock.json pins into node_modules/ (nothing of it ships).
npm:
	@command -v npm >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; \
		else \
			echo "the browser tests need npm (Node.js): sudo apt-get install npm" >&2; \
			exit 1; \
		fi; \
	}

$(NODE_STAMP): package.json package-lock.json | npm
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# A sample site with synthetic visitors and the dashboard, until Ctrl-C.
demo: $(DEMO_STAMP)
	$(BIN)/pymetrix demo

# Refreshes the README's screenshot of the dashboard.
docs-screenshot: $(STAMP) chromium
	PYMETRIX_DOCS_SCREENSHOT=1 $(BIN)/pytest tests/web/test_dashboard_browser.py -k aggregate_chart

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

bench-storage: $(STAMP) postgres-bin
	$(BIN)/python benchmarks/bench_storage.py

# Rollups: loading 10,000,000 hits, reads at N and N/10 hits, the writer with and
# without them (about 10 minutes; HITS=1000000 to try it).
HITS ?= 10000000
bench-rollups: $(STAMP) postgres-bin
	$(BIN)/python benchmarks/bench_rollups.py --hits $(HITS)

# The dashboard in Chromium over N and N/10 hits: time to first chart, bytes per refresh
# and per live update, JS heap (about 13 minutes; HITS=1000000 to try it, about 5).
bench-dashboard: $(STAMP) postgres-bin chromium
	$(BIN)/python benchmarks/bench_dashboard.py --hits $(HITS)


# ClickHouse (chDB, in this process) against PostgreSQL and SQLite: ingest from one
# process and reads over 30 days (HITS=1000000 to try it).
bench-clickhouse: $(STAMP) postgres-bin
	$(BIN)/python benchmarks/bench_clickhouse.py --hits $(HITS)

# N simulated app hosts (processes) writing into one store, N = 1, 2, 4.
bench-scale: $(STAMP) postgres-bin
	$(BIN)/python benchmarks/bench_scale.py

# Every performance target in one table (about 12 minutes; QUICK=1: about 5).
bench-all: $(STAMP) postgres-bin
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python benchmarks/bench_all.py $(if $(QUICK),--quick)

# HTTP overhead of the middleware against plain FastAPI, Flask and Django and their
# Prometheus exporters, under wrk.
bench-http: $(STAMP)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python benchmarks/bench_http.py

bench-web: $(STAMP)
	$(BIN)/python benchmarks/bench_web.py

# Lighthouse over the demo's live dashboard, as a desktop and as a phone (a few minutes).
lighthouse: $(DEMO_STAMP) chromium npm
	PYMETRIX=$(BIN)/pymetrix CHROME_PATH=$(CHROMIUM) benchmarks/lighthouse.sh

example: $(STAMP)
	$(BIN)/python examples/quickstart.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-artifacts node_modules benchmarks/lighthouse/node_modules
