"""Our Node.js wrapper (algorithms/wrappers/nodejs/wrapper.js) driven through AlgorithmSession."""

from __future__ import annotations

import threading
from typing import Any

from .conftest import SessionFactory, requires_node

pytestmark = requires_node


def test_a_synchronous_start_returns_its_value(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.start = (args) => ({ echo: args.input });\n"})

    outcome = session.run_task({"input": [1, "two"]})

    assert outcome.status == "done" and outcome.result == {"echo": [1, "two"]}
    assert session.encoding == "json" and session.storage_mode == "v1" and session.pipelined


def test_a_promise_returned_by_start_is_awaited(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                module.exports.start = async (args) => {
                    await new Promise((resolve) => setTimeout(resolve, 20));
                    return args.input[0] * 2;
                };
            """
        },
    )

    assert session.run_task({"input": [21]}).result == 42


def test_many_tasks_run_one_after_another_on_one_warm_process(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.start = (args) => args.input[0];\n"})
    pid = session.pid

    results = [session.run_task({"input": [i]}).result for i in range(300)]

    assert results == list(range(300))
    assert session.pid == pid and session.alive


def test_a_start_that_returns_nothing_is_done_with_null(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.start = () => {};\n"})

    outcome = session.run_task({"input": []})

    assert outcome.status == "done" and outcome.result is None


def test_a_throw_is_reported_with_the_error_message(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs", {"index.js": "exports.start = () => { throw new Error('sync boom'); };\n"}
    )

    outcome = session.run_task({"input": []})

    assert outcome.status == "error" and outcome.error == {"code": "Failed", "message": "sync boom"}


def test_a_rejected_promise_is_reported_with_the_error_message(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs", {"index.js": "exports.start = async () => { throw new TypeError('async boom'); };\n"}
    )

    outcome = session.run_task({"input": []})

    assert outcome.status == "error" and outcome.error == {"code": "Failed", "message": "async boom"}
    assert session.run_task({"input": []}).status == "error"  # still usable


def test_init_runs_before_start_and_may_be_async(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                const seen = [];
                module.exports = {
                    init: async (data) => {
                        await new Promise((resolve) => setTimeout(resolve, 10));
                        seen.push(data.taskId);
                    },
                    start: () => seen.slice(),
                };
            """
        },
    )

    session.run_task({"taskId": "t1", "input": []})

    assert session.run_task({"taskId": "t2", "input": []}).result == ["t1", "t2"]


def test_a_failing_init_fails_the_task_without_running_start(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                let starts = 0;
                exports.init = (data) => { if (data.input[0] === 'bad') throw new Error('init refused'); };
                exports.start = () => { starts += 1; return starts; };
            """
        },
    )

    failed = session.run_task({"input": ["bad"]})
    later = session.run_task({"input": ["good"]})

    assert failed.status == "error" and failed.error == {"code": "Failed", "message": "init refused"}
    assert later.result == 1


def test_a_missing_entry_file_is_reported_when_the_first_task_initializes(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.start = () => 1;\n"}, entry_point="nosuch.js")

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert "failed to load algorithm entry point 'nosuch.js'" in outcome.error["message"]  # type: ignore[index]


def test_a_module_without_start_is_reported_when_the_first_task_initializes(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.begin = () => 1;\n"})

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert "does not export a start function" in outcome.error["message"]  # type: ignore[index]


def test_stop_ends_a_long_running_async_start_and_drops_its_result(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                let stopping = false;
                exports.start = async (args) => {
                    stopping = false;
                    if (args.input[0] !== 'wait') return 'quick';
                    while (!stopping) await new Promise((resolve) => setTimeout(resolve, 10));
                    return 'result after stop';
                };
                exports.stop = () => { stopping = true; };
            """
        },
    )
    threading.Timer(0.3, session.stop).start()

    stopped = session.run_task({"input": ["wait"]})
    after = session.run_task({"input": ["next"]})

    assert stopped.status == "stopped" and stopped.result is None
    assert after.status == "done" and after.result == "quick"


def test_progress_reports_reach_the_event_handler(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs",
        {"index.js": "exports.start = (args, api) => { api.progress(30, 'a third'); return 'ok'; };\n"},
    )
    events: list[dict[str, Any]] = []

    outcome = session.run_task({"input": []}, on_event=events.append)

    assert outcome.result == "ok"
    assert events == [{"command": "progress", "data": {"progress": 30, "message": "a third"}}]


def test_a_buffer_result_is_an_error_that_says_why(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.start = () => ({ blob: Buffer.from('raw') });\n"})

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert "which a JSON connection cannot carry" in outcome.error["message"]  # type: ignore[index]


def test_a_large_payload_goes_both_ways_in_one_message(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.start = (args) => args.input[0].length;\n"})

    assert session.run_task({"input": ["é" * 2_000_000]}).result == 2_000_000


def test_console_output_is_captured(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs", {"index.js": "exports.start = () => { console.log('hello from node'); };\n"}
    )

    session.run_task({"input": []})
    session.close()

    assert "hello from node" in session.drain_logs()
    assert session.returncode == 0


def test_an_es_module_entry_point_is_loaded(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "nodejs", {"index.mjs": "export function start(args) { return 'esm'; }\n"}, entry_point="index.mjs"
    )

    assert session.run_task({"input": []}).result == "esm"


def test_the_wrapper_reconnects_when_the_connection_drops_while_idle(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("nodejs", {"index.js": "exports.start = (args) => args.input[0];\n"})
    pid = session.pid
    session._conn.close()  # type: ignore[union-attr]  # the worker side drops the socket

    assert session.run_task({"input": ["again"]}).result == "again"
    assert session.pid == pid


def test_a_synchronous_start_that_ignores_stop_is_killed_after_the_grace_period(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "nodejs",
        {
            "index.js": """
                exports.start = () => {
                    const end = Date.now() + 30000;
                    while (Date.now() < end) {}
                };
            """
        },
        stop_grace=0.5,
    )
    threading.Timer(0.2, session.stop).start()

    outcome = session.run_task({"input": []})

    assert outcome.status == "stopped" and outcome.duration < 5
    assert not session.alive
