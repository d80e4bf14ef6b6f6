"""The algorithm's OS process: its own process group, its output captured, its exit watched."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence

from .capture import OutputCapture
from .outcome import AlgorithmStartError, describe_exit

SpawnThread = Callable[..., threading.Thread]


class AlgorithmProcess:
    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        cwd: str | os.PathLike[str] | None,
        output: OutputCapture,
    ) -> None:
        """Start ``command``; raises :class:`AlgorithmStartError` when it cannot be started."""
        try:
            self._popen = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own process group, so close() can kill every descendant
            )
        except OSError as exc:
            raise AlgorithmStartError(f"cannot start algorithm process {list(command)!r}: {exc}") from exc
        self.output = output
        self._readers: list[threading.Thread] = []

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def watch(self, spawn: SpawnThread, on_exit: Callable[[], None]) -> None:
        """Read its stdout/stderr, and call ``on_exit`` once it exited (threads from ``spawn``)."""
        stdout, stderr = self._popen.stdout, self._popen.stderr
        assert stdout is not None and stderr is not None
        for name, stream in (("stdout", stdout), ("stderr", stderr)):
            self.output.watch(name, stream)
        self._readers = [
            spawn(self.output.read, "stdout", stdout, "stdout"),
            spawn(self.output.read, "stderr", stderr, "stderr"),
        ]
        spawn(self._wait, "watch", on_exit)

    def _wait(self, on_exit: Callable[[], None]) -> None:
        self._popen.wait()
        # Descendants (HKube's discovery child) may hold the socket open and outlive the leader.
        self.kill_group()
        on_exit()

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
            os.killpg(self._popen.pid, signal.SIGKILL)

    def exit_description(self) -> str:
        """How it exited, once the readers took its last output (which usually explains a crash)."""
        for reader in self._readers:
            reader.join(1.0)
        return describe_exit(self._popen.returncode)
