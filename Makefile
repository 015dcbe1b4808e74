# The two commands of the README's quickstart: `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test chaos lint format services check-deploy clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "chargepark needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## up: install into .venv and run the whole platform in one process (SQLite, in-process bus)
up: $(STAMP)
	$(BIN)/chargepark up --log-format text

## test: install into .venv, lint, check the deployment files, run every test
test: $(STAMP) lint check-deploy services
	$(BIN)/pytest

## chaos: the full chaos and fuzz runs (minutes; make test runs their bounded part)
chaos: $(STAMP) services
	TEST_CHAOS=full $(BIN)/pytest tests/chaos tests/fuzz

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	scripts/check-shape

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## services: start PostgreSQL and NATS where they are installed but not running
services:
	@scripts/services

check-deploy: $(STAMP)
	@scripts/check-deploy

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
