# civicgrid: two commands. `make run` serves the demo district; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export CIVICGRID_DATA_DIR ?= $(CURDIR)/var

# Python >= 3.12: on PATH first, then pyenv's shims (PYENV_VERSION picks the installed version).
PYTHON := $(shell for p in python3.13 python3.12; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3,12))' 2>/dev/null && { echo $$p; exit; }; done; \
	for v in 3.13.0 3.12.1; do PYENV_VERSION=$$v python3 -c 'import sys; sys.exit(sys.version_info < (3,12))' 2>/dev/null && { echo "env PYENV_VERSION=$$v python3"; exit; }; done)

.PHONY: help setup run serve worker demo migrate test test-sqlite test-postgres lint bench clean

help:
	@echo "make run    - set up, load the Pingcheng demo and serve http://127.0.0.1:$(PORT)"
	@echo "make test   - set up and run every test (SQLite, then PostgreSQL when reachable)"
	@echo "make serve  - set up, migrate and serve without demo data (production; see README)"
	@echo "make worker - set up, migrate and run the background worker alone"
	@echo "make setup  - create .venv and install"

$(BIN)/activate:
	@if [ -z "$(PYTHON)" ]; then echo "civicgrid needs Python >= 3.12 (python3.12/python3.13 on PATH, or pyenv with 3.12 installed)" >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@

setup: $(VENV)/.installed

migrate: setup
	$(BIN)/civicgrid migrate --noinput -v0

demo: migrate
	$(BIN)/civicgrid demo

# The demo's SMS and QR codes carry links people can open on this machine.
run demo: export CIVICGRID_PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)

# Web (granian) and worker together, in the foreground: Ctrl-C, TERM or HUP stops both within seconds. Each
# runs in its own session, so a terminal's Ctrl-C reaches only this shell, which asks each once to stop (granian's
# own workers, sent the SIGINT too, hang its graceful stop; the worker takes a second signal as "exit now"). A web
# worker that dies is started again; if granian or the worker ends, the other is stopped.
GRANIAN_ARGS := --interface wsgi --host 127.0.0.1 --port $(PORT) --workers 2 --blocking-threads 1 --no-ws \
	--respawn-failed-workers --respawn-interval 1 --workers-kill-timeout 10 \
	--static-path-route /static --static-path-mount $(CIVICGRID_DATA_DIR)/static
define SERVE_BOTH
	@echo "Serving http://127.0.0.1:$(PORT)  (worker and web; Ctrl-C stops both)"
	@stop() { trap "" INT TERM HUP; kill -TERM $$web $$worker 2>/dev/null; }; trap 'stopping=1; stop' INT TERM HUP; \
	setsid $(BIN)/civicgrid worker & worker=$$!; \
	setsid $(BIN)/granian $(GRANIAN_ARGS) config.wsgi:application & web=$$!; \
	wait -n; status=$$?; [ -n "$$stopping" ] || stop; wait; \
	if [ -n "$$stopping" ]; then exit 0; else exit $$status; fi
endef

run: demo
	$(BIN)/civicgrid collectstatic --noinput -v0
	$(SERVE_BOTH)

# A real deployment: no demo data (its accounts share a published password). README "Production".
serve: migrate
	$(BIN)/civicgrid collectstatic --noinput -v0
	$(SERVE_BOTH)

# The worker alone (web served elsewhere, or a second worker): Ctrl-C or TERM finishes the current pass.
worker: migrate
	$(BIN)/civicgrid worker

test: setup test-sqlite test-postgres

test-sqlite:
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# PostgreSQL: required in CI, used when reachable elsewhere.
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
test-postgres:
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -q -n 2 --dist loadfile; \
	elif [ -n "$$CI" ]; then echo "PostgreSQL at $(PG_URL) is not reachable" >&2; exit 1; \
	else echo "PostgreSQL not reachable at $(PG_URL): skipped the PostgreSQL run"; fi

lint: setup
	$(BIN)/ruff check civicgrid config benchmarks
	$(BIN)/civicgrid makemigrations --check --dry-run -v0

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) var
