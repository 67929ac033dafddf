# crmflow: the command runner for people and CI alike. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install browser run worker test migrate verify lint bench seed status stop clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crmflow needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install crmflow with its dev tools

browser: ## Debian's chromium + chromium-driver for the console's browser tests (apt-get, where missing)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

run: $(STAMP) ## migrate, seed the demo on first start, serve API + worker on :8000
	$(BIN)/crmflow serve --seed-demo

worker: $(STAMP) ## run a standalone worker (API started with RUN_WORKER_IN_API=false)
	$(BIN)/crmflow worker

test: $(STAMP) browser ## run the whole test suite (embedded PostgreSQL unless TEST_DATABASE_URL)
	$(BIN)/pytest

migrate: $(STAMP) ## apply pending migrations to the configured database
	$(BIN)/crmflow migrate

verify: $(STAMP) ## check the live database equals the declared schema, cascades included
	$(BIN)/crmflow migrate
	$(BIN)/python scripts/verify_schema.py

lint: $(STAMP) ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tables scripts

bench: $(STAMP) ## run the throughput/latency benchmark (scripts/bench.py)
	$(BIN)/python scripts/bench.py

seed: $(STAMP) ## load the demo tenant (idempotent)
	$(BIN)/python scripts/seed_demo.py

status: $(STAMP) ## database, pending migrations, queue depth, workers seen lately
	$(BIN)/crmflow status

stop: ## stop the embedded PostgreSQL of .data left running (refuses while crmflow uses it)
	@if [ -x $(BIN)/crmflow ]; then $(BIN)/crmflow stop; \
	else for d in .data/pg .data/pg-test; do \
	  [ -f $$d/postmaster.pid ] && kill -INT "$$(head -1 $$d/postmaster.pid)" 2>/dev/null; done; true; fi

clean: ## remove the virtualenv and local data (refuses while a server runs on .data)
	@for d in .data/pg .data/pg-test; do \
	  if [ -f $$d/postmaster.pid ] && kill -0 "$$(head -1 $$d/postmaster.pid)" 2>/dev/null; then \
	    echo "a PostgreSQL server runs on $$d: stop crmflow (Ctrl-C), then make stop" >&2; exit 1; \
	  fi; done
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
