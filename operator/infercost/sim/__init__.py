"""The trace-driven simulator: the production planner on a virtual clock against real traces.

Owns: scenario files (AcceleratorPool and InferenceService documents plus one `Workload`),
trace loading, the latency tables of the batcher model (engine/queueing.py) in use, the
replica/cost bookkeeping, the baseline policies (oracle, hpa, keda-queue, static-peak,
single-pool) and the metrics of docs/architecture.md section 7. It calls
`infercost.engine.planner.decide` unchanged.

Must not import: kopf, kubernetes, the adapters, the kopf handlers or the operator's service
layer (it is a fake world for the engine, not a client of a real one); no wall-clock reads
decide anything (time is the simulator's own).
"""
