# One entry point for people and CI. Every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint format typecheck imports crds unit integration e2e sim bench bench-engine clean prometheus triton-venv

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

## Everything CI runs (the e2e tests are in the default pytest run: they need their tools).
test: check prometheus triton-venv
	$(BIN)/python -m pytest

## Real Prometheus (Debian package) and real Triton (nvidia-pytriton wheel, see ENVIRONMENT.md).
prometheus:
	@command -v prometheus >/dev/null || (apt-get update && apt-get install -y prometheus)

TRITON_VENV := .venv-triton
$(TRITON_VENV)/.installed:
	/usr/bin/python3 -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/pip install --quiet nvidia-pytriton numpy aiohttp
	touch $@

triton-venv: $(TRITON_VENV)/.installed

e2e: $(STAMP) prometheus triton-venv
	$(BIN)/python -m pytest -m e2e

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

bench-engine: $(STAMP)
	$(BIN)/python -m infercost.engine.bench

bench: bench-engine

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
