"""Per-invocation state shared by the commands: resolved settings and a lazily built client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import typer

from hkubectl.client import HkubeClient
from hkubectl.config import Settings


@dataclass
class State:
    settings: Settings = field(default_factory=Settings)
    _client: HkubeClient | None = None

    @property
    def as_json(self) -> bool:
        return self.settings.json_output

    @property
    def client(self) -> HkubeClient:
        if self._client is None:
            s = self.settings
            self._client = HkubeClient(
                s.endpoint,
                s.path_prefix,
                verify=s.reject_unauthorized,
                verbose=s.verbose,
                username=s.username,
                password=s.password,
                token=s.token,
            )
        return self._client


def get_state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if isinstance(obj, State):
        return obj
    state = State()
    ctx.find_root().obj = state
    return state


# HKube's docs write `--f FILE`; `-f` and `--file` work too.
FileOption = Annotated[
    str,
    typer.Option(
        "--f", "-f", "--file", metavar="FILE", help="Descriptor file, YAML or JSON ('-' reads stdin)."
    ),
]
OptionalFileOption = Annotated[
    str | None,
    typer.Option(
        "--f", "-f", "--file", metavar="FILE", help="Descriptor file, YAML or JSON ('-' reads stdin)."
    ),
]
NoWaitOption = Annotated[
    bool, typer.Option("--noWait", "--no-wait", help="Do not wait for the job or build to finish.")
]
