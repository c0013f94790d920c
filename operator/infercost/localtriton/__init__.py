"""Runs real tritonserver processes on this machine with synthetic models.

Owns: finding the `tritonserver` binary of the nvidia-pytriton wheel in the Triton
virtualenv (`make triton-venv`), building a backend directory and a model repository with a
python-backend model whose latency is `base_ms + per_item_ms * batch`, starting and stopping
the server on free loopback ports, and an open-loop load generator (tritonclient.http.aio).
Used by the simulator's calibration test, the e2e tests and the sandbox.

Must not import: the engine, the simulator or the operator (it is a tool they use).
"""

from infercost.localtriton.server import TritonNotInstalledError, TritonServer
from infercost.localtriton.synthetic import SyntheticModel

__all__ = ["SyntheticModel", "TritonNotInstalledError", "TritonServer"]
