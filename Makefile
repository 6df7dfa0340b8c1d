# One target per job; CI (.ci/run) calls the same targets developers run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install clean browser clients

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gateway migrate
	$(BIN)/gateway serve

# The console's browser tests drive Debian's Chromium (never a browser download). Installed
# only when missing and only as root; elsewhere the tests skip and say why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo "chromium could not be installed; the console browser tests will skip"; \
	  else echo "chromium missing and not root: the console browser tests will skip"; fi; \
	fi


# The real clients the tests drive (TypeScript SDKs, Claude Code, Codex CLI), from the lockfile,
# into the git-ignored tests/clients/node_modules. Without node the client tests skip, saying why.
CLIENTS := tests/clients
CLIENTS_STAMP := $(CLIENTS)/node_modules/.installed
$(CLIENTS_STAMP): $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(CLIENTS) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the real-client tests will be skipped"; fi

clients: $(CLIENTS_STAMP)

test: $(STAMP) browser clients
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Proxy throughput/latency against the floor and LiteLLM, the chaos run (a flaky deployment,
# resilience on vs off: throughput, and instructions per request where valgrind is installed),
# then the finance reports at scale.
# BASELINE=<checkout with its .venv> measures that version's gateway in the same run (e.g. a
# clone of the previous release); ROUNDS alternates the throughput loads (medians reported).
REPORT_ROWS ?= 10000000
CHAOS_REQUESTS ?= 2000
ROUNDS ?= 3
BASELINE ?=
bench: $(STAMP)
	$(BIN)/python -m tests.perf.run --rounds $(ROUNDS) $(if $(BASELINE),--baseline $(BASELINE))
	$(BIN)/python -m tests.perf.chaos --requests $(CHAOS_REQUESTS) --rounds $(ROUNDS)
	$(BIN)/python -m tests.perf.limits_instructions
	$(BIN)/python -m tests.perf.reports_bench --rows $(REPORT_ROWS) --runs 20
	$(BIN)/python -m tests.perf.tracing_bench
	$(BIN)/python -m tests.perf.router_bench

clean:
	rm -rf $(VENV) .gateway build *.egg-info $(CLIENTS)/node_modules
