"""Java builds (builds/languages/java.py): sources compiled with the real javac, prebuilt jars, the entry
class found at build time, libraries, the cached wrapper jar, stopping a build step."""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from algorithms.runtime.session import AlgorithmSession
from builds.languages import java, wrapper_env
from builds.languages.base import is_built
from builds.process import BuildError, BuildStopped, stop_when

needs_jdk = pytest.mark.skipif(
    java.java_tool("javac") is None or java.java_tool("java") is None, reason="no JDK installed"
)


def algorithm(cls: str, result: str, package: str = "") -> str:
    header = f"package {package};\n" if package else ""
    return (
        header
        + "import hkube.algo.wrapper.IAlgorithm;\nimport hkube.api.IHKubeAPI;\nimport java.util.Map;\n"
        + f"public class {cls} implements IAlgorithm {{\n"
        + "    public void Init(Map args) {}\n"
        + f"    public Object Start(Map args, IHKubeAPI api) {{ return {result}; }}\n"
        + "    public void Stop() {}\n    public void Cleanup() {}\n}\n"
    )


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def make_jar(jar: Path, sources: dict[str, str], classpath: list[Path], manifest: str = "") -> Path:
    """Compile ``sources`` with javac into ``jar`` (what a user's Maven or Gradle build uploads)."""
    work = Path(tempfile.mkdtemp(prefix="make-jar-"))  # outside the code folder
    src, classes = work / "src", work / "classes"
    write(src, sources)
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", ":".join(map(str, classpath)), *map(str, src.rglob("*.java"))],
        check=True,
        capture_output=True,
    )
    jar.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n" + manifest + "\r\n")
        for path in classes.rglob("*.class"):
            zf.write(path, path.relative_to(classes).as_posix())
    return jar


def run_once(code: Path, env_dir: Path, entry_point: str | None = None) -> object:
    command = java.java_command(env_dir, {"mem": "256Mi"})
    with AlgorithmSession(command, wrapper_env("java", code, entry_point), cwd=str(code)) as session:
        outcome = session.run_task({"input": []})
    assert outcome.status == "done", outcome
    return outcome.result


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("java-cache")


@pytest.fixture(scope="module")
def wrapper(cache_dir: Path) -> Path:
    return java.wrapper_jar(cache_dir, log=lambda line: None)


# --- plain functions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mem", "env", "expected"),
    [
        ("256Mi", {}, ["-Xms205M", "-Xmx205M"]),
        ("1Gi", {}, ["-Xms256M", "-Xmx819M"]),
        ("2G", {}, ["-Xms256M", "-Xmx1526M"]),
        ("1Gi", {"JAVA_MIN_MEM": "64M"}, ["-Xms64M", "-Xmx819M"]),
        ("1Gi", {"JAVA_MAX_MEM": "300M"}, ["-Xmx300M"]),
        ("1Gi", {"JAVA_MAX_MEM": "300M", "JAVA_MIN_MEM": "100M"}, ["-Xms100M", "-Xmx300M"]),
    ],
)
def test_heap_options_follow_hkubes_run_java_script(
    mem: str, env: dict[str, str], expected: list[str]
) -> None:
    assert java.heap_options(mem, env) == expected


def test_memory_quantities_are_read_in_mi() -> None:
    assert java.memory_mi("512Mi") == 512
    assert java.memory_mi("1.5Gi") == 1536
    with pytest.raises(ValueError, match="invalid memory quantity"):
        java.memory_mi("lots")


# --- builds ------------------------------------------------------------------------------


@needs_jdk
def test_the_wrapper_jar_is_compiled_once_and_then_taken_from_the_cache(
    cache_dir: Path, wrapper: Path
) -> None:
    log: list[str] = []

    again = java.wrapper_jar(cache_dir, log=log.append)

    assert again == wrapper and log == [f"java wrapper: {wrapper.name} (cached)"]
    with zipfile.ZipFile(wrapper) as zf:
        assert "hkube/algo/wrapper/IAlgorithm.class" in zf.namelist()
        assert "Main-Class: hkube.algo.wrapper.Main" in zf.read("META-INF/MANIFEST.MF").decode()


@needs_jdk
def test_sources_are_compiled_with_their_libraries_and_resources(
    tmp_path: Path, cache_dir: Path, wrapper: Path
) -> None:
    code = tmp_path / "code"
    make_jar(
        code / "lib" / "greeting.jar",
        {
            "acme/Greeting.java": (
                'package acme;\npublic class Greeting { public static String hi() { return "hi"; } }\n'
            )
        },
        [],
    )
    write(
        code,
        {
            "src/main/java/example/Algo.java": algorithm(
                "Algo",
                'acme.Greeting.hi() + " " + new String(getClass().getResourceAsStream("/note.txt")'
                ".readAllBytes()).trim()",
                package="example",
            ).replace("IHKubeAPI api)", "IHKubeAPI api) throws Exception"),
            "src/main/resources/note.txt": "from a resource\n",
            "src/test/java/example/AlgoTest.java": "this is not java and must not be compiled",
        },
    )
    log: list[str] = []

    java.build_java_env(code, tmp_path / "env", log=log.append, cache_dir=cache_dir)

    assert is_built(tmp_path / "env")
    assert "algorithm class: example.Algo" in log
    assert run_once(code, tmp_path / "env") == "hi from a resource"


@needs_jdk
def test_a_prebuilt_jar_is_run_as_it_is_with_the_class_its_manifest_names(
    tmp_path: Path, cache_dir: Path, wrapper: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    make_jar(
        code / "encapsulated-algorithm.jar",
        {
            "a/First.java": algorithm("First", '"first"', "a"),
            "a/Second.java": algorithm("Second", '"second"', "a"),
        },
        [wrapper],
        manifest="Hkube-Algorithm: a.Second\r\n",
    )
    log: list[str] = []

    java.build_java_env(code, tmp_path / "env", log=log.append, cache_dir=cache_dir)

    assert not any(line.startswith("$ javac") and "source" in line for line in log)
    assert "algorithm class: a.Second" in log
    assert run_once(code, tmp_path / "env") == "second"
    assert run_once(code, tmp_path / "env", entry_point="a.First") == "first"  # entryPoint wins


@needs_jdk
def test_the_only_algorithm_class_is_found_without_an_entry_point(
    tmp_path: Path, cache_dir: Path, wrapper: Path
) -> None:
    code = write(
        tmp_path / "code", {"Helper.java": "class Helper {}\n", "Solo.java": algorithm("Solo", "42")}
    )
    log: list[str] = []

    java.build_java_env(code, tmp_path / "env", log=log.append, cache_dir=cache_dir)

    assert "algorithm class: Solo" in log
    assert run_once(code, tmp_path / "env") == 42


@needs_jdk
def test_an_entry_point_may_name_the_source_file(tmp_path: Path, cache_dir: Path, wrapper: Path) -> None:
    code = write(tmp_path / "code", {"src/main/java/x/y/Algo.java": algorithm("Algo", '"xy"', "x.y")})
    log: list[str] = []

    java.build_java_env(
        code, tmp_path / "env", log=log.append, cache_dir=cache_dir, entry_point="src/main/java/x/y/Algo.java"
    )

    assert "algorithm class: x.y.Algo" in log


@needs_jdk
@pytest.mark.parametrize(
    ("files", "entry_point", "message"),
    [
        ({"A.java": algorithm("A", "1"), "B.java": algorithm("B", "2")}, None, "several classes implement"),
        ({"A.java": algorithm("A", "1")}, "Nope", "entry point class 'Nope' was not found"),
        ({"A.java": algorithm("A", "1"), "P.java": "public class P {}\n"}, "P", "does not implement"),
        ({"P.java": "public class P {}\n"}, None, "no class implementing hkube.algo.wrapper.IAlgorithm"),
        ({"A.java": algorithm("A", "1").replace("return", "retrun")}, None, "error:"),
        ({"README.md": "no code"}, None, "needs .java sources or a prebuilt .jar"),
    ],
)
def test_a_build_that_cannot_run_fails_with_a_message_that_says_why(
    tmp_path: Path,
    cache_dir: Path,
    wrapper: Path,
    files: dict[str, str],
    entry_point: str | None,
    message: str,
) -> None:
    code = write(tmp_path / "code", files)

    with pytest.raises(BuildError, match=message):
        java.build_java_env(
            code, tmp_path / "env", log=lambda line: None, cache_dir=cache_dir, entry_point=entry_point
        )
    assert not (tmp_path / "env").exists()


@needs_jdk
def test_the_dependency_install_command_runs_first_in_the_code_folder(
    tmp_path: Path, cache_dir: Path, wrapper: Path
) -> None:
    code = write(tmp_path / "code", {"A.java": algorithm("A", '"a"')})
    # The command moves the source into place, as a fetch or a generator would.
    (code / "A.java").rename(code / "A.java.in")

    java.build_java_env(
        code, tmp_path / "env", log=lambda line: None, cache_dir=cache_dir, install_cmd="cp A.java.in A.java"
    )

    assert run_once(code, tmp_path / "env") == "a"


@needs_jdk
def test_a_stopped_build_kills_its_running_step(tmp_path: Path, cache_dir: Path, wrapper: Path) -> None:
    code = write(tmp_path / "code", {"A.java": algorithm("A", '"a"')})
    requested = threading.Event()
    threading.Timer(0.5, requested.set).start()
    began = time.monotonic()

    with stop_when(requested.is_set, interval=0.1), pytest.raises(BuildStopped):
        java.build_java_env(
            code, tmp_path / "env", log=lambda line: None, cache_dir=cache_dir, install_cmd="sleep 30"
        )

    assert time.monotonic() - began < 10
    assert not (tmp_path / "env").exists()
