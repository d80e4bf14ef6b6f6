"""The `.hkuberc` config file: where it is found, how it is read and written.

HKube's CLI loads the first `.hkuberc` / `.hkuberc.json` found walking up from the
current directory, then `./.hkube/`, then `~/.hkube/`. Every key in it is a default
for the global option of the same name, so a file holding
`{"endpoint": "https://cluster"}` is the same as always passing `--endpoint`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_NAMES = (".hkuberc", ".hkuberc.json")
CONFIG_KEYS = ("endpoint", "pathPrefix", "rejectUnauthorized", "username", "password", "token")
# Secrets: masked when the config is printed.
SECRET_KEYS = ("password", "token")

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
DEFAULT_PATH_PREFIX = "/hkube/api-server/"
ENDPOINT_ENV = "HKUBE_ENDPOINT"
TOKEN_ENV = "HKUBE_TOKEN"

_TRUE = ("true", "1", "yes", "y", "on")
_FALSE = ("false", "0", "no", "n", "off")


class ConfigError(Exception):
    """The config file, or a value for it, is not usable."""


@dataclass(frozen=True)
class Settings:
    """Resolved global options: command line, then env, then config file, then built-ins."""

    endpoint: str = DEFAULT_ENDPOINT
    path_prefix: str = DEFAULT_PATH_PREFIX
    reject_unauthorized: bool = True
    username: str | None = None
    password: str | None = None
    token: str | None = None  # sent as `Authorization: Bearer` (an API token or an OIDC access token)
    json_output: bool = False
    verbose: bool = False


def parse_bool(value: object, what: str = "value") -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{what} must be true or false, got {value!r}")


def home_dir() -> Path:
    # Path.home() honours $HOME on POSIX, which is what the tests rely on.
    return Path(os.environ.get("HOME") or Path.home())


def home_config_path() -> Path:
    return home_dir() / ".hkube" / ".hkuberc"


def _candidates(cwd: Path) -> Iterator[Path]:
    for folder in (cwd, *cwd.parents):
        for name in CONFIG_NAMES:
            yield folder / name
    for folder in (cwd / ".hkube", home_dir() / ".hkube"):
        for name in CONFIG_NAMES:
            yield folder / name


def find_config_file(cwd: Path | None = None) -> Path | None:
    for candidate in _candidates((cwd or Path.cwd()).resolve()):
        if candidate.is_file():
            return candidate
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return data


def load_config(cwd: Path | None = None) -> tuple[dict[str, Any], Path | None]:
    path = find_config_file(cwd)
    if path is None:
        return {}, None
    return read_config_file(path), path


def write_value(key: str, value: str, cwd: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Set one key in the config file in use, creating `~/.hkube/.hkuberc` when there is none."""
    if key not in CONFIG_KEYS:
        raise ConfigError(f"unknown config key {key!r}; use one of: {', '.join(CONFIG_KEYS)}")
    stored: object = parse_bool(value, key) if key == "rejectUnauthorized" else value
    path = find_config_file(cwd) or home_config_path()
    data = read_config_file(path) if path.is_file() else {}
    data[key] = stored
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc.strerror or exc}") from exc
    return data, path


def resolve_settings(
    *,
    endpoint: str | None,
    path_prefix: str | None,
    reject_unauthorized: str | None,
    username: str | None,
    password: str | None,
    json_output: bool,
    verbose: bool,
    file_values: dict[str, Any],
    token: str | None = None,
) -> Settings:
    def pick(flag: str | None, key: str, default: str | None) -> str | None:
        if flag is not None:
            return flag
        value = file_values.get(key)
        return default if value is None or value == "" else str(value)

    env_endpoint = os.environ.get(ENDPOINT_ENV) or None
    resolved_endpoint = endpoint or env_endpoint or pick(None, "endpoint", DEFAULT_ENDPOINT)
    reject_raw: object = reject_unauthorized
    if reject_raw is None:
        reject_raw = file_values.get("rejectUnauthorized", True)
    return Settings(
        endpoint=resolved_endpoint or DEFAULT_ENDPOINT,
        path_prefix=pick(path_prefix, "pathPrefix", DEFAULT_PATH_PREFIX) or DEFAULT_PATH_PREFIX,
        reject_unauthorized=parse_bool(reject_raw, "rejectUnauthorized"),
        username=pick(username, "username", None),
        password=pick(password, "password", None),
        token=pick(token or os.environ.get(TOKEN_ENV) or None, "token", None),
        json_output=json_output,
        verbose=verbose,
    )
