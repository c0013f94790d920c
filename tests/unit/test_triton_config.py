"""The model configs the Triton adapter sends: always valid (Triton rejects preferred > max)."""

from __future__ import annotations

from typing import Any

import pytest

from infercost.adapters.triton import batching_of, pod_url, runs, with_batching
from infercost.engine.model import BatchConfig

pytestmark = pytest.mark.unit


def test_configs_sent_are_always_valid() -> None:
    base = {"name": "synth", "max_batch_size": 8, "dynamic_batching": {"preferred_batch_size": [8]}}
    sent = with_batching(
        base, BatchConfig(max_batch_size=4, max_queue_delay_us=500, preferred_batch_sizes=(2, 4, 8))
    )
    assert sent["max_batch_size"] == 4
    assert sent["dynamic_batching"]["preferred_batch_size"] == [2, 4]  # 8 > 4 dropped
    assert batching_of(sent) == BatchConfig(
        max_batch_size=4, max_queue_delay_us=500, preferred_batch_sizes=(2, 4)
    )
    # Triton's JSON carries uint64 fields as strings.
    assert (
        batching_of(
            {"max_batch_size": 2, "dynamic_batching": {"max_queue_delay_microseconds": "700"}}
        ).max_queue_delay_us
        == 700
    )


def test_a_config_already_running_is_recognised() -> None:
    running = {
        "max_batch_size": 4,
        "dynamic_batching": {"max_queue_delay_microseconds": "2000", "preferred_batch_size": [4]},
    }
    assert runs(
        running,
        BatchConfig(max_batch_size=4, max_queue_delay_us=2000, preferred_batch_sizes=(4, 8)),
    )
    assert not runs(running, BatchConfig(max_batch_size=8, max_queue_delay_us=2000))


def test_pod_address_from_its_ip_and_port_annotation() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p"}, "status": {"podIP": "10.0.0.7"}}
    assert pod_url(pod, "infercost.io/triton-http-port") == "10.0.0.7:8000"
    pod["metadata"]["annotations"] = {"infercost.io/triton-http-port": "18000"}
    assert pod_url(pod, "infercost.io/triton-http-port") == "10.0.0.7:18000"
    assert pod_url({"metadata": {"name": "p"}, "status": {}}, "x") is None


def test_triton_listing_max_as_the_preferred_size_is_the_same_config() -> None:
    # Seen on tritonserver 2.51: a reload to max_batch_size 1 with no preferred sizes reads
    # back with preferred_batch_size [1]; that is what was asked, not a failed reload.
    asked = BatchConfig(max_batch_size=1, max_queue_delay_us=0)
    running = {"max_batch_size": 1, "dynamic_batching": {"preferred_batch_size": [1]}}
    assert runs(running, asked)
    assert not runs(running, BatchConfig(max_batch_size=2, max_queue_delay_us=0))


def test_the_queue_timeout_is_sent_read_back_and_lifted() -> None:
    base = {"name": "synth", "max_batch_size": 8, "dynamic_batching": {}}
    timed = BatchConfig(max_batch_size=8, max_queue_delay_us=0, queue_timeout_us=40000)
    sent = with_batching(base, timed)
    assert sent["dynamic_batching"]["default_queue_policy"] == {
        "timeout_action": "REJECT",
        "default_timeout_microseconds": 40000,
    }
    assert batching_of(sent).queue_timeout_us == 40000
    assert not runs(base, timed)  # a server without the timeout must be reloaded
    # Triton's JSON: uint64 as strings, and its own defaults filled in.
    running = {
        "max_batch_size": 8,
        "dynamic_batching": {
            "default_queue_policy": {
                "timeout_action": "REJECT",
                "default_timeout_microseconds": "40000",
                "max_queue_size": 0,
            }
        },
    }
    assert runs(running, timed)
    lifted = with_batching(running, BatchConfig(max_batch_size=8, max_queue_delay_us=0))
    assert batching_of(lifted).queue_timeout_us == 0
    # A DELAY policy (the user's own) is not a timeout infercost set: it stays as it was.
    delay = {
        "max_batch_size": 8,
        "dynamic_batching": {
            "default_queue_policy": {"timeout_action": "DELAY", "default_timeout_microseconds": 9}
        },
    }
    kept = with_batching(delay, BatchConfig(max_batch_size=8, max_queue_delay_us=0))
    assert kept["dynamic_batching"]["default_queue_policy"]["default_timeout_microseconds"] == 9
    assert batching_of(kept).queue_timeout_us == 0
