# Alliance: `make run` for a laptop, `make test` for the whole suite. Everything installs from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres lint format bench messages messages-check browser-deps demo structure clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Migrate, load the demo city into an empty database, serve on http://127.0.0.1:8000 with one worker.
run: $(STAMP)
	$(BIN)/alliance run

## The whole suite, once on SQLite and once on PostgreSQL (both with a real Redis and arq worker),
## the two runs side by side (each has its own database and Redis database number).
test: $(STAMP) browser-deps
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

test-sqlite: $(STAMP)
	ALLIANCE_TEST_BACKEND=sqlite $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-postgres: $(STAMP)
	ALLIANCE_TEST_BACKEND=postgres $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Speed figures (printed, not asserted).
bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## Translations: extract strings, merge into zh_CN and en, compile (translate new zh_CN entries, run again).
messages: $(STAMP)
	$(BIN)/python tools/i18n.py update
	$(BIN)/python tools/i18n.py compile

messages-check: $(STAMP)
	$(BIN)/python tools/i18n.py check

## Headless Chromium for the browser tests: Debian's package, installed when missing and we are root
## on Debian; elsewhere the browser tests are skipped (and fail under CI=true).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "no /usr/bin/chromium: browser tests will be skipped (install Debian's chromium)"; fi

## After adding a migration: the schema an empty database is loaded with (alliance/core/structure.py).
structure: $(STAMP)
	$(BIN)/python tools/structure.py

demo: $(STAMP)
	$(BIN)/alliance demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
