"""Output capture on its own: a pipe's lines, the wrapper's logData, a full buffer, long lines."""

from __future__ import annotations

import os
import threading

from algorithms.runtime.capture import MAX_LINE_BYTES, OutputCapture


def test_lines_written_before_a_drain_are_in_it_even_unfinished_and_unread() -> None:
    capture = OutputCapture()
    read_end, write_end = os.pipe()
    stream = os.fdopen(read_end, "rb")
    capture.watch("stderr", stream)  # no reader thread: drain() must read the pipe itself
    os.write(write_end, b"first\nsecond\r\nno newline yet")
    assert [(name, text) for _, name, text in capture.drain()] == [
        ("stderr", "first"),
        ("stderr", "second"),
        ("stderr", "no newline yet"),
    ]
    assert capture.drain() == []
    assert capture.stderr_tail == ["first", "second", "no newline yet"]
    os.close(write_end)
    stream.close()


def test_a_reader_thread_takes_lines_until_the_pipe_ends() -> None:
    capture = OutputCapture()
    read_end, write_end = os.pipe()
    stream = os.fdopen(read_end, "rb")
    capture.watch("stdout", stream)
    reader = threading.Thread(target=capture.read, args=(stream, "stdout"))
    reader.start()
    os.write(write_end, b"hello\nworld")
    os.close(write_end)
    reader.join(5)
    assert not reader.is_alive()
    assert [text for _, _, text in capture.drain()] == ["hello", "world"]
    assert capture.stderr_tail == []


def test_log_data_lines_join_the_output_and_empty_batches_are_ignored() -> None:
    capture = OutputCapture()
    capture.add_log_data([])
    capture.add_log_data("not a list")
    capture.add_log_data(["from the wrapper", 42])
    assert [(name, text) for _, name, text in capture.drain()] == [
        ("logData", "from the wrapper"),
        ("logData", "42"),
    ]


def test_a_full_buffer_keeps_the_last_lines_and_says_how_many_were_dropped() -> None:
    capture = OutputCapture(max_lines=2)
    capture.add_log_data(["a", "b", "c", "d"])
    records = capture.drain()
    assert [text for _, _, text in records[1:]] == ["c", "d"]
    assert records[0][1] == "hkube" and records[0][2].startswith("2 earlier lines were dropped")


def test_a_huge_line_is_cut() -> None:
    capture = OutputCapture()
    capture.add_log_data(["x" * (MAX_LINE_BYTES + 10)])
    [(_, _, text)] = capture.drain()
    assert text.endswith(" [line cut: 10 more bytes]")
