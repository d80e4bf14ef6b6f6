"""AlgorithmSession against a stand-in for HKube's wrapper: no pipelining, storage v3, code API.

The stand-in is a real process (a small websockets client script) that behaves like
hkube-python-wrapper 2.4.2 on the wire and checks what the worker sends it.
"""

from __future__ import annotations

from typing import Any

import pytest

from algorithms.runtime import protocol

from .conftest import SessionFactory

HKUBE_LIKE = """
    import json, os, sys
    from websockets.sync.client import connect

    ws = connect(os.environ["WORKER_SOCKET_URL"] + "?storage=v3&encoding=json", max_size=None)

    def send(message):
        ws.send(json.dumps(message))

    initialized = False
    violations = []
    while True:
        message = json.loads(ws.recv())
        command, data = message["command"], message.get("data")
        if command == "initialize":
            initialized = False
            job = data
            # HKube's wrapper hangs on a start that arrives before its initialize succeeded;
            # anything arriving in this window means the worker did not wait.
            try:
                early = ws.recv(timeout=0.1)
                violations.append("early: " + early)
            except TimeoutError:
                pass
            if job["input"] == ["fail-init"]:
                send({"command": "errorMessage", "error": {"code": "Failed", "message": "init failed"}})
                continue
            send({"command": "initialized", "data": None})
            initialized = True
        elif command == "start":
            if not initialized:
                violations.append("start without a successful initialize")
                continue
            send({"command": "started", "data": None})
            if job["input"] == ["call-api"]:
                send({"command": "startAlgorithmExecution",
                      "data": {"execId": "1", "algorithmName": "child", "input": [5]}})
                reply = json.loads(ws.recv())
                result = {"reply": reply}
            elif job["input"] == ["violations"]:
                result = violations
            else:
                result = job["input"]
            path = "local-hkube/" + job["jobId"] + "/" + job["taskId"]
            send({"command": "storing", "data": {"storageInfo": {"path": path, "size": 3},
                                                   "metadata": {"node": {"type": "array", "size": 1}},
                                                   "echo": result}})
            send({"command": "done", "data": None})
        elif command == "exit":
            ws.close()
            sys.exit(0)
"""


def task(*inputs: Any) -> dict[str, Any]:
    return {"jobId": "job-1", "taskId": "task-1", "nodeName": "node", "input": list(inputs)}


def test_storage_v3_results_come_back_as_the_storing_pointer(start_script: SessionFactory) -> None:
    session = start_script(HKUBE_LIKE)

    outcome = session.run_task(task("a"))

    assert session.storage_mode == "v3" and session.encoding == "json" and not session.pipelined
    assert outcome.status == "done" and outcome.result is None
    assert outcome.storing is not None
    assert outcome.storing["storageInfo"] == {"path": "local-hkube/job-1/task-1", "size": 3}


def test_a_wrapper_that_does_not_pipeline_gets_start_only_after_initialized(
    start_script: SessionFactory,
) -> None:
    session = start_script(HKUBE_LIKE)

    for i in range(5):
        assert session.run_task(task(i)).status == "done"
    report = session.run_task(task("violations"))

    assert report.storing is not None and report.storing["echo"] == []


def test_start_is_never_sent_after_initialize_failed(start_script: SessionFactory) -> None:
    session = start_script(HKUBE_LIKE)

    failed = session.run_task(task("fail-init"))
    report = session.run_task(task("violations"))

    assert failed.status == "error" and failed.error == {"code": "Failed", "message": "init failed"}
    assert report.storing is not None and report.storing["echo"] == []


def test_a_dict_returned_by_the_event_handler_is_sent_back_to_the_algorithm(
    start_script: SessionFactory,
) -> None:
    session = start_script(HKUBE_LIKE)
    requests: list[dict[str, Any]] = []

    def answer(message: dict[str, Any]) -> dict[str, Any] | None:
        requests.append(message)
        if message["command"] == protocol.START_ALGORITHM_EXECUTION:
            exec_id = message["data"]["execId"]
            return {"command": protocol.ALGORITHM_EXECUTION_DONE, "data": {"execId": exec_id, "response": 10}}
        return None

    outcome = session.run_task(task("call-api"), on_event=answer)

    assert [r["command"] for r in requests] == ["startAlgorithmExecution"]
    assert outcome.storing is not None
    assert outcome.storing["echo"] == {
        "reply": {"command": "algorithmExecutionDone", "data": {"execId": "1", "response": 10}}
    }


def test_an_exception_in_the_event_handler_reaches_the_caller_and_retires_the_process(
    start_script: SessionFactory,
) -> None:
    session = start_script(HKUBE_LIKE)

    def broken(message: dict[str, Any]) -> None:
        raise LookupError("no such algorithm")

    with pytest.raises(LookupError, match="no such algorithm"):
        session.run_task(task("call-api"), on_event=broken)

    assert not session.alive


def test_a_malformed_message_is_a_crash(start_script: SessionFactory) -> None:
    session = start_script(
        """
        import os, time
        from websockets.sync.client import connect

        ws = connect(os.environ["WORKER_SOCKET_URL"] + "?storage=v1&encoding=json")
        ws.recv()
        ws.send("this is not json")
        time.sleep(30)
        """
    )

    outcome = session.run_task(task())

    assert outcome.status == "crashed"
    assert outcome.error is not None and "malformed message" in outcome.error["message"]
    assert not session.alive


def test_an_unknown_slot_path_is_refused(start_script: SessionFactory) -> None:
    session = start_script(
        """
        import os, sys
        from websockets.sync.client import connect

        url = os.environ["WORKER_SOCKET_URL"]
        base = url.rsplit("/", 1)[0]
        try:
            with connect(base + "/someone-else?storage=v1&encoding=json") as ws:
                ws.recv(timeout=5)
        except Exception as exc:
            print("refused:", type(exc).__name__, flush=True)
        with connect(url + "?storage=v1&encoding=json") as ws:
            while True:
                message = ws.recv()
                if '"exit"' in message:
                    sys.exit(0)
        """
    )

    session.close()

    assert any(line.startswith("refused:") for line in session.drain_logs())


@pytest.mark.parametrize("codec", [protocol.JSON, protocol.MSGPACK])
def test_codecs_round_trip_a_message(codec: protocol.Codec) -> None:
    message = {"command": "done", "data": {"a": [1, 2.5, None, "ü"]}}

    frame = codec.encode(message)

    assert isinstance(frame, bytes) is codec.binary
    assert codec.decode(frame) == message


def test_the_codec_is_chosen_by_the_encoding_name() -> None:
    assert protocol.get_codec("json") is protocol.JSON
    assert protocol.get_codec("msgpack") is protocol.MSGPACK
    with pytest.raises(ValueError, match="unknown WebSocket encoding 'yaml'"):
        protocol.get_codec("yaml")


def test_msgpack_frames_match_what_hkube_sends_on_the_wire() -> None:
    frame = protocol.MSGPACK.encode({"command": "initialized", "data": None})

    assert frame == bytes.fromhex("82a7") + b"command" + bytes.fromhex("ab") + b"initialized" + bytes.fromhex(
        "a4"
    ) + b"data" + bytes.fromhex("c0")


def test_bson_frames_wrap_the_message_in_a_data_document_or_explain_what_is_missing() -> None:
    try:
        import bson  # noqa: F401
    except ImportError:
        with pytest.raises(protocol.CodecUnavailableError, match="install pymongo"):
            protocol.get_codec("bson")
        return
    codec = protocol.get_codec("bson")
    frame = codec.encode({"command": "initialized", "data": None})
    assert frame == bytes.fromhex(
        "2f0000000364617461002400000002636f6d6d616e64000c000000696e697469616c697a6564000a64617461000000"
    )
    assert codec.decode(frame) == {"command": "initialized", "data": None}


def test_error_messages_are_read_from_the_top_level_error() -> None:
    assert protocol.error_of({"command": "errorMessage", "error": {"code": "Failed", "message": "boom"}}) == {
        "code": "Failed",
        "message": "boom",
    }
    assert protocol.error_of({"command": "errorMessage", "error": "plain"}) == {
        "code": "Failed",
        "message": "plain",
    }
