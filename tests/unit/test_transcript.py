"""Unit tests of the bounded transcript and of how bytes are shown in messages."""

from __future__ import annotations

import ast
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tcpclient.core.transcript import HEAD, TAIL, Transcript, show_bytes

LONG = bytes(range(100))  # longer than HEAD + TAIL


# -- show_bytes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"", "b''"),
        (b"Hello, world!", "b'Hello, world!'"),
        (b"\x00'\n", 'b"\\x00\'\\n"'),
        (bytearray(b"hi"), "b'hi'"),
        (memoryview(b"hi"), "b'hi'"),
    ],
)
def test_show_bytes_is_a_python_bytes_literal(data, shown):
    assert show_bytes(data) == shown


@settings(database=None, deadline=None)
@given(st.binary(max_size=HEAD + TAIL))
def test_show_bytes_of_a_short_payload_reads_back_as_the_payload(data):
    assert ast.literal_eval(show_bytes(data)) == data


def test_show_bytes_keeps_payloads_up_to_head_plus_tail_whole():
    assert show_bytes(b"x" * (HEAD + TAIL)) == repr(b"x" * (HEAD + TAIL))


def test_show_bytes_abbreviates_a_longer_payload_to_its_head_and_tail():
    assert show_bytes(LONG) == f"{LONG[:HEAD]!r} ... {LONG[-TAIL:]!r} (100 bytes)"
    assert show_bytes(LONG, head=2, tail=1) == "b'\\x00\\x01' ... b'c' (100 bytes)"


def test_show_bytes_of_a_megabyte_is_short():
    assert len(show_bytes(bytes(1 << 20))) < 400


# -- Transcript ---------------------------------------------------------------------


def test_an_empty_transcript_says_so():
    assert Transcript().lines() == ["(nothing happened)"]


def test_each_event_and_each_run_of_bytes_is_a_line():
    transcript = Transcript()
    transcript.event("client connected")
    transcript.received(b"ping")
    transcript.sent(b"pong")
    transcript.received(b"bye")
    transcript.event("client closed the connection")
    assert transcript.lines() == [
        "client connected",
        "client sent b'ping'",
        "server sent b'pong'",
        "client sent b'bye'",
        "client closed the connection",
    ]


def test_consecutive_bytes_in_one_direction_are_one_line():
    transcript = Transcript()
    transcript.received(b"pi")
    transcript.received(b"ng")
    transcript.sent(b"po")
    transcript.sent(b"ng")
    assert transcript.lines() == ["client sent b'ping'", "server sent b'pong'"]


@settings(database=None, deadline=None)
@given(st.binary(max_size=3 * (HEAD + TAIL)), st.data())
def test_a_run_is_shown_as_show_bytes_shows_it_however_it_was_split(data, draw):
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)))))
    bounds = [0, *cuts, len(data)]
    transcript = Transcript()
    for start, end in pairwise(bounds):
        transcript.sent(data[start:end])
    assert transcript.lines() == [f"server sent {show_bytes(data)}"]


def test_a_long_run_fed_byte_by_byte_keeps_its_head_and_tail():
    transcript = Transcript()
    for byte in LONG:
        transcript.received(bytes([byte]))
    assert transcript.lines() == [f"client sent {show_bytes(LONG)}"]


def test_a_megabyte_run_is_abbreviated():
    transcript = Transcript()
    for _ in range(16):
        transcript.received(bytes(1 << 16))
    [line] = transcript.lines()
    assert line.endswith("(1048576 bytes)")
    assert len(line) < 400


def test_only_the_last_lines_are_kept_with_a_count_of_the_rest():
    transcript = Transcript(limit=3)
    for number in range(5):
        transcript.event(f"event {number}")
    assert transcript.lines() == ["(2 earlier events)", "event 2", "event 3", "event 4"]
