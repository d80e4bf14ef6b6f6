"""The build context of a cluster build: a Dockerfile FROM the language's base image
(`k8s/images/algorithm-<env>.Dockerfile`), the user's code, and the dependency install.

`write_context(code_dir, output, ...)` lays out what kaniko reads from `/workspace`:

    Dockerfile              generated here
    code/                   the unpacked archive, as uploaded
    hkube-requirements.txt  python: requirements.txt without a hkube-python-wrapper line
    hkube-runner.py         python with HKube's wrapper: HKube's `app.py`

The image it describes runs as uid 1000 (as the base images do); installs run as root
because the base images' interpreters live in system folders. Each step is a JSON-form
`RUN`, so a `dependencyInstallCmd` needs no shell quoting here. No Django imports: plain
Python, tested directly.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builds.languages import hkube_wrapper as hkube
from builds.process import BuildError

CODE = "code"
RUNNER_ROOT = "/hkube/algorithm-runner"
PYTHON_CODE_DIR = f"{RUNNER_ROOT}/{hkube.ALGORITHM_FOLDER}"
NODEJS_CODE_DIR = f"{RUNNER_ROOT}/{hkube.ALGORITHM_FOLDER}"
JAVA_CODE_DIR = RUNNER_ROOT
USER = "1000:1000"
ENVS = ("python", "nodejs", "java")
DEFAULT_JDK_IMAGE = "eclipse-temurin:17-jdk-jammy"


@dataclass(frozen=True)
class ContextOptions:
    """What the descriptor and the release say about one build."""

    env: str
    base_image: str
    entry_point: str | None = None
    install_cmd: str | None = None  # dependencyInstallCmd
    wrapper: object = None  # python: ours (default) or HKube's
    jdk_image: str = DEFAULT_JDK_IMAGE  # java sources are compiled in a build stage

    @classmethod
    def of(
        cls, descriptor: Mapping[str, Any], base_image: str, jdk_image: str | None = None
    ) -> ContextOptions:
        return cls(
            env=str(descriptor.get("env") or ""),
            base_image=base_image,
            entry_point=str(descriptor["entryPoint"]) if descriptor.get("entryPoint") else None,
            install_cmd=str(descriptor["dependencyInstallCmd"])
            if descriptor.get("dependencyInstallCmd")
            else None,
            wrapper=descriptor.get("wrapper"),
            jdk_image=jdk_image or DEFAULT_JDK_IMAGE,
        )


def base_image(env: str, environ: Mapping[str, str]) -> str:
    """The base image a build of `env` starts FROM: `HKUBE_BUILD_BASE_IMAGE_<ENV>` when set,
    else `<registry>/<namespace>/algorithm-<env>:<HKUBE_BUILD_BASE_TAG or latest>`, where the
    README's instructions push the images of `k8s/images`."""
    if env not in ENVS:
        raise BuildError(f"env {env!r} cannot be built in the cluster: expected one of {', '.join(ENVS)}")
    explicit = environ.get(f"HKUBE_BUILD_BASE_IMAGE_{env.upper()}", "").strip()
    if explicit:
        return explicit
    registry = environ.get("HKUBE_BUILD_BASE_REGISTRY", "").strip() or environ.get("HKUBE_BUILD_REGISTRY", "")
    namespace = environ.get("HKUBE_BUILD_REGISTRY_NAMESPACE", "").strip("/ ") or "hkube"
    tag = environ.get("HKUBE_BUILD_BASE_TAG", "").strip() or "latest"
    prefix = f"{registry.strip().rstrip('/')}/" if registry.strip() else ""
    return f"{prefix}{namespace}/algorithm-{env}:{tag}"


def _run(command: str) -> str:
    return f"RUN {json.dumps(['sh', '-c', command])}"


def _env(**variables: str) -> str:
    return "ENV " + " ".join(f"{name}={json.dumps(value)}" for name, value in variables.items())


def _install_cmd(options: ContextOptions, workdir: str) -> list[str]:
    if not options.install_cmd:
        return []
    # As HKube: the algorithm's own command, in its code folder, in the image being built.
    return [f"WORKDIR {workdir}", f"RUN {json.dumps(['bash', '-c', options.install_cmd])}"]


def python_dockerfile(options: ContextOptions, code_dir: Path) -> tuple[str, dict[str, str]]:
    """(Dockerfile, extra files) for a python algorithm."""
    choice = hkube.choose_wrapper("python", options.wrapper, code_dir)
    extra = {"hkube-requirements.txt": _requirements_without_wrapper(code_dir / "requirements.txt")}
    lines = [
        f"FROM {options.base_image}",
        "USER root",
        f"COPY --chown={USER} {CODE}/ {PYTHON_CODE_DIR}/",
        "COPY hkube-requirements.txt /tmp/hkube-requirements.txt",
    ]
    if choice.requirement:
        # HKube's wrapper with the recipe that installs on Python 3.11 (hkube_wrapper.py).
        deps = " ".join(hkube.HKUBE_WRAPPER_DEPENDENCIES)
        lines.append(_run(f"pip install --no-deps '{choice.requirement}' && pip install {deps}"))
    lines.append(
        _run("if [ -s /tmp/hkube-requirements.txt ]; then pip install -r /tmp/hkube-requirements.txt; fi")
    )
    lines += _install_cmd(options, PYTHON_CODE_DIR)
    entry = options.entry_point or hkube.DEFAULT_ENTRY_POINT
    if choice.requirement:
        extra["hkube-runner.py"] = hkube.RUNNER_APP
        lines += [
            f"COPY --chown={USER} hkube-runner.py {RUNNER_ROOT}/app.py",
            _env(
                ALGORITHM_PATH=hkube.ALGORITHM_FOLDER,
                ALGORITHM_ENTRY_POINT=entry,
                PYTHONPATH=PYTHON_CODE_DIR,
                STORAGE_PROTOCOL="v3",
                WORKER_ALGORITHM_ENCODING="msgpack",
            ),
            f"USER {USER}",
            f"WORKDIR {RUNNER_ROOT}",
            'CMD ["python", "app.py"]',
        ]
    else:
        lines += [
            _env(ALGORITHM_ENTRY_POINT=entry, PYTHONPATH=f"/hkube/wrapper:{PYTHON_CODE_DIR}"),
            f"USER {USER}",
            f"WORKDIR {PYTHON_CODE_DIR}",
        ]
    return "\n".join(lines) + "\n", extra


def nodejs_dockerfile(options: ContextOptions, code_dir: Path) -> tuple[str, dict[str, str]]:
    lines = [
        f"FROM {options.base_image}",
        "USER root",
        f"COPY --chown={USER} {CODE}/ {NODEJS_CODE_DIR}/",
        f"WORKDIR {NODEJS_CODE_DIR}",
        # Only when the package declares dependencies: `npm install` of nothing still needs a registry.
        _run(
            "if [ -f package.json ] && node -e \"const p=require('./package.json');"
            'process.exit(Object.keys(p.dependencies||{}).length?0:1)"; '
            "then npm install --omit=dev --no-audit --no-fund; fi"
        ),
        *_install_cmd(options, NODEJS_CODE_DIR),
        f"RUN {json.dumps(['chown', '-R', USER, NODEJS_CODE_DIR])}",
        _env(
            ALGORITHM_ENTRY_POINT=options.entry_point or "index.js",
            NODE_PATH=f"{NODEJS_CODE_DIR}/node_modules",
        ),
        f"USER {USER}",
    ]
    return "\n".join(lines) + "\n", {}


def java_dockerfile(options: ContextOptions, code_dir: Path) -> tuple[str, dict[str, str]]:
    """Uploaded jars are used as they are; `.java` sources are compiled against our wrapper in
    a JDK stage into `algorithm.jar` (no Maven: as the local build, `builds/languages/java.py`)."""
    compile_step = (
        "mkdir -p /out/classes && cd /src "
        "&& jars=$(find . -name '*.jar' | tr '\\n' ':') "
        "&& srcs=$(find . -name '*.java') "
        '&& if [ -n "$srcs" ]; then javac --release 17 -encoding UTF-8 '
        '-cp "/hkube/wrapper/hkube-wrapper.jar:$jars" -d /out/classes $srcs '
        "&& jar --create --file /out/algorithm.jar -C /out/classes . ; fi "
        "&& find . -name '*.jar' -exec cp {} /out/ ';' && rm -rf /out/classes"
    )
    lines = [
        f"FROM {options.base_image} AS base",
        f"FROM {options.jdk_image} AS compile",
        "COPY --from=base /hkube/wrapper/hkube-wrapper.jar /hkube/wrapper/hkube-wrapper.jar",
        f"COPY {CODE}/ /src/",
        _run(compile_step),
        "FROM base",
        "USER root",
        f"COPY --from=compile --chown={USER} /out/ {JAVA_CODE_DIR}/",
        f"COPY --chown={USER} {CODE}/ {JAVA_CODE_DIR}/code/",
        *_install_cmd(options, f"{JAVA_CODE_DIR}/code"),
        _env(ALGORITHM_CLASSPATH=f"{JAVA_CODE_DIR}/*", ALGORITHM_ENTRY_POINT=options.entry_point or ""),
        f"USER {USER}",
        f"WORKDIR {JAVA_CODE_DIR}",
    ]
    return "\n".join(lines) + "\n", {}


_GENERATORS = {"python": python_dockerfile, "nodejs": nodejs_dockerfile, "java": java_dockerfile}


def write_context(code_dir: Path, output: Path, options: ContextOptions) -> Path:
    """Lay out the build context in `output` (created if missing) from the unpacked code in
    `code_dir`; returns the Dockerfile's path."""
    generator = _GENERATORS.get(options.env)
    if generator is None:
        raise BuildError(
            f"env {options.env!r} cannot be built in the cluster: expected one of {', '.join(ENVS)}"
        )
    dockerfile, extra = generator(options, code_dir)
    output.mkdir(parents=True, exist_ok=True)
    target = output / CODE
    if target.resolve() != code_dir.resolve():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(code_dir, target, symlinks=True)
    for name, text in extra.items():
        (output / name).write_text(text, encoding="utf-8")
    path = output / "Dockerfile"
    path.write_text(dockerfile, encoding="utf-8")
    return path


def _requirements_without_wrapper(requirements: Path) -> str:
    if not requirements.is_file():
        return ""
    lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines if not hkube.names_hkube_wrapper(line)]
    return "\n".join(kept) + ("\n" if kept else "")
