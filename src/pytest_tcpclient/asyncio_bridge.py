"""The bridge that runs the core's Twisted server inside an asyncio test.

An asyncio test runs on its own event loop, not on pytest-twisted's reactor.
:func:`reactor_on` makes a Twisted ``AsyncioSelectorReactor`` bound to that
loop, so the server makes progress whenever the test awaits, whatever global
reactor is installed; :func:`release` gives back everything it opened.
:class:`AwaitableDeferred` lets an asyncio task ``await`` a Deferred.
:class:`StreamWatch` sees the client side of asyncio stream connections to
the scripted servers, so ``expect_disconnect`` can check how the client closed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Collection, Generator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.python.failure import Failure

from .core.server import JoinDeferred

__all__ = ["AwaitableDeferred", "StreamWatch", "reactor_on", "release"]


class LoopReactor(AsyncioSelectorReactor):
    """An ``AsyncioSelectorReactor`` with no waker: it is never run, and its
    ``callFromThread`` goes through the loop's own ``call_soon_threadsafe``,
    so the socket pair a waker needs would only cost a test."""

    def installWaker(self) -> None:
        pass


def reactor_on(loop: asyncio.AbstractEventLoop) -> AsyncioSelectorReactor:
    """A Twisted reactor driven by ``loop``; it is never run or installed."""
    return LoopReactor(loop)


def release(reactor: AsyncioSelectorReactor) -> None:
    """Run what is due now (a port's close is a call for the next turn), then
    close the reactor's waker, if any, and timer so no descriptor or callback
    leaks.

    Call it once the servers on ``reactor`` are closed. If nothing is left on
    it (no reader, writer or timed call), the reactor then lets go of
    everything, the loop included, and cannot be used again; releasing it
    again does nothing.
    """
    if not vars(reactor):
        return  # released already
    reactor.runUntilCurrent()
    waker = reactor.waker
    if waker is not None:
        reactor.removeReader(waker)
        waker.connectionLost(None)
        reactor.waker = None
    handle = reactor._timerHandle
    if handle is not None:
        handle.cancel()
        reactor._timerHandle = None
    if not (reactor.getReaders() or reactor.getWriters() or reactor.getDelayedCalls()):
        # Nothing can call it any more. Its state refers back to it (shutdown
        # triggers, resolver, poller): dropped, the reactor and the loop it
        # holds are freed at once by their reference counts, not by a later
        # full collection of the garbage collector.
        vars(reactor).clear()


class AwaitableDeferred(JoinDeferred):
    """A Deferred that an asyncio task on ``loop`` can ``await``.

    A failure is raised at the ``await`` with no frame of Twisted or of this
    module under it, so pytest reports it at the test's own line.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self._settled: asyncio.Future[None] | None = None
        self._outcome: Failure | None = None

    def __await__(self) -> Generator[Any, None, None]:
        __tracebackhide__ = True
        if self._settled is None:
            if not self.called and asyncio.get_running_loop() is not self.loop:
                raise RuntimeError(
                    "awaited on another event loop than the one the server runs on"
                )
            self._settled = self.loop.create_future()
            self.addBoth(self._settle)
        if not self._settled.done():
            yield from self._settled
        if isinstance(self._outcome, Failure):  # every await raises it
            error = self._outcome.value
            assert error is not None  # a Failure holds its exception
            raise error.with_traceback(self._outcome.tb)
        return self._outcome

    def _settle(self, result: Failure | None) -> None:
        self._outcome = result
        assert self._settled is not None
        if not self._settled.done():
            self._settled.set_result(None)

    __iter__ = __await__


def _called_from_finalizer(depth: int = 3) -> bool:
    """Whether a ``__del__`` is among the few callers above the caller.

    StreamWriter's finalizer closes the transport through its own close(); that
    close is the garbage collector's, not the client's.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


SHOWN = 32
"""How many unread bytes a diagnostic shows."""

_Connect = Callable[..., Awaitable[tuple[asyncio.Transport, asyncio.BaseProtocol]]]
"""A loop's ``create_connection``."""


@dataclass
class _Stream:
    """What one client stream did, as seen from the client side."""

    received: int = 0
    closed: bool = False
    half_closed: bool = False
    collected: bool = False
    waited: bool = False
    unread: bytes = b""


class StreamWatch:
    """Watches the asyncio stream connections a test opens to given ports.

    While installed, ``loop.create_connection`` (which ``asyncio.open_connection``
    calls) wraps each :class:`asyncio.StreamReaderProtocol` it makes for a
    connection to one of ``ports()``: it notes whether the client called
    ``writer.close()``, awaited ``writer.wait_closed()``, and what it left
    unread. Connections to other ports are untouched. :meth:`check` is the
    core's ``client_check``.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, ports: Callable[[], Collection[int]]
    ):
        self._loop: asyncio.AbstractEventLoop | None = loop  # None once uninstalled
        self._ports = ports
        self._streams: dict[tuple[str, int], _Stream] = {}
        self._original: _Connect | None = None
        self._patched: _Connect | None = None
        # the client objects whose methods are wrapped, and the names wrapped
        self._wrapped: list[tuple[object, tuple[str, ...]]] = []

    def install(self) -> None:
        """Patch the loop's ``create_connection``."""
        loop = self._loop
        assert loop is not None, "the watch is installed once"
        original: _Connect = loop.create_connection
        self._original = original

        async def create_connection(
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            host: str | None = None,
            port: int | None = None,
            *args: Any,
            **kwargs: Any,
        ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
            if port in self._ports():
                protocol_factory = self._watching(protocol_factory)
            return await original(protocol_factory, host, port, *args, **kwargs)

        self._patched = create_connection
        loop.create_connection = create_connection  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        """Give the loop back its own ``create_connection``."""
        loop, self._loop = self._loop, None
        if loop is not None and loop.__dict__.get("create_connection") is self._patched:
            del loop.create_connection
        # Nothing of the loop is kept: the watch may outlive the test (a
        # server's client_check), the loop need not. Nor is ``ports``, which
        # refers to the servers that refer to the watch.
        self._patched = self._original = None
        self._ports = _no_ports
        # Each wrapper refers to the object it wraps: dropped, the client's
        # transports and protocols are freed by their reference counts.
        for wrapped, names in self._wrapped:
            for name in names:
                vars(wrapped).pop(name, None)
        self._wrapped.clear()
        self._streams.clear()

    def _watching(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol]
    ) -> Callable[[], asyncio.BaseProtocol]:
        def factory() -> asyncio.BaseProtocol:
            protocol = protocol_factory()
            if isinstance(protocol, asyncio.StreamReaderProtocol):
                self._watch(protocol)
            return protocol

        return factory

    def _watch(self, protocol: asyncio.StreamReaderProtocol) -> None:
        stream = _Stream()
        connection_made = protocol.connection_made
        data_received = protocol.data_received
        get_close_waiter = protocol._get_close_waiter  # type: ignore[attr-defined]

        def on_connection_made(transport: asyncio.BaseTransport) -> None:
            host, port = transport.get_extra_info("sockname")[:2]
            self._streams[host, port] = stream
            close = transport.close

            def on_close() -> None:
                if _called_from_finalizer():
                    stream.collected = True  # StreamWriter.__del__, not the client
                elif not stream.closed:
                    stream.closed = True
                    reader = protocol._stream_reader  # type: ignore[attr-defined]
                    stream.unread = bytes(reader._buffer) if reader is not None else b""
                close()

            transport.close = on_close  # type: ignore[method-assign]
            write_eof = transport.write_eof  # type: ignore[attr-defined]

            def on_write_eof() -> None:
                stream.half_closed = True
                write_eof()

            transport.write_eof = on_write_eof  # type: ignore[attr-defined]
            self._wrapped.append((transport, ("close", "write_eof")))
            connection_made(transport)

        def on_data_received(data: bytes) -> None:
            stream.received += len(data)
            data_received(data)

        def on_get_close_waiter(writer: asyncio.StreamWriter) -> Any:
            stream.waited = True
            return get_close_waiter(writer)

        protocol.connection_made = on_connection_made  # type: ignore[method-assign]
        protocol.data_received = on_data_received  # type: ignore[method-assign]
        protocol._get_close_waiter = on_get_close_waiter  # type: ignore[attr-defined]
        self._wrapped.append(
            (protocol, ("connection_made", "data_received", "_get_close_waiter"))
        )

    def check(self, peer: IPv4Address | IPv6Address, sent: int) -> str | None:
        """What was wrong with how the client at ``peer`` closed, if anything.

        ``sent`` is how many bytes the server sent on that connection.
        """
        stream = self._streams.pop((peer.host, peer.port), None)
        if stream is None:
            return None  # not an asyncio stream client
        if stream.half_closed and not stream.closed:
            return None  # its write_eof() is its close; it reads the rest after
        if not stream.closed:
            collected = " (the writer was garbage-collected)" if stream.collected else ""
            return f"it did not call writer.close(){collected}"
        unread = sent - (stream.received - len(stream.unread))
        if unread:
            shown = stream.unread[:SHOWN]
            if not shown:
                return (
                    f"it closed with {unread} unread bytes, "
                    "none of which reached its reader"
                )
            more = " ..." if unread > len(shown) else ""
            return f"it closed with {unread} unread bytes: {shown!r}{more}"
        if not stream.waited:
            return "it did not await writer.wait_closed() after writer.close()"
        return None


def _no_ports() -> Collection[int]:
    return ()
