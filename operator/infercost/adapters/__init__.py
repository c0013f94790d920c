"""Adapters: the only modules that do I/O with the outside world.

Owns: the Kubernetes API client (`kubernetes.py`: read, server-side apply, status patches,
Events, owned children), and the metrics interface (`metrics.py`) with one file per
implementation (`fake_metrics.py` for tests; the Prometheus one comes in its own file).

Must not import: the engine's internals, manifests, service, handlers or kopf. Adapters move
data in and out; they decide nothing.
"""
