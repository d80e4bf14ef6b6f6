"""Our Python wrapper (algorithms/wrappers/python) driven through AlgorithmSession, real processes."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import pytest

from algorithms.runtime.session import AlgorithmSession, AlgorithmStartError

from .conftest import SessionFactory

ECHO = {"main.py": "def start(args):\n    return {'echo': args['input']}\n"}

STOPPABLE = {
    "main.py": """
        import time

        stopping = False

        def start(args):
            global stopping
            stopping = False
            if args["input"] != ["wait"]:
                return "quick"
            while not stopping:
                time.sleep(0.01)
            return "result after stop"

        def stop(data):
            global stopping
            stopping = True
    """
}

SLEEPER = {
    "main.py": """
        import time

        def start(args):
            print("sleeping", flush=True)
            time.sleep(float(args["input"][0]))
            return "woke up"
    """
}


def test_start_returns_its_value_inline_over_storage_v1(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", ECHO)

    outcome = session.run_task({"input": [1, "two", {"three": 3}]})

    assert outcome.status == "done"
    assert outcome.result == {"echo": [1, "two", {"three": 3}]}
    assert outcome.storing is None and outcome.error is None
    assert session.storage_mode == "v1" and session.pipelined


def test_many_tasks_run_one_after_another_on_one_warm_process(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", ECHO)
    pid = session.pid

    outcomes = [session.run_task({"input": [i]}) for i in range(300)]

    assert [o.result for o in outcomes] == [{"echo": [i]} for i in range(300)]
    assert session.pid == pid and session.alive


def test_init_receives_the_initialize_payload_before_start(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "python",
        {
            "main.py": """
                seen = []

                def init(data):
                    seen.append(data["taskId"])

                def start(args):
                    return list(seen)
            """
        },
    )

    session.run_task({"taskId": "t1", "input": []})
    outcome = session.run_task({"taskId": "t2", "input": []})

    assert outcome.result == ["t1", "t2"]


def test_start_gets_the_whole_payload_and_an_api_when_it_takes_two_arguments(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "python",
        {"main.py": "def start(args, api):\n    return [args['jobId'], args['input'], type(api).__name__]\n"},
    )

    outcome = session.run_task({"jobId": "job-1", "input": [7]})

    assert outcome.result == ["job-1", [7], "HkubeApi"]


def test_an_exception_in_start_is_reported_with_the_algorithms_own_message(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "python", {"main.py": "def start(args):\n    raise ValueError('boom from algorithm')\n"}
    )

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert outcome.error == {"code": "Failed", "message": "boom from algorithm"}
    assert any("Traceback" in line for line in session.drain_logs())
    assert session.run_task({"input": []}).status == "error"  # the process is still usable


def test_an_exception_in_init_fails_the_task_and_start_never_runs(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "python",
        {
            "main.py": """
                def init(data):
                    if data["input"] == ["bad"]:
                        raise RuntimeError("init refused")

                def start(args):
                    print("start ran", flush=True)
                    return "ok"
            """
        },
    )

    failed = session.run_task({"input": ["bad"]})
    logs = session.drain_logs()
    later = session.run_task({"input": ["good"]})

    assert failed.status == "error" and failed.error == {"code": "Failed", "message": "init refused"}
    assert "start ran" not in logs
    assert later.status == "done" and later.result == "ok"


def test_a_missing_entry_module_is_reported_when_the_first_task_initializes(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper("python", ECHO, entry_point="nosuch.py")

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert "No module named 'nosuch'" in outcome.error["message"]  # type: ignore[index]
    assert session.alive


def test_an_entry_point_without_start_is_reported_when_the_first_task_initializes(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper("python", {"main.py": "def begin(args):\n    return 1\n"})

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert "has no start function" in outcome.error["message"]  # type: ignore[index]


def test_an_entry_point_in_a_subfolder_is_imported_as_a_dotted_module(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "python",
        {
            "src/__init__.py": "",
            "src/alg.py": """
                from src.helper import double

                def start(args):
                    return double(args["input"][0])
            """,
            "src/helper.py": "def double(x):\n    return 2 * x\n",
        },
        entry_point="src/alg.py",
    )

    assert session.run_task({"input": [21]}).result == 42


def test_the_algorithm_runs_in_its_own_folder(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "python",
        {"main.py": "def start(args):\n    return open('data.txt').read()\n", "data.txt": "local file"},
    )

    assert session.run_task({"input": []}).result == "local file"


def test_stop_ends_a_long_running_task_as_stopped_and_drops_its_result(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", STOPPABLE)
    threading.Timer(0.3, session.stop).start()

    stopped = session.run_task({"input": ["wait"]})
    after = session.run_task({"input": ["next"]})

    assert stopped.status == "stopped" and stopped.result is None
    assert after.status == "done" and after.result == "quick"  # no late frame of the stopped task
    assert session.alive


def test_stop_without_a_running_task_does_nothing(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", STOPPABLE)

    assert session.stop() is False
    assert session.run_task({"input": ["next"]}).result == "quick"


def test_an_algorithm_that_ignores_stop_is_killed_after_the_grace_period(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper("python", SLEEPER, stop_grace=0.5)
    threading.Timer(0.2, session.stop).start()

    outcome = session.run_task({"input": [30]})

    assert outcome.status == "stopped"
    assert outcome.duration < 5
    assert not session.alive


def test_a_task_past_its_ttl_is_stopped_and_reported_as_timeout(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", STOPPABLE)

    outcome = session.run_task({"input": ["wait"]}, timeout=0.3)

    assert outcome.status == "timeout"
    assert outcome.error is not None and outcome.error["code"] == "Timeout"
    assert session.run_task({"input": ["next"]}).result == "quick"


def test_killing_the_process_mid_task_is_a_crash_that_names_the_signal(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", SLEEPER)
    assert session.pid is not None
    threading.Timer(0.3, os.killpg, (session.pid, signal.SIGKILL)).start()

    outcome = session.run_task({"input": [30]})

    assert outcome.status == "crashed"
    assert outcome.error is not None
    assert "algorithm process exited with code -9 (SIGKILL)" in outcome.error["message"]
    assert not session.alive
    assert session.run_task({"input": [0]}).status == "crashed"


def test_a_process_that_exits_mid_task_reports_its_exit_code_and_stderr(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "python",
        {
            "main.py": """
                import os, sys

                def start(args):
                    print("dying now", file=sys.stderr, flush=True)
                    os._exit(3)
            """
        },
    )

    outcome = session.run_task({"input": []})

    assert outcome.status == "crashed"
    assert outcome.error is not None
    assert "exited with code 3" in outcome.error["message"] and "dying now" in outcome.error["message"]


def test_progress_reports_reach_the_event_handler(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "python",
        {
            "main.py": """
                def start(args, api):
                    api.progress(50, "half way")
                    api.progress(100)
                    return "done"
            """
        },
    )
    events: list[dict[str, Any]] = []

    outcome = session.run_task({"input": []}, on_event=events.append)

    assert outcome.result == "done"
    assert events == [
        {"command": "progress", "data": {"progress": 50, "message": "half way"}},
        {"command": "progress", "data": {"progress": 100, "message": ""}},
    ]


def test_code_api_calls_that_are_not_supported_yet_fail_with_a_clear_message(
    start_wrapper: SessionFactory,
) -> None:
    session = start_wrapper(
        "python", {"main.py": "def start(args, api):\n    return api.start_algorithm('x', [1])\n"}
    )

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert "start_algorithm is not supported by this wrapper yet" in outcome.error["message"]  # type: ignore[index]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_both_frame_codecs_carry_the_same_values(start_wrapper: SessionFactory, encoding: str) -> None:
    session = start_wrapper("python", ECHO, env={"WORKER_ALGORITHM_ENCODING": encoding})
    value = {"text": "héllo ✓", "int": 2**40, "float": 1.5, "list": [None, True, False], "nested": {"a": []}}

    outcome = session.run_task({"input": [value]})

    assert session.encoding == encoding
    assert outcome.result == {"echo": [value]}


def test_a_bytes_result_arrives_as_bytes_over_msgpack(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", {"main.py": "def start(args):\n    return bytes(range(256)) * 4\n"})

    outcome = session.run_task({"input": []})

    assert session.encoding == "msgpack"
    assert outcome.result == bytes(range(256)) * 4


def test_a_bytes_result_over_json_is_an_error_that_says_why(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "python",
        {"main.py": "def start(args):\n    return b'raw'\n"},
        env={"WORKER_ALGORITHM_ENCODING": "json"},
    )

    outcome = session.run_task({"input": []})

    assert outcome.status == "error"
    assert "returned bytes, which a JSON connection cannot carry" in outcome.error["message"]  # type: ignore[index]


def test_a_large_payload_goes_both_ways_in_one_message(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", ECHO)
    blob = "x" * 3_000_000

    outcome = session.run_task({"input": [blob]})

    assert outcome.result == {"echo": [blob]}


def test_printed_lines_are_captured_and_drained_once(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", SLEEPER)

    session.run_task({"input": [0]})
    session.close()  # the reader threads have seen everything once the process is gone

    assert "sleeping" in session.drain_logs()
    assert session.drain_logs() == []


def test_close_asks_the_wrapper_to_exit_and_can_be_called_twice(start_wrapper: SessionFactory) -> None:
    session = start_wrapper(
        "python",
        {
            "main.py": """
                def start(args):
                    return 1

                def exit(data):
                    print("exit", data, flush=True)
            """
        },
    )

    session.close()
    session.close()

    assert session.returncode == 0
    assert not session.alive
    assert "exit {'exitCode': 0}" in session.drain_logs()


def test_the_wrapper_reconnects_when_the_connection_drops_while_idle(start_wrapper: SessionFactory) -> None:
    session = start_wrapper("python", ECHO)
    pid = session.pid
    session._conn.close()  # type: ignore[union-attr]  # the worker side drops the socket

    outcome = session.run_task({"input": ["again"]})

    assert outcome.result == {"echo": ["again"]}
    assert session.pid == pid


def test_a_process_that_exits_before_connecting_raises_with_its_exit_code_and_stderr(
    sessions: list[AlgorithmSession],
) -> None:
    code = "import sys; print('no luck', file=sys.stderr); sys.exit(4)"
    session = AlgorithmSession([sys.executable, "-c", code])
    sessions.append(session)

    with pytest.raises(
        AlgorithmStartError, match=r"exited with code 4 before connecting[\s\S]*no luck"
    ) as info:
        session.start()

    assert info.value.exit_code == 4


def test_a_process_that_never_connects_times_out(sessions: list[AlgorithmSession]) -> None:
    session = AlgorithmSession(["sleep", "30"], connect_timeout=0.5)
    sessions.append(session)

    with pytest.raises(AlgorithmStartError, match=r"did not connect within 0\.5 s"):
        session.start()

    assert not session.alive
