"""The sync-style workloads: the plugin's blocking face against a hand-written
threaded server.

The client is a blocking socket in this thread, as in a plain ``def`` test. The
plugin's server runs on its reactor thread, made as the ``tcpserver`` fixture
makes it for a plain test (:class:`~pytest_tcpclient.blocking.BlockingServers`);
the raw server is what a user would write by hand: a listening socket and a
thread that serves its one connection. The client is the same code for both.
Each run returns the wall-clock and CPU seconds from "start listening" to "the
server has seen everything it expected" and the client has every reply.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from common import DEADLINE, FRAME_HEADER, HOST, STEP_TIMEOUT, Stopwatch, Timing
from twisted.internet.protocol import Protocol
from twisted_style import OneProtocol, RawPong

from pytest_tcpclient.blocking import BlockingServer, BlockingServers, reactor_thread

Client = Callable[[socket.socket], None]
Handler = Callable[[socket.socket], None]
Runners = dict[str, Callable[[], Timing]]


class BenchError(Exception):
    """A server or client saw something other than what the workload sends."""


def connect(port: int, nodelay: bool = False) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=DEADLINE)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    parts, left = [], size
    while left:
        data = sock.recv(left)
        if not data:
            raise BenchError(f"the stream ended {left} bytes short")
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def receive_checked(sock: socket.socket, expected: bytes) -> None:
    """Read exactly ``expected``, compared in place as it arrives."""
    offset = 0
    while offset < len(expected):
        data = sock.recv(1 << 16)
        if not data or not expected.startswith(data, offset):
            raise BenchError(f"unexpected bytes at offset {offset}")
        offset += len(data)


class RawServer:
    """Listens on loopback; a thread accepts one connection and runs ``handle``."""

    def __init__(self, handle: Handler) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port: int = self.listener.getsockname()[1]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, args=(handle,), daemon=True)
        self.thread.start()

    def _serve(self, handle: Handler) -> None:
        try:
            connection, _ = self.listener.accept()
            with connection:
                handle(connection)
        except BaseException as error:  # reported by wait()
            self.error = error

    def wait(self) -> None:
        """Wait until the handler is done; raise what it raised."""
        self.thread.join(DEADLINE)
        if self.thread.is_alive():
            raise BenchError("the raw server is still busy")
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.listener.close()


# -- running one workload -------------------------------------------------------------


def run_plugin(
    declare: Callable[[BlockingServer], None], client: Client, nodelay: bool = False
) -> Timing:
    """Time the plugin's server through ``declare``d steps against ``client``."""
    servers = BlockingServers(reactor_thread(), timeout=STEP_TIMEOUT)
    stopwatch = Stopwatch()
    server = servers.new()
    declare(server)
    with connect(server.service_port, nodelay) as sock:
        client(sock)
        server.join()
        elapsed = stopwatch.read()
    failure = servers.finish()  # teardown, as the fixture does it
    if failure is not None:
        failure.raiseException()
    return elapsed


def run_raw(handle: Handler, client: Client, nodelay: bool = False) -> Timing:
    """Time a hand-written threaded server running ``handle`` against ``client``."""
    stopwatch = Stopwatch()
    server = RawServer(handle)
    try:
        with connect(server.port, nodelay) as sock:
            client(sock)
            server.wait()
            elapsed = stopwatch.read()
    finally:
        server.close()
    return elapsed


def run_thread(protocol: Callable[[], Protocol], client: Client) -> Timing:
    """Time a hand-written Twisted server, ``protocol()``, on the plugin's
    reactor thread, against ``client``: what any Twisted server costs there."""
    thread = reactor_thread()
    stopwatch = Stopwatch()
    port = thread.call(
        lambda: thread.reactor.listenTCP(0, OneProtocol(protocol), interface=HOST),
        "listen",
    )
    with connect(port.getHost().port, nodelay=True) as sock:
        client(sock)
        elapsed = stopwatch.read()
    thread.wait(lambda: (port.stopListening(), 0.0), "stop listening")
    return elapsed


# -- the workloads: each returns its runners, by kind ------------------------------------


def expect_bytes(data: bytes, chunk: int, nodelay: bool = False) -> Runners:
    """The client writes ``data`` in ``chunk``-byte writes; one ``expect_bytes``.

    With ``nodelay`` the client sets TCP_NODELAY, so each write leaves as its
    own segment.
    """

    def client(sock: socket.socket) -> None:
        for offset in range(0, len(data), chunk):
            sock.sendall(data[offset : offset + chunk])

    def handler(connection: socket.socket) -> None:
        receive_checked(connection, data)

    def declare(server: BlockingServer) -> None:
        server.expect_connect()
        server.expect_bytes(data)

    return {
        "plugin": lambda: run_plugin(declare, client, nodelay),
        "raw": lambda: run_raw(handler, client, nodelay),
    }


def round_trips(requests: list[bytes], replies: list[bytes]) -> Runners:
    """One ``expect_bytes`` answered by one ``send_bytes``, again and again.

    A third runner, ``thread``, is the raw Twisted server (a Protocol) on the
    plugin's reactor thread, without the plugin: the ceiling of any Twisted
    server there.
    """
    size = len(requests[0])

    def client(sock: socket.socket) -> None:
        for request, reply in zip(requests, replies, strict=True):
            sock.sendall(request)
            if recv_exactly(sock, size) != reply:
                raise BenchError(f"wrong reply to {request!r}")

    def handler(connection: socket.socket) -> None:
        for request, reply in zip(requests, replies, strict=True):
            if recv_exactly(connection, size) != request:
                raise BenchError(f"wrong request instead of {request!r}")
            connection.sendall(reply)

    def declare(server: BlockingServer) -> None:
        server.expect_connect()
        for request, reply in zip(requests, replies, strict=True):
            server.expect_bytes(request)
            server.send_bytes(reply)

    return {
        "plugin": lambda: run_plugin(declare, client, nodelay=True),
        "raw": lambda: run_raw(handler, client, nodelay=True),
        "thread": lambda: run_thread(lambda: RawPong(requests, replies), client),
    }


def frames(requests: list[bytes], replies: list[bytes], wire: bytes) -> Runners:
    """The client writes every frame at once (from a second thread, so it reads
    the replies as they come); each is answered with one frame."""
    incoming = b"".join(FRAME_HEADER.pack(len(r)) + r for r in replies)

    def client(sock: socket.socket) -> None:
        sender = threading.Thread(target=sock.sendall, args=(wire,), daemon=True)
        sender.start()
        receive_checked(sock, incoming)
        sender.join(DEADLINE)

    def handler(connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        for request, reply in zip(requests, replies, strict=True):
            (size,) = FRAME_HEADER.unpack(reader.read(FRAME_HEADER.size))
            if reader.read(size) != request:
                raise BenchError(f"wrong frame instead of {request!r}")
            connection.sendall(FRAME_HEADER.pack(len(reply)) + reply)

    def declare(server: BlockingServer) -> None:
        server.expect_connect()
        for request, reply in zip(requests, replies, strict=True):
            server.expect_frame(request)
            server.send_frame(reply)

    return {
        "plugin": lambda: run_plugin(declare, client),
        "raw": lambda: run_raw(handler, client),
    }


def run(measure: Any) -> Any:
    """Run the coroutine ``measure`` to its end without an event loop: the sync
    runners never await anything, and a loop would make the blocking calls
    refuse to block."""
    try:
        measure.send(None)
    except StopIteration as done:
        return done.value
    raise BenchError("a sync-style workload awaited something")
