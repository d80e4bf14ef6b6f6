"""An algorithm process's output, captured for its tasks' logs.

The process's stdout and stderr are read line by line (a reader thread per pipe), and lines
the wrapper sends over the socket (``logData``) join them; the session's caller drains what
was captured after each task (``pipelines/logs.py`` stores it per task). The last lines of
stderr are kept apart: they explain a crash.
"""

from __future__ import annotations

import collections
import os
import select
import threading
import time
from typing import IO

#: One captured output line: (epoch seconds, stream, text). Streams: 'stdout' and 'stderr' of the
#: process, 'logData' for lines the wrapper sent over the socket, 'hkube' for notes of our own.
LogRecord = tuple[float, str, str]

STDERR_TAIL_LINES = 20
MAX_LINE_BYTES = 64 << 10  # a longer line is cut: one print of a huge value must not eat the buffer


class OutputCapture:
    """The last ``max_lines`` lines of a process's output, until drained."""

    def __init__(self, max_lines: int = 10_000) -> None:
        self._logs: collections.deque[LogRecord] = collections.deque(maxlen=max_lines)
        self._dropped = 0  # lines pushed out of the full buffer since the last drain
        # Guards reading the output pipes, so drain() can take what is in them now.
        self._lock = threading.Lock()
        self._fds: dict[int, str] = {}  # fd -> stream, while its reader runs
        self._poller = select.poll()  # those fds: one syscall tells whether output is waiting
        self._partial: dict[str, bytes] = {}  # stream -> the start of an unfinished line
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._stderr_tail)

    def watch(self, name: str, stream: IO[bytes]) -> None:
        """Capture ``stream`` (the process's ``name`` pipe); then run :meth:`read` in a thread."""
        fd = stream.fileno()
        os.set_blocking(fd, False)  # drain() reads what is there, no more
        self._fds[fd] = name
        self._poller.register(fd, select.POLLIN)

    def read(self, stream: IO[bytes], name: str) -> None:
        """A reader thread's body: read the pipe until its end, then close it."""
        # The pipe is non-blocking and read only under _lock, by this thread or by drain(): so
        # once drain() holds the lock and finds the pipe empty, every byte written before that
        # moment is in the buffer.
        fd = stream.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        with stream:
            while True:
                poller.poll()
                with self._lock:
                    if not self._read_pipe(name, fd, budget=1):
                        del self._fds[fd]  # before the fd is closed and its number reused
                        self._poller.unregister(fd)
                        return

    def drain(self) -> list[LogRecord]:
        """The output captured since the last call, oldest first.

        It includes what sits in the process's pipes at the moment of the call (an unfinished last
        line too): whatever the algorithm wrote before it sent ``done`` (our wrappers flush stdio
        first) belongs to that task even when the reader threads have not read it yet, so a task's
        last lines never slip into the next one. Lines pushed out of the full buffer are counted
        in a first 'hkube' line. Costs a lock and one ``poll`` when there is nothing to take.
        """
        with self._lock:
            if self._fds:
                for fd, _ in self._poller.poll(0):
                    # Bounded: a flooding writer cannot hold us here.
                    self._read_pipe(self._fds[fd], fd, budget=1 << 20)
            for name in list(self._partial):
                self._add_line(time.time(), name, self._partial.pop(name))
            if not self._logs and not self._dropped:
                return []
            records = list(self._logs)
            self._logs.clear()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            note = (
                f"{dropped} earlier lines were dropped: the worker keeps the last "
                f"{self._logs.maxlen} lines between two reads"
            )
            records.insert(0, (records[0][0] if records else time.time(), "hkube", note))
        return records

    def add_log_data(self, data: object) -> None:
        """``logData`` from the wrapper: ``[line, ...]`` (HKube sends batches, sometimes empty)."""
        if not isinstance(data, list) or not data:
            return
        now = time.time()
        with self._lock:
            for line in data:
                text = line if isinstance(line, str) else str(line)
                self._add_line(now, "logData", text.encode(errors="replace"))

    def _read_pipe(self, name: str, fd: int, budget: int) -> bool:
        """Read up to ``budget`` bytes the pipe holds now (at least one read); False at its end.
        Holds ``_lock``."""
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return True
            if not data:
                if name in self._partial:
                    self._add_line(time.time(), name, self._partial.pop(name))
                return False
            now = time.time()
            *lines, rest = (self._partial.pop(name, b"") + data).split(b"\n")
            for raw in lines:
                self._add_line(now, name, raw)
            if len(rest) > MAX_LINE_BYTES:
                self._add_line(now, name, rest)
            elif rest:
                self._partial[name] = rest
            budget -= len(data)
            if budget <= 0:
                return True

    def _add_line(self, timestamp: float, name: str, raw: bytes) -> None:
        """Holds ``_lock``."""
        text = raw[:MAX_LINE_BYTES].decode(errors="replace").rstrip("\r")
        if len(raw) > MAX_LINE_BYTES:
            text += f" [line cut: {len(raw) - MAX_LINE_BYTES} more bytes]"
        if len(self._logs) == self._logs.maxlen:
            self._dropped += 1
        self._logs.append((timestamp, name, text))
        if name == "stderr":
            self._stderr_tail.append(text)
