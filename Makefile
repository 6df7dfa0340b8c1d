# One target per job; CI (.ci/run) calls the same targets developers run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install clients clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gateway migrate
	$(BIN)/gateway serve

# The real clients the tests drive (TypeScript SDKs, Claude Code, Codex CLI), from the lockfile,
# into the git-ignored tests/clients/node_modules. Without node the client tests skip, saying why.
CLIENTS := tests/clients
CLIENTS_STAMP := $(CLIENTS)/node_modules/.installed
$(CLIENTS_STAMP): $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(CLIENTS) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the real-client tests will be skipped"; fi

clients: $(CLIENTS_STAMP)

test: $(STAMP) clients
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

clean:
	rm -rf $(VENV) .gateway build *.egg-info $(CLIENTS)/node_modules
