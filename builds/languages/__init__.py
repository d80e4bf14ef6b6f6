"""The language registry: one place that knows each environment an algorithm runs in.

Builds call ``language(env).build(...)``; algorithm workers start a built version with
``launcher(env, env_dir).launch(...)``, which is HKube's python wrapper for a version built
for it (``hkube_wrapper.py``) and the env's own language otherwise. Modules: ``python.py``,
``nodejs.py``, ``java.py``, ``hkube_wrapper.py``; the interface is in ``base.py``, the
subprocess runner of build steps in ``builds/process.py``.
No Django imports: plain Python, tested directly.
"""

from __future__ import annotations

from pathlib import Path

from builds.languages.base import Language, Launcher
from builds.languages.hkube_wrapper import HKUBE_WRAPPER, hkube_runner
from builds.languages.java import JAVA_LANGUAGE
from builds.languages.nodejs import NODEJS_LANGUAGE
from builds.languages.python import PYTHON_LANGUAGE

LANGUAGES: dict[str, Language] = {
    PYTHON_LANGUAGE.name: PYTHON_LANGUAGE,
    NODEJS_LANGUAGE.name: NODEJS_LANGUAGE,
    JAVA_LANGUAGE.name: JAVA_LANGUAGE,
}
DEFAULT_ENTRY_POINTS = {name: lang.default_entry_point for name, lang in LANGUAGES.items()}


class UnsupportedEnv(ValueError):
    """No language of the registry has this name."""

    def __init__(self, env: str) -> None:
        super().__init__(f"unsupported env {env!r}: expected one of {sorted(LANGUAGES)}")
        self.env = env


def language(env: str) -> Language:
    found = LANGUAGES.get(env)
    if found is None:
        raise UnsupportedEnv(env)
    return found


def launcher(env: str, env_dir: Path | None) -> Launcher:
    """What starts a version built into ``env_dir``: HKube's python wrapper when its build
    installed it (the env's marker says so), else the language ``env``."""
    if env_dir is not None and hkube_runner(env_dir) is not None:
        return HKUBE_WRAPPER
    return language(env)


def wrapper_env(env: str, code_dir: Path, entry_point: str | None) -> dict[str, str]:
    """Environment variables that point our wrapper for ``env`` at the user's code."""
    return language(env).wrapper_env(code_dir, entry_point)


__all__ = [
    "DEFAULT_ENTRY_POINTS",
    "LANGUAGES",
    "Language",
    "Launcher",
    "UnsupportedEnv",
    "language",
    "launcher",
    "wrapper_env",
]
