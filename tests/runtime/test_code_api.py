"""Sub-pipelines through the code API, worker side: real wrapper processes, a fake job backend.

The backend (where child jobs live) is the one thing faked here; the database side and the
whole flow are in tests/e2e/test_subpipelines.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from algorithms.runtime import protocol as p
from algorithms.runtime.code_api import Kind, Outcome, TaskCodeApi, Watches
from algorithms.runtime.session import AlgorithmSession, TaskOutcome

from .conftest import SessionFactory, requires_node

PARENT = "job-parent"


class FakeBackend:
    """Child jobs in memory; `finish` ends one and publishes it, as the job's end does."""

    def __init__(self, registry: Watches) -> None:
        self.registry = registry
        self.started: list[tuple[Kind, dict[str, Any], str, str | None]] = []
        self.stopped: list[tuple[str, str]] = []
        self.outcomes: dict[str, Outcome] = {}
        self.refusal: str | None = None
        self.on_start: Outcome | None = None  # the child ends before it is even watched

    def start(
        self, kind: Kind, sub_pipeline: dict[str, Any], *, parent_job_id: str, root_job_id: str | None
    ) -> str:
        if self.refusal:
            raise ValueError(self.refusal)
        self.started.append((kind, sub_pipeline, parent_job_id, root_job_id))
        job_id = f"child-{len(self.started)}"
        if self.on_start is not None:
            self.outcomes[job_id] = self.on_start
        return job_id

    def outcome(self, job_id: str, *, with_result: bool, inline_big_data: bool) -> Outcome | None:
        return self.outcomes.get(job_id)

    def stop(self, job_id: str, reason: str) -> None:
        self.stopped.append((job_id, reason))
        self.finish(job_id, ("stopped", reason))

    def finish(self, job_id: str, outcome: Outcome) -> None:
        self.outcomes[job_id] = outcome
        self.registry.job_finished(job_id)

    def finish_later(self, job_id: str, outcome: Outcome, delay: float = 0.3) -> None:
        threading.Timer(delay, self.finish, (job_id, outcome)).start()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(Watches(sweep_seconds=0.2))


def run(session: AlgorithmSession, backend: FakeBackend, *inputs: Any, timeout: float = 20) -> TaskOutcome:
    """One task with the code API, as the runner drives it."""
    payload = {"jobId": PARENT, "taskId": "task-1", "input": list(inputs), "info": {"rootJobId": None}}
    with TaskCodeApi(session, payload, backend, backend.registry) as api:
        return api.ended(session.run_task(payload, on_event=api.on_event, timeout=timeout))


RAW = {
    "main.py": """
        def start(args, api):
            nodes = [{"nodeName": "n", "algorithmName": "echo", "input": ["@flowInput.x"]}]
            include = args["input"][0] != "no-result"
            return {"got": api.start_raw_subpipeline("child", nodes, {"x": 5}, includeResult=include)}
    """
}

STORED = {
    "main.py": """
        def start(args, api):
            return {"got": api.start_stored_subpipeline("stored-child", {"b": 2})}
    """
}

CHILD_RESULT = [{"nodeName": "n", "algorithmName": "echo", "result": [5]}]


def test_session_send_reaches_the_algorithm_while_run_task_waits(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", RAW)
    numbers: list[int] = []

    def answer_later(message: dict[str, Any]) -> None:
        task = session.current_task
        numbers.append(task)
        reply = {"subPipelineId": message["data"]["subPipelineId"], "response": "from another thread"}

        def send() -> None:
            time.sleep(0.2)  # run_task is blocked in recv by now
            assert session.send({"command": p.SUB_PIPELINE_DONE, "data": reply}, task=task)

        threading.Thread(target=send).start()

    outcome = session.run_task({"input": [1]}, on_event=answer_later)

    assert outcome.status == "done" and outcome.result == {"got": "from another thread"}
    # Once the task has ended, a reply for it is no longer sent (it could reach the next task).
    assert not session.send({"command": p.SUB_PIPELINE_DONE, "data": {}}, task=numbers[0])


def test_a_raw_sub_pipeline_returns_the_childs_results(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("python", RAW)
    backend.finish_later("child-1", ("completed", CHILD_RESULT))

    outcome = run(session, backend, "go")

    assert outcome.result == {"got": CHILD_RESULT}
    kind, sub_pipeline, parent, root = backend.started[0]
    assert (kind, parent, root) == ("raw", PARENT, None)
    assert sub_pipeline == {
        "name": "child",
        "nodes": [{"nodeName": "n", "algorithmName": "echo", "input": ["@flowInput.x"]}],
        "options": {},
        "webhooks": {},
        "flowInput": {"x": 5},
    }
    assert backend.stopped == []  # answered, so nothing is left to stop at the task's end


def test_a_stored_sub_pipeline_sends_its_name_and_flow_input(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("python", STORED)
    backend.finish_later("child-1", ("completed", CHILD_RESULT))

    outcome = run(session, backend)

    assert outcome.result == {"got": CHILD_RESULT}
    assert backend.started[0][:2] == ("stored", {"name": "stored-child", "flowInput": {"b": 2}})


def test_include_result_false_returns_none(start_wrapper: SessionFactory, backend: FakeBackend) -> None:
    session = start_wrapper("python", RAW)
    backend.finish_later("child-1", ("completed", CHILD_RESULT))

    assert run(session, backend, "no-result").result == {"got": None}


def test_a_failed_child_is_returned_as_its_error_message_not_raised(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("python", RAW)
    backend.finish_later("child-1", ("failed", "node n failed: refused"))

    outcome = run(session, backend, "go")

    assert outcome.status == "done" and outcome.result == {"got": "node n failed: refused"}


def test_a_refused_sub_pipeline_is_returned_as_the_refusal(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("python", RAW)
    backend.refusal = "algorithm echo Not Found"

    assert run(session, backend, "go").result == {"got": "algorithm echo Not Found"}


def test_a_child_that_ended_before_it_was_watched_is_still_answered(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("python", RAW)
    backend.on_start = ("completed", CHILD_RESULT)  # no finish message will ever come

    assert run(session, backend, "go").result == {"got": CHILD_RESULT}


def test_a_lost_finish_message_is_made_up_by_the_sweep(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("python", RAW)
    threading.Timer(0.3, lambda: backend.outcomes.update({"child-1": ("completed", CHILD_RESULT)})).start()

    assert run(session, backend, "go").result == {"got": CHILD_RESULT}


def test_stop_subpipeline_stops_the_child_and_the_waiting_call_returns_none(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper(
        "python",
        {
            "main.py": """
                import threading, time

                def start(args, api):
                    got = []
                    waiting = threading.Thread(
                        target=lambda: got.append(api.start_raw_subpipeline("child", [], {}))
                    )
                    waiting.start()
                    while not api.running_subpipelines:
                        time.sleep(0.01)
                    api.stop_subpipeline(api.running_subpipelines[0], "enough")
                    waiting.join()
                    return got
            """
        },
    )

    outcome = run(session, backend)

    assert outcome.result == [None]
    assert backend.stopped == [("child-1", "stopped by algorithm: enough")]


def test_children_still_running_are_stopped_when_the_task_ends(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper(
        "python",
        {
            "main.py": """
                import threading, time

                def start(args, api):
                    call = threading.Thread(target=api.start_raw_subpipeline, args=("child", [], {}))
                    call.daemon = True
                    call.start()
                    while not api.running_subpipelines:
                        time.sleep(0.01)
                    time.sleep(0.2)  # the worker has the request by now
                    if args["input"] == ["fail"]:
                        raise RuntimeError("gave up")
                    return "not waiting"
            """
        },
    )

    assert run(session, backend, "ok").result == "not waiting"
    assert backend.stopped == [("child-1", "parent algorithm entered state results")]

    assert run(session, backend, "fail").status == "error"
    assert backend.stopped[1] == ("child-2", "parent algorithm failed: gave up")


def test_stopping_the_task_releases_a_call_waiting_on_a_sub_pipeline(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("python", RAW, stop_grace=5.0)
    threading.Timer(0.5, session.stop).start()

    began = time.monotonic()
    outcome = run(session, backend, "go")

    assert outcome.status == "stopped" and time.monotonic() - began < 4  # not killed by stop_grace
    assert backend.stopped == [("child-1", "parent pipeline stopped")]
    assert session.alive


NODE_PARENT = {
    "index.js": """
        module.exports.start = async (args, api) => {
            const nodes = [{ nodeName: 'n', algorithmName: 'echo', input: ['@flowInput.x'] }];
            try {
                return { got: await api.startRawSubpipeline('child', nodes, { x: 5 }) };
            } catch (err) {
                return { rejected: err };
            }
        };
    """
}


@requires_node
def test_the_nodejs_wrapper_resolves_with_the_childs_results(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("nodejs", NODE_PARENT)
    backend.finish_later("child-1", ("completed", CHILD_RESULT))

    assert run(session, backend).result == {"got": CHILD_RESULT}
    assert backend.started[0][1]["flowInput"] == {"x": 5}


@requires_node
def test_the_nodejs_wrapper_rejects_with_the_error_message_as_hkubes_does(
    start_wrapper: SessionFactory, backend: FakeBackend
) -> None:
    session = start_wrapper("nodejs", NODE_PARENT)
    backend.finish_later("child-1", ("failed", "node n failed: refused"))

    assert run(session, backend).result == {"rejected": "node n failed: refused"}
