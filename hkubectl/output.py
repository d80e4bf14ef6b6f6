"""Printing: JSON for machines (`--json`), YAML-like rich output for people, errors on stderr.

Everything that is not the command's answer (spinners, progress, notes) goes to stderr,
so `hkubectl --json ... | jq` always sees clean JSON on stdout.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import yaml
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.syntax import Syntax
from rich.text import Text

# Consoles resolve sys.stdout / sys.stderr on every write, so test runners that swap
# the streams still capture the output. soft_wrap keeps long lines intact in pipes.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_NO_FOLD = 2**31 - 1


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=_NO_FOLD
    )


def emit(value: Any, *, as_json: bool) -> None:
    """Print a command's answer."""
    if as_json:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
        return
    if isinstance(value, str):
        out.print(Text(value))
        return
    if not isinstance(value, (dict, list)):
        out.print(Text(json.dumps(value)))
        return
    text = to_yaml(value).rstrip("\n")
    if out.is_terminal:
        out.print(Syntax(text, "yaml", background_color="default", word_wrap=True))
    else:
        out.print(Text(text))


def note(message: str, *, as_json: bool = False, style: str | None = None) -> None:
    """A line for the user: stdout in pretty mode, stderr in JSON mode."""
    (err if as_json else out).print(Text(message, style=style or ""))


@contextlib.contextmanager
def upload_bar(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for an upload; yields the client's `progress` callback.
    Nothing is drawn when stderr is not a terminal."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=total)

        def advance(sent: int, size: int) -> None:
            bar.update(task, completed=sent, total=size)

        yield advance


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on stderr while something slow runs; nothing when stderr is not a terminal."""
    if not err.is_terminal:
        yield
        return
    with err.status(Text(message)):
        yield


def plain(text: str, *, stderr: bool = False, style: str | None = None) -> None:
    """Print text as is (no rich markup), to stdout or stderr."""
    (err if stderr else out).print(Text(text, style=style or ""))


def warn(message: str) -> None:
    err.print(Text(message, style="yellow"))


def error(message: str, code: object = None, details: object = None) -> None:
    suffix = f" ({code})" if code is not None else ""
    err.print(Text(f"error: {message}{suffix}", style="bold red"))
    if details and str(details) not in message:
        err.print(Text(f"  details: {details}", style="red"))
