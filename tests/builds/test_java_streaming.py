"""Streaming (`kind: stream`) in our Java wrapper, built with builds/languages/java.py and driven
through AlgorithmSession: sendMessage, input listeners and their streamingInMessageDone replies,
HKube's Java stateless shape (Init and Start per message) and the `stopping` beat of a graceful stop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from algorithms.runtime.session import AlgorithmSession
from builds.languages import java, wrapper_env

pytestmark = pytest.mark.skipif(
    java.java_tool("javac") is None or java.java_tool("java") is None, reason="no JDK installed"
)

ALGORITHM = """
package example;

import hkube.algo.wrapper.IAlgorithm;
import hkube.api.IHKubeAPI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

public class Streamer implements IAlgorithm {
    private int inits;
    private int calls;
    private volatile CountDownLatch end = new CountDownLatch(1);
    private volatile Object endValue;

    @Override
    public void Init(Map args) { inits++; }

    @Override
    public Object Start(Map args, IHKubeAPI api) throws Exception {
        Map streamInput = (Map) args.get("streamInput");
        if (streamInput != null) { // a stateless node: once per message
            calls++;
            Object message = streamInput.get("message");
            if ("bad".equals(message)) {
                throw new IllegalStateException("cannot double bad");
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("doubled", ((Number) message).intValue() * 2);
            out.put("origin", streamInput.get("origin"));
            out.put("node", args.get("nodeName"));
            out.put("inits", inits);
            out.put("calls", calls);
            return out;
        }
        end = new CountDownLatch(1);
        String action = (String) ((List) args.get("input")).get(0);
        switch (action) {
            case "send":
                api.sendMessage(Map.of("n", 1));
                api.sendMessage("two", "analyze");
                return "source finished";
            case "listen": {
                List<Object> seen = Collections.synchronizedList(new ArrayList<>());
                api.registerInputListener((msg, origin) -> {
                    if ("end".equals(msg)) {
                        endValue = new ArrayList<>(seen);
                        end.countDown();
                        return;
                    }
                    if ("throw".equals(msg)) {
                        throw new IllegalStateException("listener refused " + msg);
                    }
                    seen.add(List.of(msg, origin));
                    api.sendMessage("api " + msg);
                    api.sendMessage("flow " + msg, "side");
                });
                api.registerInputListener((msg, origin) -> seen.add("second " + msg));
                api.sendMessage("ready");
                Thread.sleep(200); // messages that come meanwhile wait for startMessageListening
                api.startMessageListening();
                end.await();
                return endValue;
            }
            case "slow":
                api.registerInputListener((msg, origin) -> {
                    api.sendMessage("begun " + msg);
                    try {
                        Thread.sleep(2500);
                    } catch (InterruptedException exc) {
                        throw new IllegalStateException(exc);
                    }
                    api.sendMessage("finished " + msg);
                });
                api.startMessageListening();
                end.await();
                return "ended by stop";
            default:
                return "unknown " + action;
        }
    }

    @Override
    public void Stop() { end.countDown(); }

    @Override
    public void Cleanup() {}
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("java-stream")
    code = root / "code"
    (code / "src" / "main" / "java" / "example").mkdir(parents=True)
    (code / "src" / "main" / "java" / "example" / "Streamer.java").write_text(ALGORITHM)
    java.build_java_env(code, root / "env", log=lambda line: None, cache_dir=root / "cache")
    return code, root / "env"


@pytest.fixture
def start(built: tuple[Path, Path]) -> Iterator[Callable[..., AlgorithmSession]]:
    code, env_dir = built
    sessions: list[AlgorithmSession] = []

    def start_session(**options: Any) -> AlgorithmSession:
        session = AlgorithmSession(
            java.java_command(env_dir, {}), wrapper_env("java", code, None), cwd=str(code), **options
        )
        sessions.append(session)
        session.start()
        return session

    yield start_session
    for session in sessions:
        session.close()


def stream_task(state_type: str, action: str = "", childs: list[str] | None = None) -> dict[str, Any]:
    return {
        "jobId": "job-s",
        "taskId": f"task-{state_type}",
        "nodeName": "double" if state_type == "stateless" else "source",
        "kind": "stream",
        "stateType": state_type,
        "childs": ["sink"] if childs is None else childs,
        "defaultFlow": "main",
        "parsedFlow": {"main": [{"source": "source", "next": ["double"]}]},
        "input": [action] if action else [],
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


def send_later(session: AlgorithmSession, messages: list[dict[str, Any]], delay: float = 0.3) -> None:
    def send_all() -> None:
        for message in messages:
            session.send(message)

    threading.Timer(delay, send_all).start()


def test_a_stateful_node_sends_messages_with_and_without_a_flow(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()
    events: list[dict[str, Any]] = []

    outcome = session.run_task(stream_task("stateful", "send"), on_event=events.append)

    assert outcome.status == "done" and outcome.result == "source finished"
    assert events == [out({"n": 1}), out("two", "analyze")]


def test_input_listeners_get_each_message_in_order_and_every_message_is_acknowledged(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message == out("ready"):
            for i, payload in enumerate(["a", "throw", "end"], 1):
                session.send(stream_in(payload, f"m{i}", origin="camera"))

    outcome = session.run_task(stream_task("stateful", "listen"), on_event=worker)

    assert outcome.status == "done"
    assert outcome.result == [["a", "camera"], "second a", "second throw"]
    assert events == [
        out("ready"),
        out("api a", None, "m1"),
        out("flow a", "side", "m1"),
        done("m1"),
        done("m2"),  # its first listener threw: logged, still acknowledged
        done("m3"),
    ]
    assert any("listener refused throw" in line for line in session.drain_logs())


def test_a_stateless_node_runs_init_and_start_per_message_and_forwards_the_value(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message in (done("m3"), done("m5")):
            session.stop()

    send_later(session, [stream_in(i, f"m{i}") for i in (1, 2, 3)])
    stopped = session.run_task(stream_task("stateless"), on_event=worker)

    assert stopped.status == "stopped"
    forwarded = [
        out({"doubled": 2 * i, "origin": "source", "node": "double", "inits": i, "calls": i}, None, f"m{i}")
        for i in (1, 2, 3)
    ]
    assert events[:6] == [forwarded[0], done("m1"), forwarded[1], done("m2"), forwarded[2], done("m3")]
    assert events[6:] and all(e == {"command": "stopping", "data": None} for e in events[6:])

    events.clear()
    send_later(session, [stream_in(5, "m5")])
    session.run_task(stream_task("stateless", childs=[]), on_event=worker)
    assert events[0] == done("m5")  # no childs: the value goes nowhere


def test_a_throwing_stateless_start_acknowledges_its_message_and_fails_the_task(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()
    events: list[dict[str, Any]] = []
    send_later(session, [stream_in(1, "m1"), stream_in("bad", "m2")])

    outcome = session.run_task(stream_task("stateless"), on_event=events.append)

    assert outcome.status == "error" and outcome.error == {"code": "Failed", "message": "cannot double bad"}
    assert events[1:] == [done("m1"), done("m2")]
    assert events[0]["data"]["message"]["doubled"] == 2


def test_a_graceful_stop_beats_stopping_until_the_message_in_hand_is_done(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message == out("begun slow", None, "m1"):
            session.stop()

    send_later(session, [stream_in("slow", "m1"), stream_in("queued", "m2")])
    outcome = session.run_task(stream_task("stateful", "slow"), on_event=worker)

    assert outcome.status == "stopped"
    commands = [e["command"] for e in events]
    assert commands.count("stopping") >= 2 and commands[:2] == ["streamingOutMessage", "stopping"]
    assert [e for e in events if e["command"] != "stopping"] == [
        out("begun slow", None, "m1"),
        out("finished slow", None, "m1"),
        done("m1"),
        out("begun queued", None, "m2"),
        out("finished queued", None, "m2"),
        done("m2"),
    ]


def test_a_forced_stop_sends_no_stopping_beat(start: Callable[..., AlgorithmSession]) -> None:
    session = start()
    events: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> None:
        events.append(message)
        if message == out("ready"):
            session.stop(force=True)

    outcome = session.run_task(stream_task("stateful", "listen"), on_event=worker)

    assert outcome.status == "stopped" and events == [out("ready")]
