# Tandem: `make run` and `make test` each set everything up (idempotently) first.
# Setup = Python virtualenv .venv with the project installed editable (dev extra),
# the OCaml toolchain (Debian's ocaml-nox + ocaml-dune) when dune is missing,
# and `dune build`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HYPOTHESIS_PROFILE ?= ci
export HYPOTHESIS_PROFILE

.PHONY: native ocaml-toolchain browser setup run test lint typecheck ocaml ocaml-test pytest bench verify-thorough clean

setup: $(STAMP) ocaml native

# The per-bar modules compiled in place with mypyc (engine/native.py: the list, the
# freshness check, the pure-Python fallback). Quick when up to date; without a C
# compiler it says so and the engine runs in pure Python.
native: $(STAMP)
	@TANDEM_PURE_PYTHON=1 $(PY) -c "import sys, engine.native as n; sys.exit(n.build())" || true

# Debian's own python3 needs python3-venv for `-m venv` (ensurepip); install it
# the same way as the OCaml toolchain when that is what fails.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing python3-venv"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && \
	    $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "error: '$(PYTHON) -m venv' failed. Install Python's venv module (Debian: sudo apt-get install python3-venv) and run make again." >&2; \
	    exit 1; \
	  fi; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Install Debian's OCaml toolchain when dune is missing; needs root (CI and the
# dev machines are root). A fresh machine has no package lists, hence the update.
ocaml-toolchain:
	@if ! command -v dune >/dev/null 2>&1 || ! command -v ocamlopt >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing the OCaml toolchain (ocaml-nox, ocaml-dune)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ocaml-nox ocaml-dune >/dev/null; \
	  else \
	    echo "error: dune and ocaml are missing. Install them (Debian: sudo apt-get install ocaml-nox ocaml-dune) and run make again." >&2; \
	    exit 1; \
	  fi; \
	fi

# Debian's chromium for the report's browser test (tests/test_report_browser.py), which
# fails without it; installed like the OCaml toolchain.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (the report's browser test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "error: chromium is missing. Install it (Debian: sudo apt-get install chromium) and run make again." >&2; \
	    exit 1; \
	  fi; \
	fi

ocaml: ocaml-toolchain
	dune build 2>&1

run: setup
	$(PY) -m engine run --strategy strategies/sma_crossover.lua --symbols BTCUSDT,ETHUSDT,SOLUSDT \
	  --bars 3000 --shadow-ocaml --journal runs.sqlite

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The root conftest.py is checked on its own: its module name clashes with tests/conftest.py.
typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict engine bridge tests verify
	$(VENV)/bin/mypy --strict conftest.py

ocaml-test: ocaml
	dune test 2>&1

pytest: setup
	$(PY) -m pytest -q tests verify

test: setup browser lint typecheck ocaml-test pytest

# The peers of bench/backtest.py live in their own venv: never project dependencies.
PEERS := bench/.venv-peers
$(PEERS)/.installed:
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet backtesting backtrader
	@touch $@

# bench/summary.py: the per-bar, parse, start-up, whole-process, shadow and bridge
# figures in one table (it runs perbar, csv_parse, startup, backtest, shadow and
# bridge); then the benchmarks it does not cover.
bench: setup browser $(PEERS)/.installed
	$(PY) bench/summary.py
	$(PY) bench/indicators.py
	$(PY) bench/core.py
	$(PY) bench/strategy.py
	$(PY) bench/sweep.py
	$(PY) bench/report.py --browser

verify-thorough: setup
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q verify

clean:
	dune clean
	find engine -name '*.so' -delete
	rm -f *__mypyc.*.so
	rm -rf build $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
