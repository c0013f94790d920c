"""The synthetic model: a python-backend model that sleeps base_ms + per_item_ms * batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODEL_PY = """\
import json
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.base = float(params["base_ms"]["string_value"]) / 1e3
        self.per_item = float(params["per_item_ms"]["string_value"]) / 1e3

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy() for r in requests]
        batch = sum(x.shape[0] for x in inputs)
        time.sleep(self.base + self.per_item * batch)
        return [pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x)]) for x in inputs]
"""


@dataclass(frozen=True)
class SyntheticModel:
    """A model whose batch of b takes base_ms + per_item_ms * b to execute."""

    name: str = "synth"
    base_ms: float = 20.0
    per_item_ms: float = 2.0
    max_batch_size: int = 8
    max_queue_delay_us: int = 0
    queue_timeout_us: int = 0  # > 0: Triton rejects a request queued this long (REJECT)
    response_cache: bool = False  # needs a server started with a cache (TritonServer.cache_bytes)

    def exec_ms(self, batch: int) -> float:
        return self.base_ms + self.per_item_ms * batch

    def throughput(self, batch: int) -> float:
        """Inferences/s of one instance always running batches of `batch`."""
        return batch / (self.exec_ms(batch) / 1e3)

    def config(self) -> str:
        policy = (
            f" default_queue_policy {{ timeout_action: REJECT"
            f" default_timeout_microseconds: {self.queue_timeout_us} }}"
            if self.queue_timeout_us > 0
            else ""
        )
        batching = (
            f"dynamic_batching {{ max_queue_delay_microseconds: {self.max_queue_delay_us}{policy} }}"
            if self.max_batch_size > 1
            else ""
        )
        return f"""name: "{self.name}"
backend: "python"
max_batch_size: {self.max_batch_size}
input [{{ name: "INPUT0" data_type: TYPE_FP32 dims: [1] }}]
output [{{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [1] }}]
{batching}
{"response_cache { enable: true }" if self.response_cache else ""}
instance_group [{{ count: 1 kind: KIND_CPU }}]
parameters {{ key: "base_ms" value: {{ string_value: "{self.base_ms}" }} }}
parameters {{ key: "per_item_ms" value: {{ string_value: "{self.per_item_ms}" }} }}
"""


def write_model(repository: Path, model: SyntheticModel) -> Path:
    folder = repository / model.name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(model.config())
    (folder / "1" / "model.py").write_text(MODEL_PY)
    return folder
