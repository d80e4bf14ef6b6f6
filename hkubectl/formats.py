"""`-o json|yaml|table`, kubectl's output switch for list and get commands.

json and yaml print the server's objects whole; table prints chosen columns, one object a
row, kubectl's way: upper-case headers, columns padded with spaces, no borders, so
`awk` and `column` work on it.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from hkubectl.output import to_yaml


class Format(enum.StrEnum):
    json = "json"
    yaml = "yaml"
    table = "table"


OutputOption = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="Print json, yaml or a table (kubectl's -o).", case_sensitive=False),
]

Column = tuple[str, Callable[[dict[str, Any]], object]]


def field(*path: str) -> Callable[[dict[str, Any]], object]:
    """A column reading a nested key (`field("algorithm", "version")`)."""

    def read(entry: dict[str, Any]) -> object:
        value: Any = entry
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return read


def _cell(value: object) -> str:
    if value is None or value == "":
        return "<none>"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    lines = [[name.upper() for name, _ in columns]]
    lines += [[_cell(read(row)) for _, read in columns] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def render(value: Any, fmt: Format, columns: Sequence[Column]) -> None:
    """Print a command's answer (an object or a list of them) in the chosen format."""
    if fmt is Format.json:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    elif fmt is Format.yaml:
        text = to_yaml(value).rstrip("\n")
    else:
        entries = value if isinstance(value, list) else [value]
        text = table([e for e in entries if isinstance(e, dict)], columns)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
