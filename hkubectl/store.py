"""What the store commands of every kind (algorithm, pipeline) share: listing names,
showing and deleting one entry, and sending a descriptor that may already (or not yet) exist."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import typer

from hkubectl import output
from hkubectl.client import ApiError
from hkubectl.formats import Column, Format, render
from hkubectl.state import State


def names_of(entries: Any) -> list[Any]:
    """The `name` of every entry of a store listing (anything not an object is skipped)."""
    return [entry.get("name") for entry in entries or [] if isinstance(entry, dict)]


def list_names(state: State, path: str, fmt: Format | None = None, columns: Sequence[Column] = ()) -> None:
    """Print the names of a store listing: a JSON array, or one name a line; with `-o`,
    the whole entries as json, yaml or a table of `columns`."""
    entries = state.client.get(path)
    if fmt is not None:
        render(entries, fmt, columns)
        return
    names = names_of(entries)
    if state.as_json:
        output.emit(names, as_json=True)
    else:
        for name in names:
            output.plain(str(name))


def show(state: State, path: str, fmt: Format | None = None, columns: Sequence[Column] = ()) -> None:
    """Print one entry (or a whole listing) as the server returned it, or as `-o` asks."""
    answer = state.client.get(path)
    if fmt is not None:
        render(answer, fmt, columns)
        return
    output.emit(answer, as_json=state.as_json)


def delete(state: State, path: str, params: Mapping[str, str] | None = None) -> None:
    """Delete an entry and print the server's answer."""
    output.emit(state.client.delete(path, params=params), as_json=state.as_json)


def send_descriptor(
    state: State,
    send: Callable[[str, Any], Any],
    path: str,
    descriptor: Any,
    *,
    refused_status: int,
    hint: str,
) -> None:
    """Send a descriptor with `send` (the client's post or put) and print the answer.

    The one refusal the user can fix with the sibling command (409 on store: it exists;
    404 on update: it does not) is printed with `hint` and exits 1; other errors propagate
    to the root group's handler.
    """
    try:
        answer = send(path, descriptor)
    except ApiError as exc:
        if exc.status != refused_status:
            raise
        output.error(exc.message, exc.code)
        output.plain(hint, stderr=True)
        raise typer.Exit(1) from exc
    output.emit(answer, as_json=state.as_json)
