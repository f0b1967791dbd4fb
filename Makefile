# Playroom: `make serve` to run it, `make test` to test it. Both set everything up first.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PORT    ?= 8080
NODE    := node_modules/.installed
JS_LINT := node_modules/.bin/biome

.PHONY: serve test lint bench bench-restart chromium coturn clean fuzz soak messages bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --constraint constraints.txt --editable .
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[test]'
	@touch $@ $(VENV)/.installed

# node_modules/, exactly as package.json and package-lock.json pin it (npm ci): the sand tray's
# miniatures (@iconify-json/fluent-emoji-flat), which the server reads at run time, and Biome
$(NODE): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Playroom's own modules compiled, so that a server starts without compiling them (where
# PYTHONDONTWRITEBYTECODE is set, nothing else writes them; pip compiles the dependencies):
# a few hundred milliseconds off every start, restarts included; only what changed is redone
bytecode: | $(BIN)/python
	@$(BIN)/python -m compileall -q server media

## serve: install (Python packages, and node_modules with npm ci), migrate, create keys and demo accounts (first run), serve on 127.0.0.1:$(PORT)
serve: $(VENV)/.installed $(NODE) bytecode
	@PLAYROOM_LOG_JSON=$${PLAYROOM_LOG_JSON:-false} $(BIN)/python -m server migrate
	@PLAYROOM_LOG_JSON=$${PLAYROOM_LOG_JSON:-false} $(BIN)/python -m server demo
	@PLAYROOM_LOG_JSON=$${PLAYROOM_LOG_JSON:-false} $(BIN)/python -m server serve --port $(PORT)

## chromium: install Debian's chromium for the browser tests when missing (as root, with apt)
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is not installed and cannot be installed here: browser tests will be skipped (and fail under CI=true)."; \
	  fi; \
	fi

## coturn: install Debian's coturn (turnserver) for the TURN browser test when missing (as root, with apt)
coturn:
	@if ! command -v turnserver >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's coturn for the TURN test..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null; \
	  else \
	    echo "coturn is not installed and cannot be installed here: the TURN test will be skipped (and fail under CI=true)."; \
	  fi; \
	fi

## lint: ruff format --check, ruff and mypy --strict; Biome's lint and format check of web/static/js
lint: $(VENV)/.installed-test $(NODE)
	$(BIN)/ruff format --check server media tests
	$(BIN)/ruff check server media tests
	$(BIN)/mypy
	$(JS_LINT) check --error-on-warnings web/static/js tests/bench/live_probe.js

## test: install test dependencies, Chromium and coturn, lint, and run the whole suite
test: $(VENV)/.installed-test $(NODE) chromium coturn lint bytecode
	$(BIN)/python -m pytest

## messages: gather the family's messages into server/locales/messages.pot (babel.cfg) and
## merge them into each language's messages.po, to translate there. The .po files are read as
## the server starts: nothing is compiled, for `make serve`, `make test` or the image
messages: $(VENV)/.installed-test
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg -k t -k N_ --no-wrap --sort-by-file \
	  --ignore-dirs '.* _* node_modules tests media docs deploy' \
	  --project Playroom --copyright-holder 'Playroom contributors' \
	  -o server/locales/messages.pot .
	$(BIN)/pybabel update -i server/locales/messages.pot -d server/locales --no-wrap

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache node_modules

## bench: run every benchmark into a fresh tests/bench/results/latest.json and latest.md
bench: $(VENV)/.installed-test $(NODE) chromium bytecode
	$(BIN)/python -m tests.bench.run

## bench-restart: the restart storm alone (RESTART_ROOMS rooms, 50; RESTART_GAP s between, 15)
RESTART_ROOMS ?= 50
RESTART_GAP ?= 15
bench-restart: $(VENV)/.installed-test $(NODE) bytecode
	$(BIN)/python -m tests.bench.bench_restart --rooms $(RESTART_ROOMS) --gap $(RESTART_GAP)

## fuzz: run each fuzz target (atheris) for FUZZ_SECONDS; writes tests/fuzz/results/report.json
FUZZ_SECONDS ?= 60
fuzz: $(VENV)/.installed-test $(NODE)
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS)

## soak: 50 rooms for SOAK_SECONDS (600) joining, drawing, dropping and resuming; fails on a leak
SOAK_SECONDS ?= 600
soak: $(VENV)/.installed-test $(NODE)
	$(BIN)/python -m tests.bench.soak $(SOAK_SECONDS) 50
