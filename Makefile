# Run `make help` for the list. Everything installs into this checkout: .venv, and uv in .tools
# when it is not on PATH.
SHELL := bash
.DEFAULT_GOAL := help
.PHONY: help install run serve test lint typecheck lock-check format pytest coverage audit django-tests test-container hooks migrate db-status db-stop openapi types bench bench-orm bench-cluster bench-faults bench-pools clean

HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT
# The Python that .python-version asks for (pyenv shims and uv both read it), else any 3.12+.
PYTHON ?= $(shell for p in python3.12 python3.13 python3.14 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS ?= never

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.tools/bin/uv:
	@test -n "$(PYTHON)" || { echo "error: Python 3.12 or newer is needed (python3.12 on PATH)"; exit 1; }
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$(PYTHON)"
	@touch $@

install: $(VENV)/.installed ## Install uv (if absent), Python packages and the dev tools

migrate: install ## Apply migrations (starts the embedded PostgreSQL when no database is configured)
	$(PY) manage.py migrate --no-input

run: migrate ## Serve the API with reload on http://$(HOST):$(PORT)
	@echo "API docs: http://$(HOST):$(PORT)/api/docs   admin: http://$(HOST):$(PORT)/admin/"
	$(VENV)/bin/uvicorn config.asgi:application --reload --lifespan off --host "$(HOST)" --port "$(PORT)"

serve: install ## Serve production-style: gunicorn + uvicorn workers (WEB_CONCURRENCY), no reload
	@# In development it migrates first; a database that is down (exit 69) still lets the server
	@# start: /api/health/ready reports it, and turns ready when the database is back.
	@if [ "$${APP_ENV:-development}" = development ]; then $(PY) manage.py migrate --no-input || [ $$? -eq 69 ]; fi
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(VENV)/bin/gunicorn --config config/gunicorn.py config.asgi:application

lint: install lock-check typecheck ## uv.lock against pyproject.toml, mypy, ruff check, ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install ## mypy (strict, with django-stubs) over backend/, apps/, config/, tools/
	$(VENV)/bin/mypy

lock-check: | $(UV) ## Fail when uv.lock does not match pyproject.toml (run `uv lock` to update it)
	$(UV) lock --check --quiet

format: install ## Fix what ruff can fix and format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

pytest: install ## The pytest suite only (ARGS="-k name" to pick tests)
	$(VENV)/bin/pytest $(ARGS)

coverage: install ## The suite with branch coverage of backend/ and apps/, subprocesses included; fails under the floor
	COVERAGE_FILE="$(CURDIR)/.coverage" $(VENV)/bin/pytest --cov $(ARGS)

test: lint coverage ## Lint, then the whole suite against a real PostgreSQL, with coverage

test-container: install ## Build the Dockerfile on a Debian 13 base (debootstrap) and run it with podman (root)
	tools/apt-require podman runc debootstrap
	$(VENV)/bin/pytest -m container tests/container $(ARGS)

AUDIT_OSV_URL ?= https://api.osv.dev/v1/query
AUDIT_UNREACHABLE ?= fail
audit: install ## Known vulnerabilities in the locked dependencies (pip-audit against OSV)
	@mkdir -p .audit
	$(UV) export --frozen --all-groups --no-emit-project --format requirements-txt --quiet -o .audit/requirements.txt
	$(PY) -m tools.audit --osv-url "$(AUDIT_OSV_URL)" --unreachable "$(AUDIT_UNREACHABLE)" .audit/requirements.txt

django-tests: install ## Django's own tests (asgi, handlers, middleware, csrf, sessions, auth...) with the project's classes in place
	$(PY) -m tools.django_tests $(ARGS)

hooks: install ## Run ruff, ruff format and mypy before every commit (pre-commit, local hooks)
	$(VENV)/bin/pre-commit install

openapi: install ## Refresh the OpenAPI snapshot (backend/openapi.json) the frontend generates types from
	$(PY) manage.py export_openapi_schema --api backend.api.api --indent 2 --sorted --output backend/openapi.json

bench: install ## Benchmark the app against raw ASGI floors (wrk, one worker); table in .bench/
	$(PY) -m bench.run $(ARGS)

bench-orm: install ## ORM endpoints (async, sync, a transaction, /api/auth/me) against raw floors and FastAPI + SQLAlchemy
	$(UV) sync --frozen --group bench --quiet
	$(PY) -m bench.orm $(ARGS)

bench-cluster: install ## Two hosts behind HAProxy, through PgBouncer: throughput, connections, a host stopped under load
	$(PY) -m bench.cluster $(ARGS)

bench-faults: install ## Stop and restart the embedded PostgreSQL under load; count the statuses
	$(PY) -m bench.faults $(ARGS)

bench-pools: install ## /api/health/db's round trip: Django's pool, psycopg async pools, one connection
	$(PY) -m bench.pools $(ARGS)

types: ## TypeScript types for the frontend from the snapshot: make types OUT=../web/src/api/schema.d.ts
	cd tests/typescript && npm ci --no-audit --no-fund --silent
	tests/typescript/node_modules/.bin/openapi-typescript backend/openapi.json -o "$(or $(OUT),tests/typescript/build/schema.d.ts)"

db-status: install ## Show the embedded PostgreSQL's state
	$(PY) manage.py embedded_db status

db-stop: install ## Stop the embedded PostgreSQL
	$(PY) manage.py embedded_db stop

clean: ## Remove the virtualenv and local tools (keeps the embedded database's data)
	rm -rf $(VENV) .tools
