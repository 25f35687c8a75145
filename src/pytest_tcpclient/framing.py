"""Length-prefixed framing: a 4-byte big-endian unsigned length, then the payload.

This is the wire format of Twisted's ``Int32StringReceiver``. The module offers
:func:`encode_frame` and an incremental :class:`FrameDecoder` for any client,
and :func:`write_frame` / :func:`read_frame` for asyncio stream clients.
"""

from __future__ import annotations

import asyncio

from .core.arguments import BytesLike, as_bytes
from .core.wire import HEADER, HEADER_SIZE, MAX_PAYLOAD

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "BytesLike",
    "FrameDecoder",
    "encode_frame",
    "read_frame",
    "write_frame",
]


def encode_frame(payload: BytesLike) -> bytes:
    """Return ``payload`` prefixed with its length as a 4-byte big-endian integer.

    :raises TypeError: if ``payload`` is not bytes-like.
    :raises ValueError: if ``payload`` is longer than :data:`MAX_PAYLOAD`.
    """
    payload = as_bytes(payload, "encode_frame() argument 'payload'", MAX_PAYLOAD)
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole payloads back.

    The cost is linear in the bytes fed, however they are split::

        decoder = FrameDecoder()
        decoder.feed(b"\\x00\\x00")              # -> []
        decoder.feed(b"\\x00\\x02hi\\x00")       # -> [b"hi"]
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Number of bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: BytesLike) -> list[bytes]:
        """Add ``data`` and return the payloads of the frames it completes."""
        self._buffer += data
        buffer, offset, frames = self._buffer, 0, []
        while len(buffer) - offset >= HEADER_SIZE:
            (size,) = HEADER.unpack_from(buffer, offset)
            end = offset + HEADER_SIZE + size
            if end > len(buffer):
                break
            frames.append(bytes(buffer[offset + HEADER_SIZE : end]))
            offset = end
        # Drop the consumed bytes in one move per call, never once per frame:
        # the bytes left behind belong to one incomplete frame, so each byte
        # is moved at most once and the cost stays linear.
        del buffer[:offset]
        return frames


def write_frame(writer: asyncio.StreamWriter, payload: BytesLike) -> None:
    """Write ``payload`` as one frame to an asyncio stream writer."""
    writer.write(encode_frame(payload))


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """Read one frame's payload from an asyncio stream reader.

    Returns ``b""`` if the stream ends cleanly before a header starts; raises
    :class:`asyncio.IncompleteReadError` if it ends inside a frame.
    """
    try:
        header = await reader.readexactly(HEADER_SIZE)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return b""
    (size,) = HEADER.unpack(header)
    return await reader.readexactly(size)
