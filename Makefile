# users-service: every target creates the virtual environment it needs.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The PostgreSQL server the tests create their own database on.
export TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
PYTEST := $(BIN)/pytest

.PHONY: help install run migrate revision test test-unit test-contract test-integration \
        test-api test-e2e test-reliability lint docs lock fmt import-demo bench clean

help: ## List the targets
	@color=; reset=; if [ -t 1 ]; then color='\033[36m'; reset='\033[0m'; fi; \
	awk -v host="$(HOST)" -v port="$(PORT)" -v color="$$color" -v reset="$$reset" \
	    'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / { \
	        text = $$2; gsub(/\$$\(HOST\)/, host, text); gsub(/\$$\(PORT\)/, port, text); \
	        printf "  %s%-18s%s %s\n", color, $$1, reset, text }' $(MAKEFILE_LIST)

LOCK := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
# mypy sees src under its import name through this link (see pyproject.toml).
TYPECHECK_TREE := build/typecheck/users_service

# Exactly the locked versions (hash-checked), then the service itself, editable.
$(STAMP): pyproject.toml setup.py $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

install: $(STAMP) ## Create .venv and install the locked dependencies and the service

lock: $(STAMP) ## Re-resolve requirements/*.lock (hashed, every platform): dev, runtime (with the otel extra), build
	$(BIN)/uv pip compile pyproject.toml --extra otel --universal --python-version 3.11 \
	    --generate-hashes --no-header --quiet -o $(RUNTIME_LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	    --generate-hashes --no-header --quiet -o $(LOCK)
	$(BIN)/uv pip compile requirements/build.in --universal --python-version 3.11 \
	    --generate-hashes --no-header --quiet -o requirements/build.lock

$(TYPECHECK_TREE):
	@mkdir -p $(@D)
	@ln -sfn ../../src $@

run: $(STAMP) ## Migrate and serve on http://$(HOST):$(PORT) (embedded SQLite unless DATABASE_URL says otherwise)
	LOG_FORMAT=$${LOG_FORMAT:-console} $(BIN)/users-service migrate
	$(BIN)/users-service serve --host $(HOST) --port $(PORT) --dev

migrate: $(STAMP) ## Apply every migration to DATABASE_URL
	$(BIN)/users-service migrate

revision: $(STAMP) ## New Alembic revision: make revision m="what it does"
	@test -n "$(m)" || (echo 'usage: make revision m="message"' && exit 2)
	$(BIN)/alembic revision --autogenerate -m "$(m)"

test: $(STAMP) ## Every test layer
	$(PYTEST) tests

test-unit: $(STAMP) ## Use cases and domain on the in-memory adapter
	$(PYTEST) tests/unit

test-contract: $(STAMP) ## The repository contract against every adapter
	$(PYTEST) tests/contract

test-integration: $(STAMP) ## Migrations and adapter specifics on SQLite and PostgreSQL
	$(PYTEST) tests/integration

test-api: $(STAMP) ## The HTTP contract, in process
	$(PYTEST) tests/api

test-e2e: $(STAMP) ## A real server process over real HTTP
	$(PYTEST) tests/e2e

test-reliability: $(STAMP) ## Races, database faults, hostile input, schemathesis, graceful shutdown
	$(PYTEST) tests/reliability

lint: $(STAMP) $(TYPECHECK_TREE) ## ruff, format, mypy --strict, import-linter, hadolint, kubernetes-validate, docs links
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict $$(ls deploy/kubernetes/*.yaml | grep -v kustomization.yaml)
	$(BIN)/python tools/check_links.py

docs: $(STAMP) ## Write docs/configuration.md from the code's Settings
	$(BIN)/python tools/configuration_page.py

fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

import-demo: $(STAMP) ## Generate 100,000 users (a few of them invalid or repeated) and import them into DATABASE_URL, with progress
	@mkdir -p var
	$(BIN)/python -c 'import csv, gzip, sys; w = csv.writer(gzip.open("var/demo-users.csv.gz", "wt", newline="")); w.writerow(["email", "name"]); w.writerows((f"demo{i}@example.com" if i % 997 else "not-an-email", f"Demo User {i}") for i in range(100_000)); w.writerows([("Demo1@Example.com", "a repeat")])'
	$(BIN)/users-service migrate
	$(BIN)/users-service import var/demo-users.csv.gz --rejects var/demo-rejects.csv || test $$? -eq 1
	@echo "rejected rows: var/demo-rejects.csv"

bench: $(STAMP) ## Benchmark the service against a raw asyncpg ceiling (and through PgBouncer) with wrk; writes BENCHMARKS.md
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	@[ "$${BENCH_INSTRUCTIONS:-on}" = off ] || command -v valgrind >/dev/null || \
	    (apt-get update && apt-get install -y valgrind)
	@[ "$${BENCH_PGBOUNCER:-on}" = off ] || [ -x /usr/sbin/pgbouncer ] || \
	    (apt-get update && apt-get install -y pgbouncer)
	$(BIN)/python bench/run.py

clean: ## Remove the virtual environment, caches and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache build *.egg-info src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
