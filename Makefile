# Learnstream: `make run` starts the platform, `make test` runs the tests.
# Both bootstrap uv and the workspace environment on a machine that has only Python and pip.

PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy

.PHONY: run test test-unit test-integration test-contract test-faults bench bench-quick soak lint format schemas env clean-data help

help:
	@echo "make run      start the whole platform (embedded servers + six services)"
	@echo "make test     run every test suite"
	@echo "make test-faults  crash, restart and poison the running stack; print what was sent and counted"
	@echo "make bench    measure the platform against its targets (bench-quick: a smaller workload)"
	@echo "make soak     one hour at 1,000 events/s; memory of every process over time (not in CI)"
	@echo "make lint     ruff and mypy"
	@echo "make schemas  regenerate libs/events/schemas from the event models"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(STAMP): $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --all-packages --python $(PYTHON)
	@touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python -m learnstream.devstack --demo-learners 300

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-unit: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not integration"

test-integration: $(STAMP)
	$(VENV)/bin/python -m pytest -m integration

test-contract: $(STAMP)
	$(VENV)/bin/python -m pytest tests/contract

test-faults: $(STAMP)
	$(VENV)/bin/python -m pytest -m faults tests/faults libs/runtime/tests/test_dlq.py

bench: $(STAMP)
	$(VENV)/bin/python -m bench

bench-quick: $(STAMP)
	$(VENV)/bin/python -m bench --quick

soak: $(STAMP)
	$(VENV)/bin/python -m bench.soak --seconds 3600 --rate 1000 $(SOAK_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/events/src libs/runtime/src libs/devstack/src services/*/src

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

schemas: $(STAMP)
	$(VENV)/bin/python -m learnstream.events.schemas libs/events/schemas

clean-data:
	rm -rf .learnstream
