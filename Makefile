# liandong — `make help` lists the targets.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-alone faults faults-short bench lint typecheck schemas dashboards reference kafka-fetch clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install pinned dependencies
	$(PY) deploy/kafka/local_kafka.py fetch >/dev/null

run: install ## Run the whole stack locally (broker, services, SQLite), replay a sample day, serve until Ctrl-C
	$(PY) -m scripts.run_demo

test: install ## Run the whole test suite (unit + integration against a real broker and database)
	$(PY) -m pytest

faults: install ## Fault tests (kill/freeze workers) and the fault-injection suite (single broker, then a 3-node cluster); writes build/faults-report.json
	$(PY) -m pytest -m faults
	$(PY) -m faults

faults-short: install ## The same at small volumes (every scenario; what CI runs after the tests)
	$(PY) -m pytest -m faults
	$(PY) -m faults --short

bench: install ## Benchmarks on a real broker (not part of the tests); writes bench/results/latest.json
	$(PY) -m bench

test-unit: install ## Unit tests only (no I/O)
	$(PY) -m pytest tests/unit

test-alone: install ## Each service's own tests, with the other services unimportable; then the shared tests
	$(PY) -m tests.by_service

lint: install ## ruff, and the import contracts between services (import-linter, [tool.importlinter])
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

typecheck: install ## mypy
	$(VENV)/bin/mypy

schemas: install ## Re-export JSON Schema files from the pydantic models
	$(PY) -m schemas.export

dashboards: install ## Regenerate the Grafana dashboards (deploy/grafana/dashboards/*.json) with grafana-foundation-sdk
	$(PY) -m deploy.grafana.build_dashboards

reference: install ## Regenerate reference data from the division table
	$(PY) scripts/build_reference_data.py

kafka-fetch: install ## Fetch the Kafka broker jars from Maven Central
	$(PY) deploy/kafka/local_kafka.py fetch

clean: ## Remove run state (keeps the virtualenv)
	rm -rf .run build
