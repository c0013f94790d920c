"""One gRPC inference with Triton's own client, run by the Triton venv's Python (the
project's venv has tritonclient without grpcio): `python grpc_infer.py HOST:PORT VALUE
TIMEOUT [CONNECT_TIMEOUT]`. CONNECT_TIMEOUT (seconds) sets gRPC's minimum connect timeout
(channel argument `grpc.min_reconnect_backoff_ms`, 20 s by default): how long a connection
attempt may wait for the server's HTTP/2 SETTINGS frame. Prints the output tensor as JSON, or `error: <status> <message>` and exits 1."""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as triton_grpc
from tritonclient.utils import InferenceServerException


def main() -> int:
    url, value, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    args = None
    if len(sys.argv) > 4:
        args = [("grpc.min_reconnect_backoff_ms", int(float(sys.argv[4]) * 1000))]
    client = triton_grpc.InferenceServerClient(url, channel_args=args)
    tensor = triton_grpc.InferInput("INPUT0", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.array([[value]], dtype=np.float32))
    try:
        result = client.infer("synth", [tensor], client_timeout=timeout)
    except InferenceServerException as error:
        print(f"error: {error.status()} {error.message()}")
        return 1
    finally:
        client.close()
    print(json.dumps(result.as_numpy("OUTPUT0").tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
