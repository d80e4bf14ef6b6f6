"""A stream pipeline whose algorithms are written for HKube's published Python wrapper
(hkube-python-wrapper 2.4.2, built from PyPI) runs unchanged: the worker starts it in its v1
mode, where `sendMessage` and the input listeners go through the worker's socket
(docs/streaming.md). The builds download from PyPI, as test_hkube_wrapper.py's do."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.algorithms import HKUBE_STREAM_DOUBLE, HKUBE_STREAM_SINK, HKUBE_STREAM_SOURCE
from tests.e2e.harness import Cluster, node

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
WRAPPER = "hkube-python-wrapper"


def test_a_stream_pipeline_on_hkubes_wrapper_runs_unchanged(
    hkube: Cluster, algorithm_factory: Callable[..., str]
) -> None:
    source = algorithm_factory("e2e-hk-stream-source", HKUBE_STREAM_SOURCE, wrapper=WRAPPER)
    double = algorithm_factory("e2e-hk-stream-double", HKUBE_STREAM_DOUBLE, wrapper=WRAPPER)
    sink = algorithm_factory("e2e-hk-stream-sink", HKUBE_STREAM_SINK, wrapper=WRAPPER)
    count = 300
    body = {
        "name": "hkube-wrapper-stream",
        "kind": "stream",
        "nodes": [
            node("src", source, count, stateType="stateful"),
            node("double", double, stateType="stateless"),
            node("sink", sink, count, stateType="stateful"),
        ],
        "streaming": {"flows": {"main": "src >> double >> sink"}},
    }

    status = hkube.wait(hkube.submit(body), timeout=300)

    assert status["status"] == "completed", status
    (entry,) = [r for r in hkube.results(status["jobId"])["data"] if r["nodeName"] == "sink"]
    assert entry["result"] == [[n, 2 * n, "double"] for n in range(count)]
