# One entry point for people and CI. Every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint format typecheck imports crds unit integration e2e sim bench bench-engine clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,sim]'
	touch $(STAMP)

venv: $(STAMP)

## The main job: plan the bundled examples at a low and a high demand (no cluster needed).
demo: $(STAMP)
	$(BIN)/infercost plan examples/pools examples/services --rate 200
	$(BIN)/infercost plan examples/pools examples/services --rate 20000

## The quality gate: lint, format, types, layers, generated files.
check: $(STAMP)
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/infercost crds --check

format: $(STAMP)
	$(BIN)/ruff check --fix operator tests
	$(BIN)/ruff format operator tests

crds: $(STAMP)
	$(BIN)/infercost crds

## Everything CI runs.
test: check
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

bench-engine: $(STAMP)
	$(BIN)/python -m infercost.bench_engine

bench: bench-engine

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
