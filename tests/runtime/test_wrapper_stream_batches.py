"""Our Python wrapper's streaming side with many messages per frame (``streamBatch``): the
``Streaming`` object on its own, with a ``send`` that records the frames it would write."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "algorithms" / "wrappers" / "python"))

from hkube_wrapper import streaming as wrapper_streaming
from hkube_wrapper.streaming import Streaming


class Wire:
    """The frames the wrapper sends; ``size`` is what each frame's length is taken to be."""

    def __init__(self, size_per_message: int = 100, delay: float = 0.0) -> None:
        self.frames: list[dict[str, Any]] = []
        self.size_per_message = size_per_message
        self.delay = delay
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> int:
        time.sleep(self.delay)
        with self.lock:
            self.frames.append(message)
        data = message.get("data") or {}
        return self.size_per_message * max(1, len(data.get("messages") or []))

    def commands(self) -> list[str]:
        with self.lock:
            return [f["command"] for f in self.frames]

    def wait_for(self, command: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [f for f in self.frames if f["command"] == command]
            if found:
                return found[-1]
            time.sleep(0.01)
        raise AssertionError(f"no {command} frame in {self.commands()}")


def listening(wire: Wire, listener: Any, batch: bool = True) -> Streaming:
    streaming = Streaming(wire.send)
    streaming.new_task(batch)
    streaming.register_input_listener(listener)
    streaming.start_message_listening()
    return streaming


def test_a_batch_frame_is_answered_by_one_frame_with_every_output_in_order() -> None:
    wire = Wire()
    seen: list[Any] = []
    streaming: Streaming

    def double(message: Any, origin: Any) -> None:
        seen.append((message, origin))
        streaming.send_message({"double": message * 2})
        if message == 2:
            streaming.send_message("extra", "other-flow")

    streaming = listening(wire, double)
    streaming.on_messages(
        {"messages": [{"payload": n, "origin": "src", "sendMessageId": f"t-{n}"} for n in range(4)]}
    )

    done = wire.wait_for("streamingInMessagesDone")["data"]
    assert seen == [(n, "src") for n in range(4)]
    assert done["sendMessageIds"] == ["t-0", "t-1", "t-2", "t-3"]
    assert done["messages"] == [
        {"message": {"double": 0}, "flowName": None, "sendMessageId": "t-0"},
        {"message": {"double": 2}, "flowName": None, "sendMessageId": "t-1"},
        {"message": {"double": 4}, "flowName": None, "sendMessageId": "t-2"},
        {"message": "extra", "flowName": "other-flow", "sendMessageId": "t-2"},
        {"message": {"double": 6}, "flowName": None, "sendMessageId": "t-3"},
    ]
    assert wire.commands() == ["streamingInMessagesDone"]  # the outputs went with the answer


def test_a_failing_listener_does_not_lose_the_rest_of_the_batch(capsys: pytest.CaptureFixture[str]) -> None:
    wire = Wire()

    def fails_on_one(message: Any, origin: Any) -> None:
        if message == 1:
            raise ValueError("bad message")
        streaming.send_message(message)

    streaming = listening(wire, fails_on_one)
    streaming.on_messages({"messages": [{"payload": n, "sendMessageId": n} for n in range(3)]})

    done = wire.wait_for("streamingInMessagesDone")["data"]
    assert done["sendMessageIds"] == [0, 1, 2]
    assert [m["message"] for m in done["messages"]] == [0, 2]
    assert "ValueError: bad message" in capsys.readouterr().err


def test_own_messages_leave_in_order_many_per_frame_and_all_before_settle() -> None:
    wire = Wire(delay=0.01)  # each frame takes a while: messages gather meanwhile
    streaming = listening(wire, lambda message, origin: None)

    for n in range(500):
        streaming.send_message({"n": n})
    streaming.settle()  # what the stateful start returns after: every own message has left

    frames = [f for f in wire.frames if f["command"] == "streamingOutMessages"]
    sent = [m["message"]["n"] for f in frames for m in f["data"]["messages"]]
    assert sent == list(range(500))
    assert all(m["sendMessageId"] is None for f in frames for m in f["data"]["messages"])
    assert len(frames) < 100  # many per frame
    assert len(frames[0]["data"]["messages"]) == 1  # the first alone: its size is not known yet


def test_own_frames_and_the_backlog_are_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrapper_streaming, "FRAME_BYTES", 10 * 1000)
    monkeypatch.setattr(wrapper_streaming, "BACKLOG_BYTES", 30 * 1000)
    wire = Wire(size_per_message=1000, delay=0.02)  # "1 KB" messages: 10 per frame, 30 waiting
    streaming = listening(wire, lambda message, origin: None)
    waiting: list[int] = []

    for n in range(100):
        streaming.send_message(n)
        waiting.append(len(streaming._own))
    streaming.flush_own()

    frames = [f["data"]["messages"] for f in wire.frames]
    assert [m["message"] for frame in frames for m in frame] == list(range(100))
    assert max(len(frame) for frame in frames) == 10
    assert max(waiting) <= 30  # send_message waited while 30 were waiting


def test_without_stream_batch_every_message_is_a_frame_of_its_own() -> None:
    wire = Wire()
    streaming = listening(wire, lambda message, origin: streaming.send_message(message), batch=False)

    streaming.send_message("own")
    streaming.on_message({"payload": "in", "sendMessageId": "t-1"})
    wire.wait_for("streamingInMessageDone")

    assert wire.frames == [
        {
            "command": "streamingOutMessage",
            "data": {"message": "own", "flowName": None, "sendMessageId": None},
        },
        {
            "command": "streamingOutMessage",
            "data": {"message": "in", "flowName": None, "sendMessageId": "t-1"},
        },
        {"command": "streamingInMessageDone", "data": {"sendMessageId": "t-1"}},
    ]


def test_drain_waits_for_queued_batches_and_sends_stopping_meanwhile() -> None:
    wire = Wire()
    release = threading.Event()
    handled: list[Any] = []

    def slow(message: Any, origin: Any) -> None:
        release.wait(5)
        handled.append(message)

    streaming = listening(wire, slow)
    streaming.on_messages({"messages": [{"payload": n, "sendMessageId": n} for n in range(3)]})
    threading.Timer(1.5, release.set).start()

    streaming.drain(10)

    assert handled == [0, 1, 2]
    assert "stopping" in wire.commands()
    assert wire.commands()[-1] == "streamingInMessagesDone"


class JsonWire(Wire):
    """Encodes each frame as the JSON codec would: a set cannot be carried."""

    def send(self, message: dict[str, Any]) -> int:
        json.dumps(message)
        return super().send(message)


def test_an_output_that_cannot_be_encoded_is_dropped_and_the_rest_still_leave(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wire = JsonWire()
    streaming: Streaming

    def forward(message: Any, origin: Any) -> None:
        streaming.send_message({1, 2} if message == 1 else message)

    streaming = listening(wire, forward)
    streaming.on_messages({"messages": [{"payload": n, "sendMessageId": n} for n in range(3)]})

    done = wire.wait_for("streamingInMessagesDone")["data"]
    assert done == {"sendMessageIds": [0, 1, 2], "messages": []}
    alone = [f["data"]["message"] for f in wire.frames if f["command"] == "streamingOutMessage"]
    assert alone == [0, 2]  # sent one by one, before the answer
    assert "cannot be encoded" in capsys.readouterr().err

    # The node's own messages too: the sender lives on.
    streaming.send_message({3})
    streaming.send_message("after")
    streaming.flush_own()
    sent = [
        m["message"]
        for f in wire.frames
        if f["command"] == "streamingOutMessages"
        for m in f["data"]["messages"]
    ]
    sent += [f["data"]["message"] for f in wire.frames[4:] if f["command"] == "streamingOutMessage"]
    assert "after" in sent
