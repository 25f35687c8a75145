"""The asyncio-style workloads: the plugin's bridge against raw asyncio streams.

Client and server run in this one process, on one asyncio loop, as they do in
a pytest-asyncio test: the plugin's server on a Twisted reactor bound to that
loop (:func:`~pytest_tcpclient.asyncio_bridge.reactor_on`), with the stream
watch the fixture installs, and ``join()`` awaited as an
:class:`~pytest_tcpclient.asyncio_bridge.AwaitableDeferred`. The client is the
same asyncio stream code for both servers; the raw server is an
``asyncio.start_server`` handler a user would write by hand.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from asyncio_clients import (
    BenchError,
    Client,
    Reader,
    Writer,
    close,
    framer,
    pinger,
    sender,
    wait,
)
from common import FRAME_HEADER, HOST, STEP_TIMEOUT, Stopwatch, Timing
from twisted.internet.defer import maybeDeferred
from twisted.internet.protocol import Protocol
from twisted_style import OneProtocol, RawPong

from pytest_tcpclient import asyncio_bridge
from pytest_tcpclient.core import ServerGroup
from pytest_tcpclient.plugin import PytestServer

Handler = Callable[[Reader, Writer], Coroutine[Any, Any, None]]
Runners = dict[str, Callable[[], Awaitable[Timing]]]


# -- running one workload -------------------------------------------------------------


async def run_plugin(declare: Callable[[PytestServer], None], client: Client) -> Timing:
    """Time the plugin's server through ``declare``d steps against ``client``,
    set up as the fixture sets it up in an asyncio test."""
    loop = asyncio.get_running_loop()
    reactor = asyncio_bridge.reactor_on(loop)
    awaitable = functools.partial(asyncio_bridge.AwaitableDeferred, loop)
    watch = asyncio_bridge.StreamWatch(
        loop, lambda: {s.service_port for s in group.servers}
    )
    server_class = functools.partial(
        PytestServer, awaitable=awaitable, client_check=watch.check
    )
    group = ServerGroup(reactor, timeout=STEP_TIMEOUT, server_class=server_class)  # type: ignore[arg-type]
    watch.install()
    try:
        stopwatch = Stopwatch()
        server = group.new()
        declare(server)
        reader, writer = await wait(asyncio.open_connection(HOST, server.service_port))
        await wait(client(reader, writer))
        await wait(server.join())
        elapsed = stopwatch.read()
        await close(writer)
        stopped = awaitable()
        group.stop().chainDeferred(stopped)  # teardown, as the fixture does it
        await wait(stopped)
    finally:
        watch.uninstall()
        asyncio_bridge.release(reactor)
    return elapsed


async def run_raw(handler: Handler, client: Client) -> Timing:
    """Time a hand-written streams server running ``handler`` against ``client``."""
    loop = asyncio.get_running_loop()
    served = loop.create_future()

    async def handle(reader: Reader, writer: Writer) -> None:
        try:
            await handler(reader, writer)
        except Exception as error:  # reported by the awaiting side
            served.set_exception(error)
        else:
            served.set_result(None)

    stopwatch = Stopwatch()
    server = await asyncio.start_server(handle, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await wait(asyncio.open_connection(HOST, port))
    await wait(client(reader, writer))
    await wait(served)
    elapsed = stopwatch.read()
    await close(writer)
    server.close()
    await wait(server.wait_closed())
    return elapsed


async def run_bridge(protocol: Callable[[], Protocol], client: Client) -> Timing:
    """Time a hand-written Twisted server, ``protocol()``, on a reactor bound to
    this loop as the plugin binds one, against ``client``."""
    loop = asyncio.get_running_loop()
    reactor = asyncio_bridge.reactor_on(loop)
    try:
        stopwatch = Stopwatch()
        port = reactor.listenTCP(0, OneProtocol(protocol), interface=HOST)
        reader, writer = await wait(asyncio.open_connection(HOST, port.getHost().port))
        await wait(client(reader, writer))
        elapsed = stopwatch.read()
        await close(writer)
        stopped = asyncio_bridge.AwaitableDeferred(loop)
        maybeDeferred(port.stopListening).chainDeferred(stopped)
        await wait(stopped)
    finally:
        asyncio_bridge.release(reactor)
    return elapsed


# -- the workloads: each returns its runners, by kind ------------------------------------


def expect_bytes(data: bytes, chunk: int, nodelay: bool = False) -> Runners:
    """The client writes ``data`` in ``chunk``-byte writes; one ``expect_bytes``.

    With ``nodelay`` the client sets TCP_NODELAY and lets the loop run once
    after each write, so each write leaves as its own segment.
    """

    client = sender(data, chunk, nodelay)

    async def handler(reader: Reader, writer: Writer) -> None:
        offset = 0
        while offset < len(data):
            received = await reader.read(max(chunk, 1 << 16))
            if not received or not data.startswith(received, offset):
                raise BenchError(f"unexpected bytes at offset {offset}")
            offset += len(received)

    def declare(server: PytestServer) -> None:
        server.expect_connect()
        server.expect_bytes(data)

    return {
        "plugin": lambda: run_plugin(declare, client),
        "raw": lambda: run_raw(handler, client),
    }


def round_trips(requests: list[bytes], replies: list[bytes]) -> Runners:
    """One ``expect_bytes`` answered by one ``send_bytes``, again and again.

    A third runner, ``bridge``, is the raw Twisted-style server (a Protocol)
    on the plugin's bridge reactor, without the plugin: what any Twisted
    server costs on an asyncio loop, the ceiling of the plugin there.
    """
    size = len(requests[0])
    client = pinger(requests, replies)

    async def handler(reader: Reader, writer: Writer) -> None:
        for request, reply in zip(requests, replies, strict=True):
            if await reader.readexactly(size) != request:
                raise BenchError(f"wrong request instead of {request!r}")
            writer.write(reply)

    def declare(server: PytestServer) -> None:
        server.expect_connect()
        for request, reply in zip(requests, replies, strict=True):
            server.expect_bytes(request)
            server.send_bytes(reply)

    return {
        "plugin": lambda: run_plugin(declare, client),
        "raw": lambda: run_raw(handler, client),
        "bridge": lambda: run_bridge(lambda: RawPong(requests, replies), client),
    }


def frames(requests: list[bytes], replies: list[bytes], wire: bytes) -> Runners:
    """The client writes every frame at once; each is answered with one frame.

    The client checks the reply stream in place as it arrives, so its cost is
    small and the same for both servers.
    """
    client = framer(wire, replies)

    async def handler(reader: Reader, writer: Writer) -> None:
        for request, reply in zip(requests, replies, strict=True):
            (size,) = FRAME_HEADER.unpack(await reader.readexactly(FRAME_HEADER.size))
            if await reader.readexactly(size) != request:
                raise BenchError(f"wrong frame instead of {request!r}")
            writer.write(FRAME_HEADER.pack(len(reply)) + reply)

    def declare(server: PytestServer) -> None:
        server.expect_connect()
        for request, reply in zip(requests, replies, strict=True):
            server.expect_frame(request)
            server.send_frame(reply)

    return {
        "plugin": lambda: run_plugin(declare, client),
        "raw": lambda: run_raw(handler, client),
    }
