"""Unit tests of pytest_tcpclient.framing: no sockets and no running event loop.

The asyncio helpers are run by hand on a StreamReader fed beforehand, so they
never have to wait; a coroutine that would wait yields the future it awaits.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import Int32StringReceiver

from pytest_tcpclient.framing import (
    HEADER_SIZE,
    MAX_PAYLOAD,
    FrameDecoder,
    LengthPrefixed,
    encode_frame,
    read_frame,
    write_frame,
)

payloads = st.lists(st.binary(max_size=300), max_size=6)


def frame(payload):
    """The wire form of a frame, written independently of the code under test."""
    return len(payload).to_bytes(4, "big") + payload


def finish(coroutine):
    """Run ``coroutine`` to its end; it must not wait for anything."""
    with pytest.raises(StopIteration) as stop:
        coroutine.send(None)
    return stop.value.value


@pytest.fixture
def reader():
    """A StreamReader on an event loop that never runs."""
    loop = asyncio.new_event_loop()
    yield asyncio.StreamReader(loop=loop)
    loop.close()


# -- encode_frame ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "wire"),
    [
        (b"", b"\x00\x00\x00\x00"),
        (b"hi", b"\x00\x00\x00\x02hi"),
        (bytes(258), b"\x00\x00\x01\x02" + bytes(258)),
        (bytearray(b"hi"), b"\x00\x00\x00\x02hi"),
        (memoryview(b"hi"), b"\x00\x00\x00\x02hi"),
    ],
)
def test_encode_frame_prefixes_the_big_endian_length(payload, wire):
    assert encode_frame(payload) == wire


def test_the_limits():
    assert HEADER_SIZE == 4
    assert MAX_PAYLOAD == 2**32 - 1


@pytest.mark.parametrize("payload", ["text", None, 3])
def test_encode_frame_refuses_what_is_not_bytes(payload):
    with pytest.raises(
        TypeError, match=r"^encode_frame\(\) argument 'payload' must be bytes"
    ):
        encode_frame(payload)


def test_encode_frame_refuses_a_payload_too_long_for_the_header(too_long_payload):
    with pytest.raises(
        ValueError, match=r"^encode_frame\(\) argument 'payload' is 4294967296"
    ):
        encode_frame(too_long_payload)


def test_the_wire_format_is_twisted_int32_string_receiver():
    received = []
    receiver = Int32StringReceiver()
    receiver.stringReceived = received.append
    receiver.makeConnection(StringTransport())
    receiver.dataReceived(encode_frame(b"one") + encode_frame(b""))
    assert received == [b"one", b""]
    transport = StringTransport()
    receiver.makeConnection(transport)
    receiver.sendString(b"two")
    assert FrameDecoder().feed(transport.value()) == [b"two"]


# -- FrameDecoder ------------------------------------------------------------------


@settings(database=None, deadline=None)
@given(payloads, st.data())
def test_the_decoder_returns_every_payload_however_the_stream_is_split(frames, data):
    stream = b"".join(map(frame, frames))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)))))
    bounds = [0, *cuts, len(stream)]
    decoder = FrameDecoder()
    decoded = []
    for start, end in pairwise(bounds):
        decoded += decoder.feed(stream[start:end])
    assert decoded == frames
    assert decoder.pending == 0


def test_the_decoder_returns_a_frame_as_soon_as_its_last_byte_arrives():
    stream = frame(b"ping") + frame(b"") + frame(b"pong!")
    decoder = FrameDecoder()
    completed = {}
    for position in range(len(stream)):
        for payload in decoder.feed(stream[position : position + 1]):
            completed[payload] = position + 1
    assert completed == {b"ping": 8, b"": 12, b"pong!": 21}


@pytest.mark.parametrize(
    ("fed", "pending"),
    [(b"", 0), (b"\x00\x00", 2), (frame(b"abc")[:-1], 6), (frame(b"abc") + b"\x00", 1)],
)
def test_pending_counts_the_bytes_of_the_incomplete_frame(fed, pending):
    decoder = FrameDecoder()
    decoder.feed(fed)
    assert decoder.pending == pending


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_the_decoder_accepts_bytes_like_data(kind):
    assert FrameDecoder().feed(kind(frame(b"hi"))) == [b"hi"]


# -- write_frame and read_frame ----------------------------------------------------


class Writer:
    """Stands in for an asyncio StreamWriter: keeps what is written."""

    def __init__(self):
        self.written = b""

    def write(self, data):
        self.written += data


def test_write_frame_writes_one_frame():
    writer = Writer()
    write_frame(writer, b"hi")
    write_frame(writer, bytearray(b""))
    assert writer.written == b"\x00\x00\x00\x02hi\x00\x00\x00\x00"


def test_write_frame_refuses_what_is_not_bytes():
    with pytest.raises(TypeError, match="'payload' must be bytes"):
        write_frame(Writer(), "hi")


def test_read_frame_reads_one_payload_at_a_time(reader):
    reader.feed_data(frame(b"ping") + frame(b"") + frame(b"pong!"))
    assert [finish(read_frame(reader)) for _ in range(3)] == [b"ping", b"", b"pong!"]


def test_read_frame_waits_for_the_rest_of_a_frame(reader):
    reader.feed_data(b"\x00\x00\x00\x05po")
    reading = read_frame(reader)
    assert isinstance(reading.send(None), asyncio.Future)  # waiting
    reader.feed_data(b"ng!")
    assert finish(reading) == b"pong!"


def test_read_frame_returns_empty_bytes_on_a_clean_end(reader):
    reader.feed_data(frame(b"last"))
    reader.feed_eof()
    assert finish(read_frame(reader)) == b"last"
    assert finish(read_frame(reader)) == b""


class Shouting(LengthPrefixed):
    """Upper-cased on the wire: a framing of the user's own, built on a built-in one."""

    def decode(self, data):
        decoded = super().decode(data)
        return None if decoded is None else (decoded[0].lower(), decoded[1])


class Raw:
    """A framing of the user's own: a message is whatever bytes came."""

    def encode(self, payload):
        return payload

    def decode(self, data):
        return (data, len(data)) if data else None


@pytest.mark.parametrize("framing", [Shouting(), Raw()], ids=["subclass", "own"])
def test_read_frame_takes_only_the_built_in_framings(reader, framing):
    reader.feed_data(frame(b"PING"))
    with pytest.raises(TypeError, match="must be one of the built-in framings"):
        finish(read_frame(reader, framing))


@pytest.mark.parametrize(
    ("fed", "partial"),
    [
        pytest.param(b"\x00\x00", b"\x00\x00", id="inside the header"),
        pytest.param(b"\x00\x00\x00\x05pon", b"pon", id="inside the payload"),
        pytest.param(b"\x00\x00\x00\x05", b"", id="right after the header"),
    ],
)
def test_read_frame_raises_when_the_stream_ends_inside_a_frame(reader, fed, partial):
    reader.feed_data(fed)
    reader.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError) as raised:
        finish(read_frame(reader))
    assert raised.value.partial == partial
