"""The asyncio clients of the asyncio-style workloads, one per workload.

Plain asyncio streams and the standard library only: the same clients talk to
the plugin's server, to the raw server and, in a virtual environment of its
own, to the asyncio-only pytest-tcpclient 0.7.29 (:mod:`original`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from common import DEADLINE, FRAME_HEADER

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Client = Callable[[Reader, Writer], Coroutine[Any, Any, None]]


class BenchError(Exception):
    """A server or client saw something other than what the workload sends."""


async def wait(awaitable: Awaitable[Any]) -> Any:
    """``await awaitable``, failing after :data:`DEADLINE` seconds."""

    async def waiting() -> Any:
        return await awaitable

    return await asyncio.wait_for(waiting(), DEADLINE)


async def close(writer: Writer) -> None:
    writer.close()
    await wait(writer.wait_closed())


def sender(data: bytes, chunk: int, nodelay: bool = False) -> Client:
    """Writes ``data`` in ``chunk``-byte writes. With ``nodelay``, sets
    TCP_NODELAY and lets the loop run once after each write, so each write
    leaves as its own segment."""

    async def client(reader: Reader, writer: Writer) -> None:
        if nodelay:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for offset in range(0, len(data), chunk):
            writer.write(data[offset : offset + chunk])
            if nodelay:
                await asyncio.sleep(0)
            else:
                await writer.drain()

    return client


def pinger(requests: list[bytes], replies: list[bytes]) -> Client:
    """Sends each request and waits for its reply (all of one size)."""
    size = len(requests[0])

    async def client(reader: Reader, writer: Writer) -> None:
        for request, reply in zip(requests, replies, strict=True):
            writer.write(request)
            if await reader.readexactly(size) != reply:
                raise BenchError(f"wrong reply to {request!r}")

    return client


def framer(wire: bytes, replies: list[bytes]) -> Client:
    """Writes every frame at once (``wire``), then checks the reply frames in
    place as they arrive, so its cost is small and the same for every server."""
    incoming = b"".join(FRAME_HEADER.pack(len(r)) + r for r in replies)

    async def client(reader: Reader, writer: Writer) -> None:
        writer.write(wire)
        offset = 0
        while offset < len(incoming):
            received = await reader.read(1 << 16)
            if not received or not incoming.startswith(received, offset):
                raise BenchError(f"unexpected bytes at offset {offset}")
            offset += len(received)

    return client
