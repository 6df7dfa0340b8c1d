# One target per job; CI (.ci/run) calls the same targets developers run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gateway migrate
	$(BIN)/gateway serve

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Proxy throughput/latency against the floor and LiteLLM, then the finance reports at scale.
REPORT_ROWS ?= 10000000
bench: $(STAMP)
	$(BIN)/python -m tests.perf.run
	$(BIN)/python -m tests.perf.reports_bench --rows $(REPORT_ROWS) --runs 20
	$(BIN)/python -m tests.perf.router_bench

clean:
	rm -rf $(VENV) .gateway build *.egg-info
