# Everything bootstraps a local .venv from nothing: only Python 3, pip and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run run-inbox test lint typecheck unit test-slow load-figures test-pythons dist fuzz docs docs-serve clean bench \
	screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,docs]"
	touch $(STAMP)

## make run: the example receiver on http://127.0.0.1:8000/webhooks/wrenn, with a public
## development secret unless WRENN_WEBHOOK_SECRET is set (for local trials only)
run: $(STAMP)
	$(BIN)/python -m examples.receiver --dev

## make run-inbox: the same in inbox mode (dev-inbox.db, a worker in the process), with
## the inbox console on http://127.0.0.1:8000/inbox/
run-inbox: $(STAMP)
	WRENN_INBOX_DB=dev-inbox.db $(BIN)/python -m examples.receiver --dev

## make test: ruff (lint + format), mypy --strict, pytest
test: docs lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy wrenn_webhooks

unit: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

## make load-figures: the load tests alone, their figures written to
## benchmarks/results/load.json for the reliability page
load-figures: $(STAMP)
	WRENN_LOAD_RESULTS=benchmarks/results/load.json $(BIN)/pytest -q -m slow tests/test_load.py

## make test-pythons: the unit tests on every other Python from 3.10 to 3.13 found here
## (PYTHONS="3.10 3.13" to choose), each in a .venv-3.X of its own
test-pythons: $(STAMP)
	scripts/test-pythons.sh

## make dist: sdist and wheel in dist/, checked by twine; the wheel is then installed with
## every extra in a fresh virtual environment, where its command, every public module, the
## pytest plugin and a signed delivery are tried (scripts/dist_check.py)
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python scripts/dist_check.py dist

## make fuzz: fuzz verify, parse_event and handle with atheris for FUZZ_SECONDS (default 600)
FUZZ_SECONDS ?= 600
FUZZ_DIR ?= $(VENV)/fuzz
fuzz: $(STAMP)
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/pip install atheris
	mkdir -p $(FUZZ_DIR)/corpus
	$(BIN)/python fuzz/fuzz_verify_parse.py -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_ARGS) $(FUZZ_DIR)/corpus

## make docs: the documentation site, built --strict into site/
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## make screenshots: refresh docs/images/console-*.png, the inbox console with sample
## events, in headless Chromium (apt-get install chromium chromium-driver)
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py docs/images

## make docs-serve: preview the documentation on http://127.0.0.1:8001
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

## make bench: core, HTTP and inbox (gunicorn + wrk), the shared stores alone, memory,
## observers; JSON in benchmarks/results/.
## Not part of make test. Shorter: make bench BENCH_HTTP_ARGS="--rounds 1 --duration 2"
## (also BENCH_CORE_ARGS, BENCH_SHARED_STORE_ARGS, BENCH_ASGI_ARGS, BENCH_INBOX_ARGS,
## BENCH_MEMORY_ARGS, BENCH_OBSERVE_ARGS);
## python -m benchmarks.report renders the JSON. As root, it installs wrk and redis-server
## when missing; without redis-server the benchmarks skip their Redis rows, saying so.
bench: $(STAMP)
	@missing=""; for tool in wrk redis-server; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing \
	    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; }; \
	fi; \
	command -v wrk >/dev/null 2>&1 \
	  || { echo "wrk is missing: install it with 'sudo apt-get install -y wrk'" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.bench_core $(BENCH_CORE_ARGS)
	$(BIN)/python -m benchmarks.bench_store $(BENCH_STORE_ARGS)
	$(BIN)/python -m benchmarks.bench_http $(BENCH_HTTP_ARGS)
	$(BIN)/python -m benchmarks.bench_shared_store $(BENCH_SHARED_STORE_ARGS)
	$(BIN)/python -m benchmarks.bench_asgi --json $(BENCH_ASGI_ARGS)
	$(BIN)/python -m benchmarks.bench_inbox $(BENCH_INBOX_ARGS)
	$(BIN)/python -m benchmarks.bench_memory $(BENCH_MEMORY_ARGS)
	$(BIN)/python -m benchmarks.bench_observe $(BENCH_OBSERVE_ARGS)

clean:
	rm -rf $(VENV) .venv-3.* build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
