# Every target installs what it needs first, so a fresh clone needs only `make up` / `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install up test test-fast lint format typecheck check services chromium bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=25.1"
	$(BIN)/pip install -q -e . --group dev
	touch $@

install: $(BIN)/.installed

up: install  ## run the whole bus with embedded defaults
	$(BIN)/tellusonce up

services:  ## start PostgreSQL if it is down (the tests use it beside SQLite)
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; echo "PostgreSQL did not start"; exit 1

chromium:  ## the dashboard's browser test drives Debian's chromium (Playwright downloads none)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy

test: install services chromium lint typecheck  ## everything CI runs: lint, types, unit, integration, e2e, slow
	$(BIN)/pytest

test-fast: install  ## unit tests only, no sockets
	$(BIN)/pytest tests/unit

check: test

bench: install
	$(BIN)/tellusonce bench intake

clean:
	rm -rf $(VENV) .tellusonce .pytest_cache .mypy_cache .ruff_cache
