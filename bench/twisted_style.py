"""The Twisted-style workloads: the plugin's server against a raw Twisted Protocol.

Client and server run in this one process, on Twisted's default reactor, as
they do in a pytest-twisted test. The client is the same Protocol for both
servers. The plugin's server is built the way the ``tcpserver`` fixture builds
it (a :class:`~pytest_tcpclient.plugin.PytestServer` in a
:class:`~pytest_tcpclient.core.ServerGroup`); the raw one is what a user would
write by hand for the same check. Each run returns the wall-clock and CPU
seconds from "start listening" to "the server has seen everything it
expected" (and, for frames and round trips, "the client has every reply").
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from common import DEADLINE, FRAME_HEADER, HOST, STEP_TIMEOUT, Stopwatch, Timing
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import Int32StringReceiver

from pytest_tcpclient.core import ServerGroup
from pytest_tcpclient.plugin import JoinDeferred, PytestServer


class BenchError(Exception):
    """A server or client saw something other than what the workload sends."""


# -- the client: the same for both servers ---------------------------------------


class Sender(Protocol):
    """Writes ``data`` in ``chunk``-byte writes, the next one each time the
    transport has flushed the last (a pull producer), so no more than one
    write is ever buffered."""

    def __init__(self, data: bytes, chunk: int, nodelay: bool = False) -> None:
        self.data = data
        self.chunk = chunk
        self.nodelay = nodelay
        self.offset = 0
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        if self.nodelay:
            self.transport.setTcpNoDelay(True)
        self.transport.registerProducer(self, False)

    def resumeProducing(self) -> None:
        if self.offset >= len(self.data):
            self.transport.unregisterProducer()
            return
        end = self.offset + self.chunk
        self.transport.write(self.data[self.offset : end])
        self.offset = end

    def stopProducing(self) -> None:
        self.offset = len(self.data)

    def connectionLost(self, reason: object = None) -> None:
        self.lost.callback(None)


class Pinger(Protocol):
    """Sends ``requests[i]`` once the reply to ``requests[i - 1]`` has arrived."""

    def __init__(self, requests: list[bytes], replies: list[bytes]) -> None:
        self.requests = requests
        self.replies = replies
        self.index = 0
        self.buffer = b""
        self.done: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.requests[0])

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        size = len(self.replies[0])
        while len(self.buffer) >= size and self.index < len(self.replies):
            reply, self.buffer = self.buffer[:size], self.buffer[size:]
            if reply != self.replies[self.index]:
                raise BenchError(f"reply {self.index}: {reply!r}")
            self.index += 1
            if self.index == len(self.requests):
                self.done.callback(None)
            else:
                self.transport.write(self.requests[self.index])

    def connectionLost(self, reason: object = None) -> None:
        self.lost.callback(None)


class StreamChecker(Protocol):
    """Writes ``outgoing`` at once; ``done`` fires once exactly ``incoming`` is back."""

    def __init__(self, outgoing: bytes, incoming: bytes) -> None:
        self.outgoing = outgoing
        self.incoming = incoming
        self.offset = 0
        self.done: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.outgoing)

    def dataReceived(self, data: bytes) -> None:
        if not self.incoming.startswith(data, self.offset):
            raise BenchError(f"unexpected bytes at offset {self.offset}")
        self.offset += len(data)
        if self.offset == len(self.incoming):
            self.done.callback(None)

    def connectionLost(self, reason: object = None) -> None:
        self.lost.callback(None)


# -- raw servers: what a user writes by hand ----------------------------------------


class RawExpect(Protocol):
    """Checks that the client sends exactly ``expected``, in place, as it arrives."""

    def __init__(self, expected: bytes, done: Deferred[None]) -> None:
        self.expected = expected
        self.done = done
        self.offset = 0

    def dataReceived(self, data: bytes) -> None:
        if not self.expected.startswith(data, self.offset):
            raise BenchError(f"unexpected bytes at offset {self.offset}")
        self.offset += len(data)
        if self.offset == len(self.expected):
            self.done.callback(None)


class RawPong(Protocol):
    """Answers ``requests[i]`` with ``replies[i]``."""

    def __init__(self, requests: list[bytes], replies: list[bytes]) -> None:
        self.requests = requests
        self.replies = replies
        self.index = 0
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        size = len(self.requests[0])
        while len(self.buffer) >= size and self.index < len(self.requests):
            request, self.buffer = self.buffer[:size], self.buffer[size:]
            if request != self.requests[self.index]:
                raise BenchError(f"request {self.index}: {request!r}")
            self.transport.write(self.replies[self.index])
            self.index += 1


class RawFrames(Int32StringReceiver):
    """Answers frame ``requests[i]`` with frame ``replies[i]``."""

    def __init__(self, requests: list[bytes], replies: list[bytes]) -> None:
        self.requests = requests
        self.replies = replies
        self.index = 0

    def stringReceived(self, string: bytes) -> None:
        if self.index >= len(self.requests) or string != self.requests[self.index]:
            raise BenchError(f"frame {self.index}: {string!r}")
        self.sendString(self.replies[self.index])
        self.index += 1


class OneProtocol(Factory):
    """A factory for one connection, with ``make()`` as the protocol."""

    def __init__(self, make: Callable[[], Protocol]) -> None:
        self.make = make

    def buildProtocol(self, addr: object) -> Protocol:
        protocol = self.make()
        protocol.factory = self
        return protocol


# -- running one workload -------------------------------------------------------------


async def wait(reactor: Any, deferred: Deferred[Any]) -> Any:
    """``await deferred``, failing after :data:`DEADLINE` seconds."""
    return await deferred.addTimeout(DEADLINE, reactor)


async def connect(reactor: Any, port: int, protocol: Protocol) -> Any:
    endpoint = TCP4ClientEndpoint(reactor, HOST, port, timeout=DEADLINE)
    return await wait(reactor, connectProtocol(endpoint, protocol))


def plugin_servers(reactor: Any) -> ServerGroup:
    """The servers of one test, as the ``tcpserver`` fixture makes them."""
    server_class = functools.partial(PytestServer, awaitable=JoinDeferred)
    return ServerGroup(reactor, timeout=STEP_TIMEOUT, server_class=server_class)  # type: ignore[arg-type]


async def run_plugin(
    reactor: Any,
    declare: Callable[[PytestServer], None],
    client: Protocol,
    client_done: Deferred[None] | None = None,
) -> Timing:
    """Time the plugin's server through ``declare``d steps against ``client``."""
    group = plugin_servers(reactor)
    stopwatch = Stopwatch()
    server = group.new()
    declare(server)
    await connect(reactor, server.service_port, client)
    await wait(reactor, server.join())
    if client_done is not None:
        await wait(reactor, client_done)
    elapsed = stopwatch.read()
    client.transport.loseConnection()
    await wait(reactor, client.lost)
    await wait(reactor, group.stop())  # teardown, as the fixture does it
    return elapsed


async def run_raw(
    reactor: Any,
    server: Callable[[Deferred[None]], Protocol],
    client: Protocol,
    client_done: Deferred[None] | None = None,
) -> Timing:
    """Time a hand-written server made by ``server(done)`` against ``client``."""
    done: Deferred[None] = Deferred()
    stopwatch = Stopwatch()
    port = reactor.listenTCP(0, OneProtocol(lambda: server(done)), interface=HOST)
    await connect(reactor, port.getHost().port, client)
    await wait(reactor, done if client_done is None else client_done)
    elapsed = stopwatch.read()
    client.transport.loseConnection()
    await wait(reactor, client.lost)
    await port.stopListening()
    return elapsed


# -- the workloads: each returns its runners, by kind ------------------------------------


def expect_bytes(reactor: Any, data: bytes, chunk: int, nodelay: bool = False) -> Runners:
    """The client writes ``data`` in ``chunk``-byte writes; one ``expect_bytes``."""

    def declare(server: PytestServer) -> None:
        server.expect_connect()
        server.expect_bytes(data)

    def plugin() -> Awaitable[Timing]:
        return run_plugin(reactor, declare, Sender(data, chunk, nodelay))

    def raw() -> Awaitable[Timing]:
        return run_raw(
            reactor, lambda done: RawExpect(data, done), Sender(data, chunk, nodelay)
        )

    return {"plugin": plugin, "raw": raw}


def round_trips(reactor: Any, requests: list[bytes], replies: list[bytes]) -> Runners:
    """One ``expect_bytes`` answered by one ``send_bytes``, again and again."""

    def declare(server: PytestServer) -> None:
        server.expect_connect()
        for request, reply in zip(requests, replies, strict=True):
            server.expect_bytes(request)
            server.send_bytes(reply)

    def plugin() -> Awaitable[Timing]:
        client = Pinger(requests, replies)
        return run_plugin(reactor, declare, client, client.done)

    def raw() -> Awaitable[Timing]:
        client = Pinger(requests, replies)

        def server(done: Deferred[None]) -> Protocol:
            return RawPong(requests, replies)

        return run_raw(reactor, server, client, client.done)

    return {"plugin": plugin, "raw": raw}


def frames(
    reactor: Any, requests: list[bytes], replies: list[bytes], wire: bytes
) -> Runners:
    """The client writes every frame at once; each is answered with one frame."""
    incoming = b"".join(FRAME_HEADER.pack(len(r)) + r for r in replies)

    def declare(server: PytestServer) -> None:
        server.expect_connect()
        for request, reply in zip(requests, replies, strict=True):
            server.expect_frame(request)
            server.send_frame(reply)

    def plugin() -> Awaitable[Timing]:
        client = StreamChecker(wire, incoming)
        return run_plugin(reactor, declare, client, client.done)

    def raw() -> Awaitable[Timing]:
        client = StreamChecker(wire, incoming)

        def server(done: Deferred[None]) -> Protocol:
            return RawFrames(requests, replies)

        return run_raw(reactor, server, client, client.done)

    return {"plugin": plugin, "raw": raw}


Runners = dict[str, Callable[[], Awaitable[Timing]]]


def run(main: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``main(reactor)`` on Twisted's default reactor; return its result."""
    from twisted.internet import reactor

    outcome: list[Any] = []

    def start() -> None:
        deferred = ensureDeferred(main(reactor))
        deferred.addBoth(outcome.append).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    result = outcome[0]
    if hasattr(result, "raiseException"):
        result.raiseException()
    return result
