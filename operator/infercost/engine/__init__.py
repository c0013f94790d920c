"""The decision engine: where each model runs, how many replicas, what batching.

Owns: the cost and capacity model, placement (a small MILP), replica scaling, batch tuning,
short-horizon forecasting and `planner.decide`, which turns one observation into a Plan of
typed actions, each with a machine-readable reason.

Must not import: kopf, kubernetes, aiohttp, tritonclient, prometheus_api_client, asyncio,
time, or any infercost module that does I/O (adapters, service, handlers, cli, sim,
sandbox) or builds manifests. It is pure: no I/O and no clock reads — `now` is passed in,
and everything remembered between decisions travels in `ServiceState`.
"""
