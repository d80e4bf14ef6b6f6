"""Java algorithms: our wrapper jar and the algorithm's jar, built with the JDK alone.

HKube builds a Java algorithm with Maven in an image: a Maven stage packages the user's
project against HKube's shaded wrapper jar, and the image runs
``java -Xms.. -Xmx.. -jar wrapper.jar encapsulated-algorithm.jar``. Here no Maven
repository can be assumed, so a build uses ``javac`` directly:

* our wrapper (``algorithms/wrappers/java/src``, Java 17 standard library only) is
  compiled once per source digest into ``<cache>/hkube-java-wrapper-<digest>.jar`` and
  copied into the version's env folder, so a version never depends on the cache;
* ``dependencyInstallCmd``, when set, runs first in the code folder (to fetch or build jars);
* ``.java`` files in the upload (``src/test`` excluded) are compiled against the wrapper
  and every ``.jar`` of the upload into ``env/algorithm.jar`` (with ``src/main/resources``);
  an upload with only ``.jar`` files runs them as they are;
* the wrapper's ``--resolve`` then names the class that will run, so a wrong
  ``entryPoint`` fails the build rather than the first job.

At run time: ``java -Xms.. -Xmx.. -cp <wrapper>:<classpath> hkube.algo.wrapper.Main``;
``-Xmx`` is 80% of the algorithm's ``mem`` (HKube's ``JAVA_DERIVED_MEMORY``), and
``JAVA_MAX_MEM`` / ``JAVA_MIN_MEM`` in ``algorithmEnv`` win, as in HKube's ``runJava.sh``.
No Django imports: plain Python, tested directly.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builds.languages.base import (
    MARKER,
    REPO_ROOT,
    BuildOptions,
    Launch,
    Version,
    reset_dir,
    wrapper_variables,
    write_marker,
)
from builds.languages.launch_env import build_env
from builds.process import BuildError, Log, run, run_shell

JAVA = "java"
DEFAULT_ENTRY_POINT = ""  # no default file: the class comes from the jar
WRAPPER_SOURCES = REPO_ROOT / "algorithms" / "wrappers" / "java" / "src"
MAIN_CLASS = "hkube.algo.wrapper.Main"
WRAPPER_JAR = "hkube-wrapper.jar"
ALGORITHM_JAR = "algorithm.jar"
DEFAULT_MEMORY = "256Mi"
DERIVED_MEMORY_RATIO = 0.8  # HKube's JAVA_DERIVED_MEMORY = round(0.8 * mem limit in Mi)
DEFAULT_MIN_HEAP_MI = 256  # HKube's JAVA_MIN_MEM default (256M), capped at -Xmx here

_MEMORY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")
_MI_PER_UNIT = {
    "": 1 / (1024 * 1024),  # bytes
    "Ki": 1 / 1024,
    "Mi": 1.0,
    "Gi": 1024.0,
    "Ti": 1024.0 * 1024,
    "K": 1000 / (1024 * 1024),
    "M": 1000**2 / 1024**2,
    "G": 1000**3 / 1024**2,
    "T": 1000**4 / 1024**2,
    "m": 1 / (1000 * 1024 * 1024),
}


def java_tool(name: str) -> str | None:
    """``java`` or ``javac``: from ``JAVA_HOME`` when set, else from ``PATH``."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).is_file():
        return str(Path(home) / "bin" / name)
    return shutil.which(name)


def wrapper_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(WRAPPER_SOURCES.rglob("*.java")):
        digest.update(path.relative_to(WRAPPER_SOURCES).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def wrapper_jar(cache_dir: Path, *, log: Log, deadline: float | None = None) -> Path:
    """Our wrapper compiled into a jar, once per source digest (safe with concurrent builds)."""
    jar = cache_dir / f"hkube-java-wrapper-{wrapper_digest()}.jar"
    if jar.is_file():
        log(f"java wrapper: {jar.name} (cached)")
        return jar
    javac = java_tool("javac")
    if javac is None:
        raise BuildError("javac is not installed on this server: java algorithms need a JDK 17 or newer")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".wrapper-") as tmp:
        classes = Path(tmp) / "classes"
        sources = sorted(WRAPPER_SOURCES.rglob("*.java"))
        run(
            [javac, "--release", "17", "-encoding", "UTF-8", "-d", str(classes), *map(str, sources)],
            what="javac the HKube java wrapper",
            cwd=WRAPPER_SOURCES,
            env=_java_env(),
            log=log,
            deadline=deadline if deadline is not None else time.monotonic() + 300,
        )
        partial = Path(tmp) / jar.name
        _write_jar(partial, classes, main_class=MAIN_CLASS)
        os.replace(partial, jar)  # atomic: a concurrent build sees the whole jar or none
    log(f"java wrapper: compiled {jar.name}")
    return jar


def build_java_env(
    code_dir: Path,
    env_dir: Path,
    *,
    log: Log,
    cache_dir: Path,
    timeout: float = 900,
    install_cmd: str | None = None,
    entry_point: str | None = None,
) -> None:
    """Make ``env_dir`` runnable: the wrapper jar, the algorithm's classpath, the entry class."""
    deadline = time.monotonic() + timeout
    reset_dir(env_dir)
    env_dir.mkdir(parents=True)
    try:
        java = java_tool("java")
        if java is None:
            raise BuildError("java is not installed on this server: java algorithms need Java 17 or newer")
        wrapper = env_dir / WRAPPER_JAR
        shutil.copyfile(wrapper_jar(cache_dir, log=log, deadline=deadline), wrapper)
        if install_cmd:
            run_shell(install_cmd, cwd=code_dir, env=_java_env(), log=log, deadline=deadline)
        jars = _files(code_dir, ".jar")
        sources = [p for p in _files(code_dir, ".java") if not _is_test_source(code_dir, p)]
        classpath: list[Path] = []
        if sources:
            classpath.append(_compile(code_dir, env_dir, sources, [wrapper, *jars], log, deadline))
        elif not jars:
            raise BuildError(
                "a java algorithm needs .java sources or a prebuilt .jar in its code archive; found neither"
            )
        else:
            log(f"prebuilt jars: {', '.join(str(j.relative_to(code_dir)) for j in jars)}")
        classpath.extend(jars)
        resolved = _resolve(java, wrapper, classpath, entry_point, code_dir, log, deadline)
        log(f"algorithm class: {resolved}")
        write_marker(
            env_dir,
            {
                "env": JAVA,
                "wrapper": WRAPPER_JAR,
                "classpath": os.pathsep.join(str(p.resolve()) for p in classpath),
                "entryPoint": resolved,
            },
        )
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise


def java_command(env_dir: Path, descriptor: Mapping[str, Any]) -> list[str]:
    """The command that runs a built java version (``descriptor``: the version's algorithm)."""
    marker = json.loads((env_dir / MARKER).read_text())
    algorithm_env = {str(k): str(v) for k, v in (descriptor.get("algorithmEnv") or {}).items()}
    classpath = os.pathsep.join([str(env_dir.resolve() / marker["wrapper"]), marker["classpath"]])
    return [
        java_tool("java") or "java",
        *heap_options(str(descriptor.get("mem") or DEFAULT_MEMORY), algorithm_env),
        # The entry class found at build time: the wrapper uses it when ALGORITHM_ENTRY_POINT
        # is empty, so it need not scan the jars again at every start.
        f"-Dhkube.entryPoint={marker.get('entryPoint', '')}",
        "-cp",
        classpath,
        MAIN_CLASS,
    ]


class Java:
    name = JAVA
    default_entry_point = DEFAULT_ENTRY_POINT

    def build(self, code_dir: Path, env_dir: Path, *, log: Log, options: BuildOptions) -> None:
        build_java_env(
            code_dir,
            env_dir,
            log=log,
            cache_dir=options.cache_dir / "java",
            timeout=options.timeout,
            install_cmd=options.install_cmd,
            entry_point=options.entry_point,
        )

    def launch(self, version: Version) -> Launch:
        env = self.wrapper_env(version.code_dir, version.entry_point)
        return Launch(java_command(version.env_dir, version.descriptor), env, version.code_dir)

    def wrapper_env(self, code_dir: Path, entry_point: str | None) -> dict[str, str]:
        """The entry point is a class name; empty means the class found by the build."""
        return wrapper_variables(code_dir, entry_point, DEFAULT_ENTRY_POINT)


JAVA_LANGUAGE = Java()


def heap_options(mem: str, algorithm_env: Mapping[str, str]) -> list[str]:
    """``-Xms``/``-Xmx`` as HKube's ``runJava.sh``: ``JAVA_MAX_MEM`` / ``JAVA_MIN_MEM`` when set,
    else 80% of ``mem`` in MiB (and a 256M initial heap, never above the maximum)."""
    max_mem, min_mem = algorithm_env.get("JAVA_MAX_MEM"), algorithm_env.get("JAVA_MIN_MEM")
    if max_mem:
        return ([f"-Xms{min_mem}"] if min_mem else []) + [f"-Xmx{max_mem}"]
    derived = max(16, round(DERIVED_MEMORY_RATIO * memory_mi(mem)))
    initial = min_mem or f"{min(DEFAULT_MIN_HEAP_MI, derived)}M"
    return [f"-Xms{initial}", f"-Xmx{derived}M"]


def memory_mi(quantity: str) -> float:
    """A Kubernetes memory quantity in Mi (``512Mi`` -> 512, ``1Gi`` -> 1024)."""
    match = _MEMORY.match(quantity)
    if match is None or match.group(2) not in _MI_PER_UNIT:
        raise ValueError(f"invalid memory quantity {quantity!r}")
    return float(match.group(1)) * _MI_PER_UNIT[match.group(2)]


# --- helpers ----------------------------------------------------------------------------


def _java_env() -> dict[str, str]:
    env = build_env()  # javac runs the upload's annotation processors: no secrets (launch_env.py)
    env.pop("CLASSPATH", None)  # the build names its classpath; the server's must not leak in
    for name in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS"):
        env.pop(name, None)  # the JVM would print "Picked up ..." into --resolve's output
    return env


def _files(code_dir: Path, suffix: str) -> list[Path]:
    return sorted(
        p
        for p in code_dir.rglob(f"*{suffix}")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(code_dir).parts)
    )


def _is_test_source(code_dir: Path, path: Path) -> bool:
    parts = path.relative_to(code_dir).parts
    return any(a == "src" and b == "test" for a, b in itertools.pairwise(parts))


def _compile(
    code_dir: Path, env_dir: Path, sources: list[Path], classpath: list[Path], log: Log, deadline: float
) -> Path:
    javac = java_tool("javac")
    if javac is None:
        raise BuildError("javac is not installed on this server: .java sources need a JDK 17 or newer")
    classes = env_dir / "classes"
    # An argument file keeps long source lists off the command line.
    argfile = env_dir / "sources.txt"
    argfile.write_text("".join(_quote(p) + "\n" for p in sources))
    run(
        [
            javac,
            "-encoding",
            "UTF-8",
            "-d",
            str(classes),
            "-cp",
            os.pathsep.join(str(p) for p in classpath),
            f"@{argfile}",
        ],
        what=f"javac {len(sources)} source file(s)",
        cwd=code_dir,
        env=_java_env(),
        log=log,
        deadline=deadline,
    )
    resources = code_dir / "src" / "main" / "resources"
    if resources.is_dir():
        shutil.copytree(resources, classes, dirs_exist_ok=True)
    jar = env_dir / ALGORITHM_JAR
    _write_jar(jar, classes)
    shutil.rmtree(classes)
    argfile.unlink()
    log(f"compiled into {ALGORITHM_JAR}")
    return jar


def _quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _resolve(
    java: str,
    wrapper: Path,
    classpath: list[Path],
    entry_point: str | None,
    code_dir: Path,
    log: Log,
    deadline: float,
) -> str:
    lines: list[str] = []

    def capture(line: str) -> None:
        lines.append(line)
        log(line)

    run(
        [
            java,
            "-cp",
            os.pathsep.join(str(p) for p in [wrapper, *classpath]),
            MAIN_CLASS,
            "--resolve",
            entry_point or "",
        ],
        what="find the algorithm class (entryPoint)",
        cwd=code_dir,
        env={**_java_env(), "ALGORITHM_ENTRY_POINT": ""},
        log=capture,
        deadline=deadline,
    )
    return lines[-1].strip()


def _write_jar(jar: Path, classes: Path, main_class: str | None = None) -> None:
    """A jar is a zip with a manifest first; zipfile needs no `jar` tool (a JRE has none)."""
    manifest = "Manifest-Version: 1.0\r\nCreated-By: hkube\r\n"
    if main_class:
        manifest += f"Main-Class: {main_class}\r\n"
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", manifest + "\r\n")
        for path in sorted(classes.rglob("*")):
            if path.is_file():
                name = path.relative_to(classes).as_posix()
                if name != "META-INF/MANIFEST.MF":
                    zf.write(path, name)
