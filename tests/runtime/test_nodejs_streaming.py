"""Streaming (`kind: stream`) in our Node.js wrapper, driven through AlgorithmSession: sendMessage,
input listeners and their streamingInMessageDone replies, the stateless call-per-message shape and
the `stopping` beat of a graceful stop (protocol reference §3-§4, hkube-semantics §8)."""

from __future__ import annotations

import threading
from typing import Any

from algorithms.runtime.session import AlgorithmSession

from .conftest import SessionFactory, requires_node

pytestmark = requires_node


def stream_task(state_type: str, childs: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "jobId": "job-s",
        "taskId": f"task-{state_type}",
        "nodeName": "double" if state_type == "stateless" else "source",
        "kind": "stream",
        "stateType": state_type,
        "childs": ["sink"] if childs is None else childs,
        "defaultFlow": "main",
        "parsedFlow": {"main": [{"source": "source", "next": ["double"]}]},
        "input": [],
        **fields,
    }


def stream_in(payload: Any, send_message_id: str, origin: str = "source") -> dict[str, Any]:
    return {
        "command": "streamingInMessage",
        "data": {"payload": payload, "origin": origin, "sendMessageId": send_message_id},
    }


def out(message: Any, flow: str | None = None, send_message_id: str | None = None) -> dict[str, Any]:
    return {
        "command": "streamingOutMessage",
        "data": {"message": message, "flowName": flow, "sendMessageId": send_message_id},
    }


def done(send_message_id: str) -> dict[str, Any]:
    return {"command": "streamingInMessageDone", "data": {"sendMessageId": send_message_id}}


def send_later(session: AlgorithmSession, messages: list[dict[str, Any]], delay: float = 0.2) -> None:
    def send_all() -> None:
        for message in messages:
            session.send(message)

    threading.Timer(delay, send_all).start()


def test_a_stateful_node_sends_messages_with_and_without_a_flow(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                exports.start = async (args, api) => {
                    api.sendMessage({ n: 1 });
                    api.sendMessage('two', 'analyze');
                    await new Promise((resolve) => setTimeout(resolve, 10));
                    api.sendMessage([3]);
                    return 'source finished';
                };
            """
        },
    )
    events: list[dict[str, Any]] = []

    outcome = session.run_task(stream_task("stateful"), on_event=events.append)

    assert outcome.status == "done" and outcome.result == "source finished"
    assert events == [out({"n": 1}), out("two", "analyze"), out([3])]


def test_input_listeners_get_each_message_in_order_and_every_message_is_acknowledged(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                exports.start = (args, api) => new Promise((resolve) => {
                    const seen = [];
                    api.registerInputListener(async ({ payload, origin, sendMessage }) => {
                        if (payload === 'end') { resolve([...seen]); return; }
                        await new Promise((r) => setTimeout(r, 5));
                        seen.push([payload, origin]);
                        api.sendMessage(`api ${payload}`);
                        sendMessage(`own ${payload}`, 'side');
                    });
                    api.registerInputListener(({ payload }) => { seen.push(`second ${payload}`); });
                    api.sendMessage('ready');
                    // Messages that come before this wait for it.
                    setTimeout(() => api.startMessageListening(), 200);
                });
            """
        },
    )
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message == out("ready"):
            for i, payload in enumerate(["a", "b", "end"], 1):
                session.send(stream_in(payload, f"m{i}", origin="camera"))

    outcome = session.run_task(stream_task("stateful"), on_event=worker)

    assert outcome.status == "done"
    assert outcome.result == [["a", "camera"], "second a", ["b", "camera"], "second b"]
    assert events == [
        out("ready"),
        out("api a", None, "m1"),
        out("own a", "side", "m1"),
        done("m1"),
        out("api b", None, "m2"),
        out("own b", "side", "m2"),
        done("m2"),
        done("m3"),
    ]


def test_a_failing_listener_is_logged_and_its_message_still_acknowledged(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                exports.start = (args, api) => new Promise((resolve) => {
                    api.registerInputListener(({ payload }) => {
                        if (payload === 'end') resolve('ended');
                        else throw new Error(`listener refused ${payload}`);
                    });
                    api.startMessageListening();
                });
            """
        },
    )
    events: list[dict[str, Any]] = []
    send_later(session, [stream_in("x", "m1"), stream_in("end", "m2")])

    outcome = session.run_task(stream_task("stateful"), on_event=events.append)

    assert outcome.result == "ended" and events == [done("m1"), done("m2")]
    assert any("listener refused x" in line for line in session.drain_logs())


def test_a_stateless_node_calls_start_once_per_message_and_forwards_its_value(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                let inits = 0;
                let calls = 0;
                exports.init = () => { inits += 1; };
                exports.start = async (args) => {
                    calls += 1;
                    const { message, origin } = args.streamInput;
                    return { doubled: message * 2, origin, node: args.nodeName, inits, calls };
                };
            """
        },
    )
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message in (done("m3"), done("m5")):
            session.stop()

    send_later(session, [stream_in(i, f"m{i}") for i in (1, 2, 3)])
    stopped = session.run_task(stream_task("stateless"), on_event=worker)

    assert stopped.status == "stopped"
    forwarded = [
        out({"doubled": 2 * i, "origin": "source", "node": "double", "inits": 1, "calls": i}, None, f"m{i}")
        for i in (1, 2, 3)
    ]
    assert events[:6] == [forwarded[0], done("m1"), forwarded[1], done("m2"), forwarded[2], done("m3")]
    assert events[6:] and all(e == {"command": "stopping", "data": None} for e in events[6:])

    # Without childs the value goes nowhere; the message is still acknowledged.
    events.clear()
    send_later(session, [stream_in(5, "m5")])
    session.run_task(stream_task("stateless", childs=[]), on_event=worker)
    assert events[0] == done("m5")


def test_a_throwing_stateless_start_acknowledges_its_message_and_fails_the_task(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                exports.start = ({ streamInput }) => {
                    if (streamInput.message === 'bad') throw new Error('cannot double bad');
                    return streamInput.message * 2;
                };
            """
        },
    )
    events: list[dict[str, Any]] = []
    send_later(session, [stream_in(1, "m1"), stream_in("bad", "m2")])

    outcome = session.run_task(stream_task("stateless"), on_event=events.append)

    assert outcome.status == "error" and outcome.error == {"code": "Failed", "message": "cannot double bad"}
    assert events == [out(2, None, "m1"), done("m1"), done("m2")]


def test_a_graceful_stop_beats_stopping_until_the_message_in_hand_is_done(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                let end;
                exports.start = (args, api) => new Promise((resolve) => {
                    end = resolve;
                    api.registerInputListener(async ({ payload }) => {
                        api.sendMessage(`begun ${payload}`);
                        await new Promise((r) => setTimeout(r, 2500));
                        api.sendMessage(`finished ${payload}`);
                    });
                    api.startMessageListening();
                });
                exports.stop = () => end('stopped');
            """
        },
    )
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message == out("begun slow", None, "m1"):
            session.stop()

    send_later(session, [stream_in("slow", "m1"), stream_in("queued", "m2")])
    outcome = session.run_task(stream_task("stateful"), on_event=worker)

    assert outcome.status == "stopped"
    commands = [e["command"] for e in events]
    beats = commands.count("stopping")
    assert beats >= 2  # at once, then every second for ~2.5 s
    assert commands[:2] == ["streamingOutMessage", "stopping"]
    # The message in hand and the one waiting behind it are handled before `stopped`.
    assert [e for e in events if e["command"] != "stopping"] == [
        out("begun slow", None, "m1"),
        out("finished slow", None, "m1"),
        done("m1"),
        out("begun queued", None, "m2"),
        out("finished queued", None, "m2"),
        done("m2"),
    ]


def test_a_forced_stop_sends_no_stopping_beat(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                let end;
                exports.start = (args, api) => new Promise((resolve) => {
                    end = resolve;
                    api.registerInputListener(() => {});
                    api.startMessageListening();
                    api.sendMessage('ready');
                });
                exports.stop = () => end();
            """
        },
    )
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        session.stop(force=True)

    outcome = session.run_task(stream_task("stateful"), on_event=worker)

    assert outcome.status == "stopped" and events == [out("ready")]


def test_with_stream_batch_messages_come_and_go_many_per_frame(start_wrapper: SessionFactory) -> None:
    # Our worker's frames of many messages (docs/streaming.md): the task says streamBatch.
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                exports.start = (args, api) => new Promise((resolve) => {
                    for (let n = 0; n < 3; n += 1) api.sendMessage({ n });
                    api.registerInputListener(({ payload, sendMessage }) => {
                        if (payload === 'end') {
                            resolve('streamBatch' in args ? 'the field reached start' : 'ended');
                            return;
                        }
                        api.sendMessage(`api ${payload}`);
                        sendMessage(`own ${payload}`, 'side');
                    });
                    api.startMessageListening();
                });
            """
        },
    )
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message["command"] == "streamingOutMessages":
            batch = [stream_in(p, f"m{i}")["data"] for i, p in enumerate(["a", "b", "end"], 1)]
            session.send({"command": "streamingInMessages", "data": {"messages": batch}})

    outcome = session.run_task(stream_task("stateful", streamBatch=True), on_event=worker)

    assert outcome.status == "done" and outcome.result == "ended"
    own = [out({"n": n})["data"] for n in range(3)]
    outputs = [
        out("api a", None, "m1")["data"],
        out("own a", "side", "m1")["data"],
        out("api b", None, "m2")["data"],
        out("own b", "side", "m2")["data"],
    ]
    assert events == [
        {"command": "streamingOutMessages", "data": {"messages": own}},
        {
            "command": "streamingInMessagesDone",
            "data": {"sendMessageIds": ["m1", "m2", "m3"], "messages": outputs},
        },
    ]
