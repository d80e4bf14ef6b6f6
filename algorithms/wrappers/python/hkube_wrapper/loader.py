"""Finding the user's code: ALGORITHM_PATH (a folder) and ALGORITHM_ENTRY_POINT (a module in it)."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Algorithm:
    start: Callable[..., Any]
    init: Callable[[Any], Any] | None = None
    stop: Callable[[Any], Any] | None = None
    exit: Callable[[Any], Any] | None = None
    wants_api: bool = False  # start(args, api) rather than start(args)


def module_name(entry_point: str) -> str:
    """``src/alg.py`` -> ``src.alg``; a bare module name stays as it is."""
    name = entry_point.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    if name.endswith(".py"):
        name = name[:-3]
    return name.strip("/").replace("/", ".")


def takes_api(start: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(start).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def load_algorithm(path: str | None, entry_point: str) -> tuple[Algorithm | None, str | None]:
    """The algorithm's callbacks, or None and the reason it could not be loaded.

    A load error must not crash the process: the wrapper still connects and reports it on the first
    ``initialize`` (as HKube's wrapper does).
    """
    if path:
        folder = os.path.abspath(path)
        sys.path.insert(0, folder)
        try:
            os.chdir(folder)
        except OSError as exc:
            return None, f"cannot enter ALGORITHM_PATH {folder!r}: {exc}"
    name = module_name(entry_point)
    try:
        module = importlib.import_module(name)
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything while importing
        traceback.print_exc()
        return None, f"failed to load algorithm entry point {entry_point!r}: {type(exc).__name__}: {exc}"
    start = getattr(module, "start", None)
    if not callable(start):
        return None, f"algorithm entry point {entry_point!r} (module {name!r}) has no start function"

    def optional(attr: str) -> Callable[[Any], Any] | None:
        fn = getattr(module, attr, None)
        return fn if callable(fn) else None

    return Algorithm(start, optional("init"), optional("stop"), optional("exit"), takes_api(start)), None
