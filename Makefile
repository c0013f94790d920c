# One entry point for people and CI. Every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-plan prometheus test check lint format typecheck imports crds unit integration e2e sim bench bench-engine bench-sim triton-venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,sim]'
	touch $(STAMP)

venv: $(STAMP)

## Real tritonserver (nvidia-pytriton wheel) for the calibration/e2e tests and the sandbox.
## Its python-backend stub links Debian's libpython, so the venv must come from /usr/bin/python3.
TRITON_VENV ?= .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed
$(TRITON_STAMP):
	/usr/bin/python3 -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet nvidia-pytriton numpy aiohttp
	touch $(TRITON_STAMP)

triton-venv: $(TRITON_STAMP)

## Real Prometheus (Debian's package) for the e2e tests and the sandbox.
prometheus:
	@command -v prometheus >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus; }

## The main job: the whole loop on this machine (about 4 minutes; Ctrl-C stops it cleanly):
## kmock API server, the operator, real tritonserver replicas, real Prometheus, a trace replayed.
## The kubeconfig, logs and the report (PNG + summary.md) land in sandbox-runs/<time>/.
demo: $(STAMP) triton-venv prometheus
	$(BIN)/infercost sandbox examples/sandbox/bert.yaml

## Plan the bundled examples at a low and a high demand (no cluster, no processes).
demo-plan: $(STAMP)
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
test: check triton-venv prometheus
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

bench-engine: $(STAMP)
	$(BIN)/python -m infercost.engine.bench

## Simulator speed: one simulated week of 100 services (goal: under 60 s on 2 cores).
bench-sim: $(STAMP)
	$(BIN)/python -m infercost.sim.bench

bench: bench-engine bench-sim

clean:
	rm -rf $(VENV) $(TRITON_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
