"""Our Java wrapper (algorithms/wrappers/java) built with builds/languages/java.py and driven through
AlgorithmSession: the real JVM, the real protocol, no fakes."""

from __future__ import annotations

import threading
import time
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public class Algo implements IAlgorithm {
    private volatile boolean stopping;
    private int inits;

    @Override
    public void Init(Map args) {
        inits++;
        List input = (List) args.get("input");
        if (!input.isEmpty() && "init-fail".equals(input.get(0))) {
            throw new IllegalArgumentException("init refused the task");
        }
    }

    @Override
    public Object Start(Map args, IHKubeAPI api) throws Exception {
        stopping = false;
        List input = (List) args.get("input");
        String action = (String) input.get(0);
        switch (action) {
            case "echo": return input.get(1);
            case "boom": throw new IllegalStateException("boom from java");
            case "npe": { String s = null; return s.length(); }
            case "bytes": return new byte[] {1, 2};
            case "object": return new Object();
            case "print": System.out.println("hello from java"); return null;
            case "inits": return inits;
            case "heap": return Runtime.getRuntime().maxMemory() / (1024 * 1024);
            case "length": return ((String) input.get(1)).length();
            case "api": return api.startAlgorithm("other", List.of(), true);
            case "stored": return api.startStoredPipeLine("child", Map.of("x", input.get(1)));
            case "raw": {
                hkube.api.INode node = new hkube.api.INode() {
                    public String getName() { return "one"; }
                    public Object[] getInput() { return new Object[] {"@flowInput.x"}; }
                    public void setInput(Object[] in) {}
                    public String getAlgorithmName() { return "green-alg"; }
                    public void setAlgorithmName(String name) {}
                };
                java.util.concurrent.Future<Object> first = api.startRawSubPipeLineAsynch(
                    "raw-child", new hkube.api.INode[] {node}, Map.of("x", 1), Map.of(), Map.of());
                Object second = api.startStoredPipeLine("child", Map.of(), false);
                return List.of(first.get(), second);
            }
            case "args": {
                Map<String, Object> out = new HashMap<>();
                out.put("jobId", args.get("jobId"));
                out.put("nodeName", args.get("nodeName"));
                out.put("types", List.of(
                    input.get(1).getClass().getSimpleName(), input.get(2).getClass().getSimpleName(),
                    input.get(3).getClass().getSimpleName()));
                out.put("array", new int[] {1, 2, 3});
                out.put("nan", Double.NaN);
                return out;
            }
            case "wait":
                while (!stopping) { Thread.sleep(5); }
                return "result after stop";
            case "sleep":
                Thread.sleep(60_000); // ignores Stop(): the wrapper interrupts it
                return "slept";
            case "spin":
                long end = System.currentTimeMillis() + 60_000;
                while (System.currentTimeMillis() < end) { Thread.onSpinWait(); }
                return "spun";
            default: return "unknown " + action;
        }
    }

    @Override
    public void Stop() { stopping = true; }

    @Override
    public void Cleanup() { System.out.println("cleanup called"); }
}
"""


def lines(log: list[str]) -> Callable[[str], None]:
    return log.append


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("java-cache")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, Path]:
    """The test algorithm, built once for the module: (code_dir, env_dir)."""
    root = tmp_path_factory.mktemp("java-alg")
    code = root / "code"
    (code / "src" / "main" / "java" / "example").mkdir(parents=True)
    (code / "src" / "main" / "java" / "example" / "Algo.java").write_text(ALGORITHM)
    java.build_java_env(code, root / "env", log=lambda line: None, cache_dir=cache_dir)
    return code, root / "env"


@pytest.fixture
def start(built: tuple[Path, Path]) -> Iterator[Callable[..., AlgorithmSession]]:
    code, env_dir = built
    sessions: list[AlgorithmSession] = []

    def start_session(descriptor: dict[str, Any] | None = None, **options: Any) -> AlgorithmSession:
        descriptor = descriptor or {}
        command = java.java_command(env_dir, descriptor)
        variables = {
            **wrapper_env("java", code, descriptor.get("entryPoint")),
            **(descriptor.get("algorithmEnv") or {}),
        }
        session = AlgorithmSession(command, variables, cwd=str(code), **options)
        sessions.append(session)
        session.start()
        return session

    yield start_session
    for session in sessions:
        session.close()


def test_start_returns_its_value_over_a_pipelined_json_v1_connection(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()

    outcome = session.run_task({"input": ["echo", {"a": [1, "two", None, True]}]})

    assert outcome.status == "done" and outcome.result == {"a": [1, "two", None, True]}
    assert session.encoding == "json" and session.storage_mode == "v1" and session.pipelined


def test_many_tasks_run_one_after_another_on_one_warm_jvm(start: Callable[..., AlgorithmSession]) -> None:
    session = start()
    pid = session.pid

    results = [session.run_task({"input": ["echo", i]}).result for i in range(300)]

    assert results == list(range(300))
    assert session.run_task({"input": ["inits"]}).result == 301  # Init before every Start
    assert session.pid == pid and session.alive


def test_json_values_keep_their_types_both_ways(start: Callable[..., AlgorithmSession]) -> None:
    session = start()

    outcome = session.run_task({"jobId": "job-1", "nodeName": "green", "input": ["args", 7, 2**40, 1.5]})

    assert outcome.result == {
        "jobId": "job-1",
        "nodeName": "green",
        "types": ["Integer", "Long", "Double"],
        "array": [1, 2, 3],
        "nan": pytest.approx(float("nan"), nan_ok=True),
    }


def test_unicode_and_a_large_payload_go_both_ways(start: Callable[..., AlgorithmSession]) -> None:
    session = start()
    text = 'é"\\\n\t\u2028😀' * 300_000

    assert session.run_task({"input": ["echo", text]}).result == text
    assert session.run_task({"input": ["length", "é" * 2_000_000]}).result == 2_000_000


def test_an_exception_is_reported_with_its_message(start: Callable[..., AlgorithmSession]) -> None:
    session = start()

    boom = session.run_task({"input": ["boom"]})
    npe = session.run_task({"input": ["npe"]})
    after = session.run_task({"input": ["echo", "still alive"]})

    assert boom.status == "error" and boom.error == {"code": "Failed", "message": "boom from java"}
    assert npe.status == "error" and "because" in npe.error["message"]  # type: ignore[index]
    assert after.result == "still alive"
    assert any("IllegalStateException: boom from java" in line for line in session.drain_logs())


def test_a_failing_init_fails_the_task_without_running_start(start: Callable[..., AlgorithmSession]) -> None:
    session = start()

    outcome = session.run_task({"input": ["init-fail"]})

    assert outcome.status == "error" and outcome.error["message"] == "init refused the task"  # type: ignore[index]
    assert session.run_task({"input": ["echo", 1]}).result == 1


def test_results_json_cannot_carry_are_errors_that_say_why(start: Callable[..., AlgorithmSession]) -> None:
    session = start()

    binary = session.run_task({"input": ["bytes"]})
    other = session.run_task({"input": ["object"]})

    assert "which a JSON connection cannot carry" in binary.error["message"]  # type: ignore[index]
    assert "a java.lang.Object cannot be sent as JSON" in other.error["message"]  # type: ignore[index]


def test_the_code_api_says_it_is_not_supported_yet(start: Callable[..., AlgorithmSession]) -> None:
    outcome = start().run_task({"input": ["api"]})

    assert outcome.status == "error"
    assert "startAlgorithm is not supported by this wrapper yet" in outcome.error["message"]  # type: ignore[index]


def test_sub_pipelines_are_requested_and_their_replies_returned_as_hkubes_java_wrapper_does(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()
    requests: list[dict[str, Any]] = []

    def worker(message: dict[str, Any]) -> dict[str, Any]:
        requests.append(message)
        data = message["data"]
        if data["subPipeline"]["name"] == "raw-child":
            return {
                "command": "subPipelineDone",
                "data": {"subPipelineId": data["subPipelineId"], "response": [7]},
            }
        return {
            "command": "subPipelineError",
            "data": {"subPipelineId": data["subPipelineId"], "error": "no"},
        }

    stored = session.run_task({"input": ["stored", 5]}, on_event=worker)
    raw = session.run_task({"input": ["raw"]}, on_event=worker)

    assert stored.result == {"subPipelineId": "1", "error": "no"}  # returned, not thrown
    assert raw.result == [{"subPipelineId": "2", "response": [7]}, {"subPipelineId": "3", "error": "no"}]
    assert [(m["command"], m["data"]["subPipelineId"], m["data"]["includeResult"]) for m in requests] == [
        ("startStoredSubPipeline", "1", True),
        ("startRawSubPipeline", "2", True),
        ("startStoredSubPipeline", "3", False),
    ]
    assert requests[0]["data"]["subPipeline"] == {"name": "child", "flowInput": {"x": 5}}
    assert requests[1]["data"]["subPipeline"] == {
        "name": "raw-child",
        "flowInput": {"x": 1},
        "nodes": [{"nodeName": "one", "algorithmName": "green-alg", "input": ["@flowInput.x"]}],
        "options": {},
        "webhooks": {},
    }


def test_stopping_the_task_releases_a_call_waiting_on_a_sub_pipeline(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start()
    threading.Timer(0.5, session.stop).start()

    stopped = session.run_task({"input": ["stored", 1]}, on_event=lambda message: None)  # never answered

    assert stopped.status == "stopped"
    assert session.run_task({"input": ["echo", "next"]}).result == "next"


def test_stop_ends_start_through_stop_and_drops_its_result(start: Callable[..., AlgorithmSession]) -> None:
    session = start()
    threading.Timer(0.3, session.stop).start()

    stopped = session.run_task({"input": ["wait"]})
    after = session.run_task({"input": ["echo", "next"]})

    assert stopped.status == "stopped" and stopped.result is None
    assert after.status == "done" and after.result == "next"


def test_stop_interrupts_a_start_that_sleeps_through_stop(start: Callable[..., AlgorithmSession]) -> None:
    session = start()
    threading.Timer(0.3, session.stop).start()
    began = time.monotonic()

    stopped = session.run_task({"input": ["sleep"]})

    assert stopped.status == "stopped" and time.monotonic() - began < 5
    assert session.run_task({"input": ["echo", "next"]}).result == "next"


def test_a_start_that_ignores_stop_and_interrupts_is_killed_after_the_grace_period(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start(stop_grace=2.0)
    threading.Timer(0.3, session.stop).start()

    outcome = session.run_task({"input": ["spin"]})

    assert outcome.status == "stopped"
    assert not session.alive


def test_stdout_is_captured_and_exit_calls_cleanup(start: Callable[..., AlgorithmSession]) -> None:
    session = start()

    session.run_task({"input": ["print"]})
    session.close()

    logs = session.drain_logs()
    assert "hello from java" in logs and "cleanup called" in logs
    assert session.returncode == 0


def test_the_heap_is_eighty_percent_of_the_algorithms_memory(start: Callable[..., AlgorithmSession]) -> None:
    small = start({"mem": "512Mi"}).run_task({"input": ["heap"]}).result
    pinned = (
        start({"mem": "512Mi", "algorithmEnv": {"JAVA_MAX_MEM": "200M"}}).run_task({"input": ["heap"]}).result
    )

    # maxMemory() is -Xmx less a survivor space: a little under the figure asked for.
    assert 380 <= small <= 410
    assert 180 <= pinned <= 200


def test_an_unknown_entry_point_is_reported_when_the_first_task_initializes(
    start: Callable[..., AlgorithmSession],
) -> None:
    session = start({"entryPoint": "example.Missing"})

    outcome = session.run_task({"input": ["echo", 1]})

    assert outcome.status == "error"
    assert "entry point class 'example.Missing' was not found" in outcome.error["message"]  # type: ignore[index]
