"""The blocking face: scripted servers on a reactor thread, for blocking clients.

A blocking client (``socket``, ``smtplib``, ``http.client``, redis-py) waits in
the test's own thread, so the server cannot run there. :class:`ReactorThread`
runs a Twisted reactor of its own on a daemon thread, and the core's
:class:`~pytest_tcpclient.core.ScriptedServer` is made, run, verified and
closed on it, as on any other reactor. :class:`BlockingServer` is the test's
side of one server: the same step methods, checked at the call in the test's
thread and carried out on the reactor thread in the order they were declared;
:meth:`BlockingServer.join` waits, blocking, and raises.

:func:`scripted_server` gives such a server to ``unittest`` and any other
runner; the pytest plugin gives it to plain ``def`` tests. One reactor thread
serves the whole process (:func:`reactor_thread`): it is started on first use
and lives until the process exits.

Nothing here knows pytest: a layer says what a script failure becomes.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import TypeVar

from twisted.internet.abstract import isIPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.posixbase import PosixReactorBase
from twisted.python.failure import Failure

from .core import (
    DEFAULT_TIMEOUT,
    ScriptedServer,
    ScriptFailure,
    ServerFactory,
    ServerGroup,
)
from .core.arguments import as_timeout
from .core.framings import FramingLike
from .core.matching import Received
from .core.methods import ConnectionMethods, Declared, ServerMethods
from .core.rules import Rule
from .core.server import ServerOptions, server_options, show_address
from .core.steps import Step

__all__ = [
    "BlockingConnection",
    "BlockingServer",
    "BlockingServerFactory",
    "BlockingServers",
    "ReactorThread",
    "ScriptedServerBlock",
    "reactor_thread",
    "scripted_server",
]

T = TypeVar("T")

BACKLOG = 50
"""Connections the kernel queues for a server, as Twisted's ``listenTCP``."""

Convert = Callable[[ScriptFailure], BaseException]
"""What a layer makes of a script failure: the exception its tests fail with."""


def _new_reactor() -> PosixReactorBase:
    """A Twisted reactor that is neither installed nor run yet.

    ``poll()`` where the platform has it, else ``select()``. It does not
    register its thread as Twisted's I/O thread, which stays the thread of the
    global reactor, if any.
    """
    try:
        from twisted.internet.pollreactor import PollReactor as Reactor
    except ImportError:  # pragma: no cover - a platform without poll()
        from twisted.internet.selectreactor import SelectReactor as Reactor
    reactor = Reactor()
    reactor._registerAsIOThread = False
    return reactor


class ReactorThread:
    """A Twisted reactor of its own, running on a daemon thread.

    :meth:`post` hands the reactor thread a call and returns at once; calls
    run in the order they were posted. :meth:`call` and :meth:`wait` block
    until the reactor thread answers, never longer than they are told. A
    blocking call made on the reactor thread itself raises ``RuntimeError``
    instead of deadlocking.
    """

    call_timeout = 10.0
    """Seconds a call that needs only a turn of the reactor thread may take."""
    grace = 5.0
    """Seconds a :meth:`wait` may take beyond the timeouts of the steps it waits
    for: the time to close connections and stop listening on a busy machine."""

    def __init__(self, name: str = "pytest-tcpclient reactor") -> None:
        self.reactor = _new_reactor()
        self.pid = os.getpid()
        self._calls: deque[tuple[Callable[..., object], tuple[object, ...]]] = deque()
        self._lock = threading.Lock()
        self._draining = False
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "running" if self.alive else "stopped"
        return f"<ReactorThread {self._thread.name!r} {state}>"

    @property
    def alive(self) -> bool:
        """Whether the reactor thread runs, in this process."""
        return self._thread.is_alive() and self.pid == os.getpid()

    def on_reactor_thread(self) -> bool:
        """Whether the caller runs on the reactor thread."""
        return threading.get_ident() == self._thread.ident

    def _run(self) -> None:
        self.reactor.run(installSignalHandlers=False)

    # -- handing over calls ----------------------------------------------------

    def post(self, function: Callable[..., object], *args: object) -> None:
        """Call ``function(*args)`` on the reactor thread, after every call posted
        before it, without waiting. An exception it raises is raised by the next
        :meth:`call` or :meth:`wait`.

        Calls posted in a burst wake the reactor thread once.
        """
        with self._lock:
            self._calls.append((function, args))
            if self._draining:
                return
            self._draining = True
        self.reactor.callFromThread(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:  # take every call posted so far at once
                calls, self._calls = self._calls, deque()
                if not calls:
                    self._draining = False
                    return
            for function, args in calls:
                try:
                    function(*args)
                except BaseException as error:  # kept for the thread that posted it
                    self._errors.append(error)

    def call(self, function: Callable[[], T], what: str) -> T:
        """Call ``function()`` on the reactor thread and return its result (or
        raise its exception). ``function`` must not block; ``what`` names the
        call in errors."""
        __tracebackhide__ = True
        self._check_can_block(what)
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as error:
                future.set_exception(error)

        self.post(run)
        return self._result(future, self.call_timeout, what)

    def wait(
        self, start: Callable[[], tuple[Deferred[T], float]], what: str
    ) -> T | Failure:
        """Run ``start()`` on the reactor thread and wait for the Deferred it
        returns; return its result, or the :class:`~twisted.python.failure.Failure`
        it failed with.

        ``start`` returns the Deferred and how many seconds it may take at most
        (the timeouts of the steps it waits for); the wait gives up
        :attr:`grace` seconds after that. ``what`` names the call in errors.
        """
        __tracebackhide__ = True
        self._check_can_block(what)
        bound: Future[float] = Future()
        outcome: Future[T | Failure] = Future()

        def run() -> None:
            try:
                deferred, seconds = start()
            except BaseException as error:
                bound.set_exception(error)
                return
            bound.set_result(seconds)
            deferred.addBoth(outcome.set_result)

        self.post(run)
        seconds = self._result(bound, self.call_timeout, what) + self.grace
        return self._result(outcome, seconds, what)

    def check_alive(self, what: str) -> None:
        """Raise ``RuntimeError`` if the reactor thread has stopped; ``what``
        names the call that needs it."""
        __tracebackhide__ = True
        if not self.alive:
            raise RuntimeError(f"{what}: the scripted servers' reactor thread has stopped")

    def _check_can_block(self, what: str) -> None:
        __tracebackhide__ = True
        if self.on_reactor_thread():
            raise RuntimeError(
                f"{what} would deadlock: it was called on the thread the scripted "
                "servers run on; call it from the test's thread"
            )
        self.check_alive(what)

    def _result(self, future: Future[T], seconds: float, what: str) -> T:
        """The outcome of ``future``; but an error of a call posted before it
        comes first, since it happened first (and may be the cause)."""
        __tracebackhide__ = True
        try:
            future.exception(timeout=seconds)
        except FutureTimeout:
            raise RuntimeError(
                f"{what}: the reactor thread of the scripted servers gave no answer "
                f"within {seconds:g} s"
            ) from None
        if self._errors:
            raise self._errors.pop(0)
        return future.result()

    # -- stopping ----------------------------------------------------------------

    def stop(self) -> None:
        """Stop the reactor, wait for the thread to end and release the
        reactor's own descriptors."""
        if not self.alive:
            return
        self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(self.call_timeout)
        waker = self.reactor.waker
        if waker is not None and not self._thread.is_alive():
            self.reactor.removeReader(waker)
            waker.connectionLost(None)
            self.reactor.waker = None


_shared: ReactorThread | None = None
_shared_lock = threading.Lock()


def reactor_thread() -> ReactorThread:
    """The process's reactor thread, started on first use.

    It lives until the process exits (a forked child starts its own).
    """
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive:
            if _shared is None:
                atexit.register(_stop_shared)
            _shared = ReactorThread()
        return _shared


def _stop_shared() -> None:
    if _shared is not None:
        _shared.stop()


def _listening_socket(host: str) -> socket.socket:
    """A non-blocking TCP socket listening on ``host`` at a port the kernel
    picks, made as Twisted's ``listenTCP`` makes one."""
    family = socket.AF_INET6 if isIPv6Address(host) else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(BACKLOG)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def can_block(what: str) -> None:
    """Raise ``RuntimeError`` if blocking here would freeze a running event loop:
    inside a coroutine that an asyncio loop runs as a task.

    A plain callback of a running loop (how pytest-twisted runs a plain test
    on its asyncio reactor) may block: no coroutine is left waiting.
    """
    __tracebackhide__ = True
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if asyncio.current_task(loop) is not None:
        raise RuntimeError(
            f"{what} would block the event loop this coroutine runs on: in an asyncio "
            "test, use the tcpserver fixture and await join() and tcpserver_factory.stop()"
        )


# -- the test's side ----------------------------------------------------------------


class BlockingServer(ServerMethods):
    """A scripted server for a client that blocks: the methods of
    :class:`~pytest_tcpclient.core.ScriptedServer`, called from the test's thread.

    Steps are checked at the call and run on the reactor thread in the order
    declared, whether the client has connected yet or not. :meth:`join`
    blocks until they are done.

    The core's server behind it is made on the reactor thread, from the
    listening socket that :meth:`BlockingServers.new` binds, by the first call
    handed to that thread; every later call finds it there.

    :param thread: the reactor thread the server runs on.
    :param host: the address the server listens on.
    :param port: the port it listens on.
    :param timeout: the default timeout of its steps.
    :param convert: what a script failure becomes when :meth:`join` raises it.
    """

    def __init__(
        self,
        thread: ReactorThread,
        host: str,
        port: int,
        timeout: float,
        convert: Convert,
        framing: FramingLike | None = None,
        tls: bool = False,
    ) -> None:
        self._thread = thread
        self._convert = convert
        self._server: ScriptedServer | None = None
        self.framing = framing
        self.tls = tls
        self.host = host
        """The address the server listens on."""
        self.service_port = port
        """The port clients connect to."""
        self.timeout = timeout
        """The default timeout of this server's steps, in seconds."""

    def __repr__(self) -> str:
        if self._server is None:
            address = show_address(self.host, self.service_port)
            return f"<{type(self).__name__} {address} starting>"
        return repr(self._server).replace("ScriptedServer", type(self).__name__, 1)

    @property
    def stopped(self) -> bool:
        """Whether the server has stopped listening."""
        return self._server is not None and self._server.stopped

    def _made(self, server: ScriptedServer) -> None:
        """On the reactor thread: the core's server is ready."""
        self._server = server

    @property
    def received(self) -> list[Received]:
        """Every message the expect steps matched so far, oldest first (call
        :meth:`join` first to be sure they are all there)."""
        return [] if self._server is None else self._server.received

    def _add(self, step: Step, connection: int | None = None) -> None:
        __tracebackhide__ = True
        if self._server is not None:
            self._server.check_running(step)
        self._thread.post(self._apply, step, connection)

    def _add_rule(self, rule: Rule) -> None:
        __tracebackhide__ = True
        if self._server is not None:
            self._server.check_running(rule)
        self._thread.post(self._apply_rule, rule)

    def _apply(self, step: Step, connection: int | None) -> None:
        assert self._server is not None  # made by the first call handed over
        self._server._add(step, connection)

    def _apply_rule(self, rule: Rule) -> None:
        assert self._server is not None
        self._server._add_rule(rule)

    def _connection(self, declared: Declared) -> BlockingConnection:
        return BlockingConnection(self, declared)

    def join(self) -> None:
        """Wait until every step declared so far is done.

        :raises: the layer's failure (pytest's ``Failed``, or
            :class:`~pytest_tcpclient.ScriptFailure`) as soon as the client
            strays from the script. The wait never outlasts the timeouts of
            the steps it waits for.
        :raises RuntimeError: when called where blocking would deadlock (on
            the reactor thread) or freeze an event loop (in an asyncio task).
        """
        __tracebackhide__ = True
        self._join(None, "join()")

    def _join(self, connection: int | None, what: str) -> None:
        __tracebackhide__ = True
        can_block(what)

        def joined() -> tuple[Deferred[None], float]:
            assert self._server is not None
            return self._server._join(connection), self._server.time_left

        outcome = self._thread.wait(joined, what)
        if isinstance(outcome, Failure):
            raise _exception(outcome, self._convert)


class BlockingConnection(ConnectionMethods):
    """One connection of a :class:`BlockingServer`, as ``expect_connect()``
    declared it: steps on it alone, and :meth:`join`, which blocks."""

    def __init__(self, server: BlockingServer, declared: Declared) -> None:
        super().__init__(declared)
        self._server = server

    def __repr__(self) -> str:
        address = show_address(self._server.host, self._server.service_port)
        return f"<Connection #{self.number} of {address}>"

    @property
    def timeout(self) -> float:  # type: ignore[override]
        """The server's default step timeout."""
        return self._server.timeout

    @property  # type: ignore[misc]
    def framing(self) -> FramingLike:
        """The server's framing."""
        return self._server.framing

    @property
    def tls(self) -> bool:  # type: ignore[override]
        """Whether the server speaks TLS from the first byte."""
        return self._server.tls

    def join(self) -> None:
        """Wait until every step declared so far on this connection is done,
        as the server's :meth:`~BlockingServer.join` does."""
        __tracebackhide__ = True
        self._server._join(self.number, f"connection #{self.number}.join()")

    def _add(self, step: Step) -> None:
        __tracebackhide__ = True
        self._server._add(step, self.number)


def _exception(failure: Failure, convert: Convert) -> BaseException:
    """What to raise for ``failure``: a script failure as the layer makes it, any
    other error as it is; without the traceback it had on the reactor thread."""
    error = failure.value
    assert error is not None  # a Failure holds its exception
    if isinstance(error, ScriptFailure):
        return convert(error).with_traceback(None)
    return error.with_traceback(None)


class BlockingServers:
    """The servers of one test: made, verified and closed on the reactor thread.

    :param thread: the reactor thread the servers run on.
    :param timeout: the default step timeout of every server.
    :param host: the address every server listens on.
    :param convert: what a script failure becomes; by default it is raised
        as it is.
    """

    def __init__(
        self,
        thread: ReactorThread,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        host: str = "127.0.0.1",
        convert: Convert = lambda failure: failure,
    ) -> None:
        self.thread = thread
        self.group = ServerGroup(thread.reactor, timeout=timeout, host=host)
        self.convert = convert

    def new(
        self,
        what: str = "tcpserver_factory()",
        made: list[ScriptedServer] | None = None,
        framing: FramingLike | None = None,
        tls: bool = False,
        client_certificate: bool = False,
        host: str | None = None,
    ) -> BlockingServer:
        """One more server, listening when this returns, without waiting for the
        reactor thread: the socket is bound and listening here, and the reactor
        thread serves it from its next turn on (until then the kernel queues
        the connections). ``made`` also gets the core's server, on the reactor
        thread; ``framing``, ``tls``, ``client_certificate`` and ``host`` are
        the server's; ``what`` names the call in errors."""
        __tracebackhide__ = True
        can_block(what)
        self.thread.check_alive(what)
        options = server_options(what, framing, tls, client_certificate, host)
        options["host"] = host = self.group.host if host is None else host
        listener = _listening_socket(host)
        server = BlockingServer(
            self.thread,
            host,
            listener.getsockname()[1],
            self.group.timeout,
            self.convert,
            framing,
            tls,
        )

        def make() -> None:
            try:
                made_server = self.group.new(listener=listener, **options)
            finally:
                listener.close()  # the reactor serves a copy of its own
            server._made(made_server)
            if made is not None:
                made.append(made_server)

        self.thread.post(make)
        return server

    def factory(self) -> BlockingServerFactory:
        """A factory of more servers in this group (``tcpserver_factory``)."""
        return BlockingServerFactory(self)

    def finish(self, test_failed: bool = False) -> Failure | None:
        """Verify every server as teardown does, then close them, pass or fail.

        Returns the failure found, or None: a teardown reports it its own way.
        """
        return self.stop(lambda: self.group.stop(test_failed), "teardown")

    def stop(self, stop: Callable[[], Deferred[None]], what: str) -> Failure | None:
        """Wait for ``stop()``, which verifies and closes servers of the group
        on the reactor thread; return the failure it found, or None."""

        def start() -> tuple[Deferred[None], float]:
            # At most as long as the slowest server of the group, with the
            # expect_disconnect() that verify() may declare.
            servers = self.group.servers
            seconds = max((s.time_left + s.timeout for s in servers), default=0.0)
            return stop(), seconds

        outcome = self.thread.wait(start, what)
        return outcome if isinstance(outcome, Failure) else None


class BlockingServerFactory(ServerFactory):
    """``tcpserver_factory`` for a blocking test: ``tcpserver_factory()`` returns
    one more :class:`BlockingServer`, listening; ``tcpserver_factory.stop()``
    blocks while it verifies and closes the servers made so far, and raises
    what it found."""

    def __init__(self, servers: BlockingServers) -> None:
        super().__init__(servers.group)
        self._servers = servers

    def __call__(  # type: ignore[override]
        self,
        *,
        framing: FramingLike | None = None,
        tls: bool = False,
        client_certificate: bool = False,
        host: str | None = None,
    ) -> BlockingServer:
        """One more server, listening at once on its own port; the arguments
        are those of :meth:`ServerFactory.__call__`."""
        __tracebackhide__ = True
        return self._servers.new(
            "tcpserver_factory()",
            self._made,
            framing,
            tls,
            client_certificate,
            host,
        )

    def stop(self) -> None:  # type: ignore[override]
        """Verify and close every server made so far.

        :raises: the layer's failure, as :meth:`BlockingServer.join` does.
        """
        __tracebackhide__ = True
        can_block("tcpserver_factory.stop()")
        failure = self._servers.stop(super().stop, "tcpserver_factory.stop()")
        if failure is not None:
            raise _exception(failure, self._servers.convert)


def scripted_server(
    *,
    timeout: float = DEFAULT_TIMEOUT,
    host: str = "127.0.0.1",
    framing: FramingLike | None = None,
    tls: bool = False,
    client_certificate: bool = False,
) -> ScriptedServerBlock:
    """A scripted server for a blocking client, for ``unittest`` or any runner::

        with scripted_server() as server:
            server.expect_connect()
            ...

    The block gets a :class:`BlockingServer`, already listening. Leaving it
    verifies the script as the pytest plugin's teardown does (if the block
    left a connection open, the client must close it) and raises
    :class:`~pytest_tcpclient.ScriptFailure`, an ``AssertionError``, if the
    client strayed; ``join()`` raises it too. An exception raised inside the
    block wins (the script's failure, if any, is added to its notes); the
    server is closed either way.

    :param timeout: the default step timeout, in seconds.
    :param host: the IP address to listen on.
    :param framing: the server's framing of frames.
    :param tls: speak TLS from the first byte, with a certificate that
        :func:`~pytest_tcpclient.default_ca` issued.
    :param client_certificate: with ``tls``, require a client certificate.
    :raises TypeError, ValueError: for a bad argument, at the call.
    """
    __tracebackhide__ = True
    timeout = as_timeout(timeout, "scripted_server() argument 'timeout'", DEFAULT_TIMEOUT)
    options = server_options("scripted_server()", framing, tls, client_certificate, host)
    return ScriptedServerBlock(timeout, options)


class ScriptedServerBlock:
    """The context manager :func:`scripted_server` returns: ``__enter__``
    starts the server, ``__exit__`` verifies and closes it."""

    def __init__(self, timeout: float, options: ServerOptions) -> None:
        self._timeout = timeout
        self._options = options
        self._servers: BlockingServers | None = None

    def __enter__(self) -> BlockingServer:
        __tracebackhide__ = True
        if self._servers is not None:
            raise RuntimeError("a scripted_server() block can be entered once")
        thread = reactor_thread()
        self._servers = BlockingServers(thread, timeout=self._timeout)
        return self._servers.new("scripted_server()", **self._options)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        assert self._servers is not None
        failure = self._servers.finish(test_failed=error is not None)
        if failure is None:
            return
        if error is not None:  # the block's own exception wins
            if hasattr(error, "add_note"):
                error.add_note(f"The scripted server's script failed too:\n{failure.value}")
            return
        raise _exception(failure, self._servers.convert)
