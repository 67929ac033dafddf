# crmflow: the command runner for people and CI alike. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run worker test migrate verify lint bench seed clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crmflow needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install crmflow with its dev tools

run: $(STAMP) ## migrate, seed the demo on first start, serve API + worker on :8000
	$(BIN)/crmflow serve --seed-demo

worker: $(STAMP) ## run a standalone worker (API started with RUN_WORKER_IN_API=false)
	$(BIN)/crmflow worker

test: $(STAMP) ## run the whole test suite (embedded PostgreSQL unless TEST_DATABASE_URL)
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

clean: ## remove the virtualenv and local data (.data holds the embedded database)
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
