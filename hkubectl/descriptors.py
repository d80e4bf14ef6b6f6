"""Reading descriptor files (YAML or JSON) and turning an algorithm file into an apply request."""

from __future__ import annotations

import getpass
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hkubectl.packing import CodeArchive, InputFileError, prepare_code

STDIN = "-"


def load_descriptor(path: str) -> dict[str, Any]:
    """Load a YAML or JSON object from `path` (`-` is stdin). Raises InputFileError."""
    if path == STDIN:
        text = sys.stdin.read()
    else:
        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise InputFileError(path, "file not found") from exc
        except IsADirectoryError as exc:
            raise InputFileError(path, "is a directory, expected a YAML or JSON file") from exc
        except UnicodeDecodeError as exc:
            raise InputFileError(path, "is not a UTF-8 text file") from exc
        except OSError as exc:
            raise InputFileError(path, f"cannot read it: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputFileError(path, f"invalid YAML/JSON{where}: {problem}") from exc
    if data is None:
        raise InputFileError(path, "is empty")
    if not isinstance(data, dict):
        raise InputFileError(
            path, f"must hold an object (a mapping) at the top level, not a {type(data).__name__}"
        )
    return data


@dataclass
class AlgorithmFlags:
    """`algorithm apply` flags; None means "not given", so the file's value stays."""

    name: str | None = None
    env: str | None = None
    code_path: str | None = None
    entry_point: str | None = None
    image: str | None = None
    cpu: float | None = None
    gpu: float | None = None
    mem: str | None = None


@dataclass
class ApplyRequest:
    payload: dict[str, Any]
    archive: CodeArchive | None


def _mapping(value: Any, path: str, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputFileError(path, f"`{key}` must be a mapping")
    return value


def translate_algorithm_file(data: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """HKube's CLI file format → (api descriptor, code section).

    `resources: {cpu, gpu, mem}` become top-level fields (a top-level value wins, as in
    HKube), `image` becomes `algorithmImage`, and `code: {path, entryPoint}` is split
    off for the upload. Everything else passes through untouched.
    """
    algorithm = dict(data)
    resources = _mapping(algorithm.pop("resources", None), path, "resources")
    code = _mapping(algorithm.pop("code", None), path, "code")
    for key in ("cpu", "gpu", "mem"):
        if resources.get(key) is not None and algorithm.get(key) is None:
            algorithm[key] = resources[key]
    image = algorithm.pop("image", None)
    if image is not None:
        algorithm["algorithmImage"] = image
    return algorithm, code


def user_info() -> dict[str, str]:
    try:
        username = getpass.getuser()
    except (OSError, KeyError):
        username = "unknown"
    return {"platform": sys.platform, "hostname": socket.gethostname(), "username": username}


def build_apply_request(file: str | None, flags: AlgorithmFlags) -> ApplyRequest:
    """Merge the descriptor file with the flags (flags win) and pack the code, if any.

    A `code.path` from the file is relative to the file's folder; `--codePath` is
    relative to the current directory, like any path typed in a shell.
    """
    algorithm: dict[str, Any] = {}
    code: dict[str, Any] = {}
    base = Path.cwd()
    if file is not None:
        algorithm, code = translate_algorithm_file(load_descriptor(file), file)
        if file != STDIN:
            base = Path(file).expanduser().resolve().parent
    overrides: dict[str, Any] = {
        "name": flags.name,
        "env": flags.env,
        "algorithmImage": flags.image,
        "cpu": flags.cpu,
        "gpu": flags.gpu,
        "mem": flags.mem,
    }
    algorithm.update({key: value for key, value in overrides.items() if value is not None})
    code_path: Path | None = None
    if flags.code_path is not None:
        code_path = Path.cwd() / Path(flags.code_path).expanduser()
    elif code.get("path"):
        code_path = base / Path(str(code["path"])).expanduser()
    entry_point = flags.entry_point if flags.entry_point is not None else code.get("entryPoint")

    name = algorithm.get("name")
    if not name or not isinstance(name, str):
        raise InputFileError(
            file or "command line", "an algorithm name is required: pass NAME or set `name` in the file"
        )
    payload = dict(algorithm)
    if entry_point is not None:
        payload["entryPoint"] = entry_point
    payload["userInfo"] = user_info()
    archive = prepare_code(code_path, name) if code_path is not None else None
    return ApplyRequest(payload=payload, archive=archive)
