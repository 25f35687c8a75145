"""The scripted server as a test sees it, and the group a test's servers live in.

:class:`ScriptedServer` is the object behind the ``tcpserver`` fixture: it
listens on a loopback port the kernel picks, checks every argument at the call
and turns each call into a step. It needs only a reactor, passed in.
"""

from __future__ import annotations

import atexit
import select
import socket
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypedDict, cast

from twisted.internet import tcp
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IListeningPort, IReactorTCP
from twisted.python.failure import Failure

from .arguments import as_bool, as_host, as_timeout
from .certificates import CertificateAuthority, default_ca
from .framings import FramingLike, as_framing
from .matching import Received
from .methods import ConnectionMethods, Declared, ServerMethods
from .protocol import ClientCheck, ScriptFactory
from .rules import Rule
from .script import ScriptFailure
from .steps import End, ExpectDisconnect, Step

if TYPE_CHECKING:
    from twisted.internet.address import IPv4Address, IPv6Address

__all__ = [
    "DEFAULT_TIMEOUT",
    "Connection",
    "JoinDeferred",
    "ScriptedServer",
    "ServerFactory",
    "ServerGroup",
    "ServerOptions",
    "ServerStopped",
    "failing_with",
]

DEFAULT_TIMEOUT = 1.0
"""Seconds a step waits for the client unless told otherwise."""


@atexit.register
def _close_reserved_descriptor() -> None:
    """Close the descriptor Twisted's TCP ports hold in reserve from their first
    listen on (to take and drop a connection when descriptors run out). Left
    to the interpreter's teardown, it is an unclosed file: a ResourceWarning
    at the end of a unittest run of trial tests."""
    reservation = tcp._reservedFD
    reserved = getattr(reservation, "_fileDescriptor", None)
    if reserved is not None:
        reserved.close()
        reservation._fileDescriptor = None  # type: ignore[attr-defined]


class ServerStopped(RuntimeError):
    """A step was declared on a server that no longer listens."""

    __module__ = "pytest_tcpclient"  # where users import it from


class ScriptedServer(ServerMethods):
    """A TCP server that follows a script and reports how the client strayed.

    It listens on ``host`` at a port the kernel picks (:attr:`service_port`)
    as soon as it is made. Declare steps with the ``expect_*``, ``send_*`` and
    ``disconnect`` methods; they run in order, each as soon as the previous
    one is done. :meth:`join` waits for them.

    :param reactor: the reactor to listen and keep time on.
    :param timeout: seconds a step waits when its own ``timeout`` is not given,
        and the script once every step is done while the client keeps its
        connection open, for the next step or the client's close.
    :param host: the address to listen on.
    :param client_check: asked, when a client closes, what was wrong with how
        it closed (a layer that sees the client side can tell).
    :param listener: a socket already bound and listening, in non-blocking
        mode, to serve instead of listening on a new one: a layer that binds
        it on another thread knows the port before the reactor runs. The
        reactor serves a copy of it; the caller closes its own.
    :param framing: the framing of frames when a step or a rule names none
        (:attr:`framing`).
    :param tls: speak TLS from the first byte, with the certificate ``ca``
        issued for ``localhost``, ``127.0.0.1`` and ``::1``.
    :param client_certificate: with ``tls``, require a client certificate
        that ``ca`` issued.
    :param ca: the certificate authority of TLS (:func:`default_ca`, the
        process's, if None).
    """

    def __init__(
        self,
        reactor: IReactorTCP,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        host: str = "127.0.0.1",
        client_check: ClientCheck | None = None,
        listener: socket.socket | None = None,
        framing: FramingLike | None = None,
        tls: bool = False,
        client_certificate: bool = False,
        ca: CertificateAuthority | None = None,
    ) -> None:
        self.timeout = as_timeout(
            timeout, "ScriptedServer() argument 'timeout'", DEFAULT_TIMEOUT
        )
        self.framing = framing
        self.host = host
        self.tls = tls
        self.client_certificate = client_certificate
        """Whether a client must present a certificate."""
        self._ca = ca
        context = self._certificates().server_context(client_certificate) if tls else None
        # The reactor keeps time too (IReactorTime), and adopts a listener
        # (IReactorSocket): every reactor does.
        self._factory = ScriptFactory(reactor, client_check, self.timeout, context)  # type: ignore[arg-type]
        self._port: IListeningPort | None
        if listener is None:
            # Any protocol factory serves; the annotation asks for a ServerFactory.
            self._port = reactor.listenTCP(0, self._factory, interface=host)  # type: ignore[arg-type]
        else:
            self._port = reactor.adoptStreamPort(  # type: ignore[attr-defined]
                listener.fileno(), listener.family, self._factory
            )
        address = cast("IPv4Address | IPv6Address", self._port.getHost())
        self.service_port: int = address.port
        """The port clients connect to."""
        self._joins: list[tuple[Deferred[None], list[Failure]]] = []
        self._failure_verified = False

    def __repr__(self) -> str:
        script = self._factory.script
        state = "stopped" if self.stopped else "listening"
        return (
            f"<ScriptedServer {show_address(self.host, self.service_port)} {state}, "
            f"{script.completed}/{len(script.steps)} steps done>"
        )

    @property
    def stopped(self) -> bool:
        """Whether the server has stopped listening."""
        return self._port is None

    @property
    def received(self) -> list[Received]:
        """Every message the expect steps matched so far, oldest first."""
        return list(self._factory.script.received)

    def join(self) -> Deferred[None]:
        """Return a Deferred that fires when every step declared so far is done.

        It fails with :class:`~.script.ScriptFailure` as soon as the client
        strays from the script.
        """
        return self._join()

    def _join(self, connection: int | None = None) -> Deferred[None]:
        """:meth:`join`, or :meth:`Connection.join` for connection ``connection``.

        Connections the client has opened count: those waiting in the
        kernel's queue are accepted, and one held back (a reconnect, or one
        too many?) is decided before the join fires.
        """
        self._accept_waiting()
        targets = self._factory.script.targets(connection)
        settled = self._factory.settled()
        if settled.called:
            done = self._factory.when_done(targets)
        else:
            done = settled.addCallback(lambda _: self._factory.when_done(targets))
        failed: list[Failure] = []

        def keep(failure: Failure) -> Failure:
            failed.append(failure)
            return failure

        done.addErrback(keep)
        joined = self._deliver(done)
        self._joins.append((joined, failed))
        return joined

    def _deliver(self, done: Deferred[None]) -> Deferred[None]:
        """What :meth:`join` hands the test: a layer makes its own failure here."""
        return _handed(done, JoinDeferred())

    def _done(self, connection: int | None = None) -> Deferred[None]:
        return self._factory.when_done(self._factory.script.targets(connection))

    def _connection(self, declared: Declared) -> Connection:
        return Connection(self, declared)

    def _certificates(self) -> CertificateAuthority:
        if self._ca is None:
            self._ca = default_ca()
        return self._ca

    def _settle_joins(self) -> bool:
        """Whether the test took the failure from a :meth:`join` that failed
        (by awaiting, yielding or catching it); a join that succeeded before
        the failure told the test nothing. The failures nobody took are
        silenced: teardown reports them, not the garbage collector."""
        seen = False
        for joined, failed in self._joins:
            if _taken(joined):
                seen = seen or bool(failed)
            else:
                joined.addErrback(lambda _: None)
        self._joins.clear()
        return seen

    def _add(self, step: Step, connection: int | None = None) -> None:
        __tracebackhide__ = True
        self.check_running(step)
        self._factory.perform(self._factory.script.add(step, connection))

    def _add_rule(self, rule: Rule) -> None:
        __tracebackhide__ = True
        self.check_running(rule)
        self._factory.perform(self._factory.script.add_rule(rule))

    def check_running(self, step: Step | Rule) -> None:
        """Raise :class:`ServerStopped` if the server no longer listens, so
        ``step`` (or a rule) cannot be declared on it."""
        __tracebackhide__ = True
        if self.stopped:
            raise ServerStopped(
                f"cannot declare {step}: the server on port {self.service_port} has stopped"
            )

    @property
    def time_left(self) -> float:
        """The longest the steps not done yet can take: the sum of their timeouts.

        Each step that waits for the client fails once its timeout has passed
        since it became the current step, and the others take no time, so
        every Deferred of this server fires within that time. After a
        failure nothing is left.
        """
        script = self._factory.script
        if script.failure is not None:
            return 0.0
        return sum(step.timeout or 0.0 for step in script.pending())

    # -- teardown -------------------------------------------------------------

    def verify(self, test_failed: bool = False) -> Deferred[None]:
        """Finish the script as teardown does, and report how it went.

        A failure that :meth:`join` already reported is not reported again.
        Otherwise, if the test passed, the rest of the script runs, with an
        implicit :meth:`expect_disconnect` if it leaves a connection open, and
        nothing more may happen after it. If the test failed, only a failure
        that already happened is reported: nothing is waited for.

        Connections the kernel has completed but the reactor has not accepted
        yet are accepted first, so that none goes unverified.
        """
        self._accept_waiting()
        # A new connection the driver holds back (is it a reconnect, or one
        # too many?) is decided before the end is checked.
        settled = self._factory.settled()
        if settled.called:
            return self._verify(test_failed)
        return settled.addCallback(lambda _: self._verify(test_failed))

    def _verify(self, test_failed: bool) -> Deferred[None]:
        script = self._factory.script
        if script.failure is not None:
            if self._settle_joins() or self._failure_verified:
                return succeed(None)
            self._failure_verified = True
            return fail(script.failure)
        if test_failed or self.stopped:
            return succeed(None)
        for number in script.open_connections():
            self._add(ExpectDisconnect(self.timeout, at_teardown=True), number)
        self._add(End())
        return self._done()  # a ScriptFailure, whatever a subclass's join() raises

    def _accept_waiting(self) -> None:
        """Accept the connections waiting in the kernel's queue now, as the
        reactor would on its next turn (a listening port's ``doRead``)."""
        accept = getattr(self._port, "doRead", None)
        if accept is None:
            return
        # A listening socket is readable while a connection waits: asking
        # costs a tenth of an accept() that finds nothing.
        fileno = getattr(self._port, "fileno", None)
        if fileno is not None:
            descriptor = fileno()
            if descriptor < 0 or not _readable(descriptor):
                return  # nothing waits, or the port is closed already
        accept()

    def close(self) -> Deferred[None]:
        """Stop listening, close every connection and cancel the timer."""
        if self._port is None:
            return succeed(None)
        port, self._port = self._port, None
        done = _settled([port.stopListening() or succeed(None), self._factory.close()])
        self._settle_joins()  # close() failed the joins still waiting
        return done.addCallback(lambda _: None)


class Connection(ConnectionMethods):
    """One connection of a :class:`ScriptedServer`, as ``expect_connect()``
    declared it: the step methods, for steps on this connection only, and
    :meth:`join`."""

    def __init__(self, server: ScriptedServer, declared: Declared) -> None:
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

    def _certificates(self) -> CertificateAuthority:
        return self._server._certificates()

    def join(self) -> Deferred[None]:
        """A Deferred that fires when every step declared so far on this
        connection is done, as the server's :meth:`~ScriptedServer.join` does."""
        return self._server._join(self.number)

    def _add(self, step: Step) -> None:
        __tracebackhide__ = True
        self._server._add(step, self.number)


class JoinDeferred(Deferred[None]):
    """The Deferred :meth:`ScriptedServer.join` hands a test.

    A Twisted coroutine (pytest-twisted's ``ensureDeferred``, trial) can
    ``await`` it: a failure is raised at the ``await`` line with no frame of
    this module under it. ``taken`` tells that somebody took its outcome:
    awaited it, yielded it (``inlineCallbacks`` adds callbacks) or added
    callbacks of their own.
    """

    taken = False

    def __await__(self) -> Generator[Deferred[None], None, None]:
        __tracebackhide__ = True
        self.taken = True
        return (yield self)

    __iter__ = __await__

    # Pass-throughs of Deferred's overloaded methods, which only note the taking.
    def addCallbacks(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        self.taken = True
        return super().addCallbacks(*args, **kwargs)

    def addCallback(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        self.taken = True
        return super().addCallback(*args, **kwargs)

    def addErrback(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        self.taken = True
        return super().addErrback(*args, **kwargs)

    def addBoth(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        self.taken = True
        return super().addBoth(*args, **kwargs)


def failing_with(failure: Failure, exception: Callable[[str], BaseException]) -> Failure:
    """Errback: a :class:`~.script.ScriptFailure` becomes ``exception(diagnostic)``.

    Other failures pass through. The new exception carries no traceback, so a
    test that yields or awaits the Deferred fails at its own line, not inside
    Twisted or this package.
    """
    failure.trap(ScriptFailure)
    return Failure(exception(str(failure.value)))


def _taken(joined: Deferred[None]) -> bool:
    """Whether the test took a join's outcome (see :class:`JoinDeferred`), or
    a Deferred it returned from a callback did: Twisted chains that one
    without adding callbacks, and takes its result."""
    if getattr(joined, "taken", False):
        return True
    return joined.called and not isinstance(joined.result, Failure)


def _handed(done: Deferred[None], handed: Deferred[None]) -> Deferred[None]:
    done.chainDeferred(handed)
    return handed


class ServerGroup:
    """The servers one test made, verified and closed together.

    :param reactor: the reactor every server runs on.
    :param timeout: the default step timeout of every server.
    :param host: the address every server listens on.
    :param server_class: what to make servers with, for layers that extend them.
    """

    def __init__(
        self,
        reactor: IReactorTCP,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        host: str = "127.0.0.1",
        server_class: Callable[..., ScriptedServer] = ScriptedServer,
    ) -> None:
        self._reactor = reactor
        self.timeout = timeout
        """The default step timeout of every server, in seconds."""
        self.host = host
        """The address every server listens on."""
        self._server_class = server_class
        self.servers: list[ScriptedServer] = []

    def new(
        self,
        listener: socket.socket | None = None,
        framing: FramingLike | None = None,
        *,
        host: str | None = None,
        tls: bool = False,
        client_certificate: bool = False,
    ) -> ScriptedServer:
        """Make one more server, listening at once on its own port (or on
        ``listener``), with ``framing``, ``tls`` and ``client_certificate`` as
        :class:`ScriptedServer` says; on ``host``, else the group's."""
        server = self._server_class(
            self._reactor,
            timeout=self.timeout,
            host=self.host if host is None else host,
            listener=listener,
            framing=framing,
            tls=tls,
            client_certificate=client_certificate,
        )
        self.servers.append(server)
        return server

    def stop(
        self, test_failed: bool = False, servers: list[ScriptedServer] | None = None
    ) -> Deferred[None]:
        """Verify every server (or only ``servers``), then close them, pass or fail.

        Fails with the first server's :class:`~.script.ScriptFailure`; the
        failures of the others are added to its details.
        """
        if servers is None:
            servers = self.servers
        self.servers = [server for server in self.servers if server not in servers]
        verified = _settled([server.verify(test_failed) for server in servers])

        def close(results: list[Failure | None]) -> Deferred[None]:
            closed = _settled([server.close() for server in servers])
            failures = [
                (server, failure)
                for server, failure in zip(servers, results, strict=True)
                if failure is not None
            ]
            return closed.addCallback(lambda _: _combine(failures))

        return verified.addCallback(close)


class ServerFactory:
    """What a test calls for one more server: ``factory()``, then ``factory.stop()``.

    :param group: the group the servers are made in (and closed with at teardown).
    :param report: turns the Deferred of :meth:`stop` into what the layer hands
        the test (one that fails with the layer's own failure, for instance).
    """

    def __init__(
        self,
        group: ServerGroup,
        report: Callable[[Deferred[None]], Deferred[None]] = lambda stopped: stopped,
    ) -> None:
        self._group = group
        self._report = report
        self._made: list[ScriptedServer] = []

    def __call__(
        self,
        *,
        framing: FramingLike | None = None,
        tls: bool = False,
        client_certificate: bool = False,
        host: str | None = None,
    ) -> ScriptedServer:
        """One more server, listening at once on its own port.

        :param framing: its :attr:`~ScriptedServer.framing`.
        :param tls: speak TLS from the first byte (needs the ``tls`` extra).
        :param client_certificate: with ``tls``, require a client certificate.
        :param host: the IP address to listen on, else the group's.
        :raises TypeError, ValueError: for a bad argument, at the call.
        """
        __tracebackhide__ = True
        options = server_options(
            "tcpserver_factory()", framing, tls, client_certificate, host
        )
        server = self._group.new(**options)
        self._made.append(server)
        return server

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self._made)} servers made>"

    def stop(self) -> Deferred[None]:
        """Verify and close every server made so far; a Deferred of the outcome."""
        made, self._made = self._made, []
        return self._report(self._group.stop(servers=made))


def show_address(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets (``[::1]:8080``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ServerOptions(TypedDict):
    """The options of one more server, checked: keyword arguments of
    :meth:`ServerGroup.new`."""

    framing: FramingLike | None
    tls: bool
    client_certificate: bool
    host: str | None


def server_options(
    what: str,
    framing: FramingLike | None = None,
    tls: bool = False,
    client_certificate: bool = False,
    host: str | None = None,
    *,
    argument: str = "{what} argument '{name}'",
    tls_hint: str = "tls=True",
) -> ServerOptions:
    """Check the options of one more server, made by ``what``, at the call;
    return them as keyword arguments of :meth:`ServerGroup.new`.

    ``argument`` names an option in errors (``{what}`` and ``{name}`` are
    filled in), ``tls_hint`` says how to ask for TLS. TLS is checked to be
    installed here, and the CA made: a missing extra is the caller's error,
    at the caller's line.
    """
    __tracebackhide__ = True

    def name(option: str) -> str:
        return argument.format(what=what, name=option)

    if framing is not None:
        as_framing(framing, name("framing"))
    as_bool(tls, name("tls"))
    as_bool(client_certificate, name("client_certificate"))
    if client_certificate and not tls:
        raise ValueError(f"{name('client_certificate')} needs TLS ({tls_hint})")
    if host is not None:
        as_host(host, name("host"))
    if tls:
        default_ca().server_context(client_certificate)
    return {
        "framing": framing,
        "tls": tls,
        "client_certificate": client_certificate,
        "host": host,
    }


def _readable(fileno: int) -> bool:
    """Whether the descriptor ``fileno`` is readable now, without waiting.

    ``poll()`` takes any descriptor; ``select()`` none from ``FD_SETSIZE``
    (1024) on, which a process with many files open reaches. Where there is
    no ``poll()`` (Windows), ``select()`` has no such limit.
    """
    if hasattr(select, "poll"):  # pragma: no branch - every POSIX platform
        poll = select.poll()
        poll.register(fileno, select.POLLIN)
        return bool(poll.poll(0))
    return bool(select.select([fileno], [], [], 0)[0])  # pragma: no cover - Windows


def _settled(deferreds: list[Deferred[Any]]) -> Deferred[list[Failure | None]]:
    """A Deferred that fires once each of ``deferreds`` has fired, with the
    failure of each, None for a success; their failures are consumed.

    ``DeferredList(deferreds, consumeErrors=True)`` in short: teardown calls
    it for every server of every test, and this costs a fraction of it.
    """
    outcomes: list[Failure | None] = [None] * len(deferreds)
    settled: Deferred[list[Failure | None]] = Deferred()
    left = len(deferreds)

    def settle(result: object, index: int) -> None:
        nonlocal left
        if isinstance(result, Failure):
            outcomes[index] = result
        left -= 1
        if not left:
            settled.callback(outcomes)

    if not deferreds:
        settled.callback(outcomes)
    for index, deferred in enumerate(deferreds):
        deferred.addBoth(settle, index)
    return settled


def _combine(failures: list[tuple[ScriptedServer, Failure]]) -> Failure | None:
    """Nothing if no server failed, else the first failure with the others,
    each named by its server's port."""
    if not failures:
        return None
    first = failures[0][1]
    assert isinstance(first, Failure)
    error = first.value
    if isinstance(error, ScriptFailure) and len(failures) > 1:
        others = [
            f"Another server failed (port {server.service_port}): "
            + (f.value.summary if isinstance(f.value, ScriptFailure) else str(f.value))
            for server, f in failures[1:]
        ]
        return Failure(
            ScriptFailure(error.summary, [*error.details, *others], error.transcript)
        )
    return first
