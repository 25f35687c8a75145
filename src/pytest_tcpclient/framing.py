"""Framings: how messages are delimited on the wire, for the server and for clients.

The server's ``expect_frame``/``send_frame``/``on_frame`` use a framing: the
server's :attr:`~pytest_tcpclient.ScriptedServer.framing` (by default
:class:`LengthPrefixed`, a 4-byte big-endian length, the wire format of
Twisted's ``Int32StringReceiver``), or one given to the step.

Built in: :class:`LengthPrefixed` (1, 2, 4 or 8-byte lengths, big or little
endian), :class:`Netstring` and :class:`Lines`. A framing of your own is any
object with two methods::

    class Resp:
        def encode(self, payload: bytes) -> bytes: ...
        def decode(self, data: bytes) -> tuple[bytes, int] | None: ...

``decode`` is given the unread bytes from the start of a message; it returns
the payload and how many bytes the message took, or None until it is whole.

For clients: :func:`encode_frame` and the incremental :class:`FrameDecoder`
for any client, :func:`write_frame` / :func:`read_frame` for asyncio streams.
"""

from __future__ import annotations

import asyncio

from .core.arguments import BytesLike, as_bytes
from .core.framings import (
    DEFAULT_FRAMING,
    Framing,
    FramingError,
    FramingLike,
    LengthPrefixed,
    Lines,
    Netstring,
    as_framing,
    built_in,
    decoder_for,
)
from .core.wire import HEADER_SIZE, MAX_PAYLOAD

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "BytesLike",
    "FrameDecoder",
    "Framing",
    "FramingError",
    "FramingLike",
    "LengthPrefixed",
    "Lines",
    "Netstring",
    "encode_frame",
    "read_frame",
    "write_frame",
]


def _framing(framing: FramingLike | None, what: str) -> FramingLike:
    __tracebackhide__ = True
    return DEFAULT_FRAMING if framing is None else as_framing(framing, what)


def encode_frame(payload: BytesLike, framing: FramingLike | None = None) -> bytes:
    """The wire bytes of ``payload`` as one frame of ``framing`` (by default a
    4-byte big-endian length, then the payload).

    :raises TypeError: if ``payload`` is not bytes-like.
    :raises ValueError: if ``payload`` is too long for the framing.
    """
    __tracebackhide__ = True
    framing = _framing(framing, "encode_frame() argument 'framing'")
    limit = getattr(framing, "max_payload", None)
    payload = as_bytes(payload, "encode_frame() argument 'payload'", limit)
    return framing.encode(payload)


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole payloads back.

    The cost is linear in the bytes fed, however they are split, with the
    built-in framings::

        decoder = FrameDecoder()
        decoder.feed(b"\\x00\\x00")              # -> []
        decoder.feed(b"\\x00\\x02hi\\x00")       # -> [b"hi"]

    :param framing: the framing of the frames (by default 4-byte big-endian
        lengths).
    """

    def __init__(self, framing: FramingLike | None = None) -> None:
        self.framing = _framing(framing, "FrameDecoder() argument 'framing'")
        self._buffer = bytearray()
        self._decoder = decoder_for(self.framing)

    @property
    def pending(self) -> int:
        """Number of bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: BytesLike) -> list[bytes]:
        """Add ``data`` and return the payloads of the frames it completes.

        :raises FramingError: if the bytes are not frames of the framing.
        """
        fed = len(self._buffer)  # the bytes the current decoder has seen
        self._buffer += data
        buffer, offset, frames = self._buffer, 0, []
        while fed < len(buffer):
            size = self._decoder.feed(buffer, fed)
            if size is None:
                break
            message = bytes(buffer[offset : offset + size])
            decoded = self.framing.decode(message)
            assert decoded is not None, "a whole message decodes"
            frames.append(bytes(decoded[0]))
            offset += size
            fed = offset
            self._decoder = decoder_for(self.framing)
        # Drop the consumed bytes in one move per call, never once per frame:
        # the bytes left behind belong to one incomplete frame, so each byte
        # is moved at most once and the cost stays linear.
        del buffer[:offset]
        return frames


def write_frame(
    writer: asyncio.StreamWriter, payload: BytesLike, framing: FramingLike | None = None
) -> None:
    """Write ``payload`` as one frame of ``framing`` to an asyncio stream writer."""
    __tracebackhide__ = True
    writer.write(encode_frame(payload, framing))


async def read_frame(
    reader: asyncio.StreamReader, framing: FramingLike | None = None
) -> bytes:
    """Read one frame's payload from an asyncio stream reader.

    Returns ``b""`` if the stream ends cleanly before a frame starts; raises
    :class:`asyncio.IncompleteReadError` if it ends inside one. ``framing`` is
    one of the built-in framings (by default 4-byte big-endian lengths).
    """
    framing = _framing(framing, "read_frame() argument 'framing'")
    if not (built_in(framing) and isinstance(framing, (Lines, Netstring, LengthPrefixed))):
        raise TypeError(
            "read_frame() argument 'framing' must be one of the built-in framings, "
            f"not {type(framing).__name__}"
        )
    if isinstance(framing, Lines):
        try:
            line = await reader.readuntil(framing.delimiter)
        except asyncio.IncompleteReadError as error:
            if error.partial:
                raise
            return b""
        return line[: -len(framing.delimiter)]
    if isinstance(framing, Netstring):
        try:
            digits = await reader.readuntil(b":")
        except asyncio.IncompleteReadError as error:
            if error.partial:
                raise
            return b""
        body = await reader.readexactly(int(digits[:-1]) + 1)
        return framing.payload(digits + body)
    assert isinstance(framing, LengthPrefixed), "the last built-in framing"
    try:
        header = await reader.readexactly(framing.size)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return b""
    return await reader.readexactly(int.from_bytes(header, framing.byteorder))
