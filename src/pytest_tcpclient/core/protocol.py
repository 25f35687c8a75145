"""The Twisted driver of a :class:`~.script.Script`: one Protocol, one Factory.

:class:`ScriptFactory` owns the script and carries out the actions it returns
on the reactor it is given: it writes on transports, closes them and keeps the
one step timer with ``reactor.callLater``. It never imports a reactor, so the
same code runs on pytest-twisted's global reactor, on a reactor bound to an
asyncio loop, under trial, or on ``twisted.internet.testing.MemoryReactorClock``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from typing import Protocol as Structural

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall, IHandshakeListener, IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from .script import (
    Abort,
    Action,
    CancelTimer,
    Close,
    Connection,
    HalfClose,
    Script,
    StartTimer,
    StartTLS,
    Write,
)
from .tls import TLSLayer, diagnose, secure

if TYPE_CHECKING:
    from twisted.internet.ssl import CertificateOptions

__all__ = ["ClientCheck", "ScriptFactory", "ScriptProtocol", "Transport"]

ClientCheck = Callable[[IPv4Address | IPv6Address, int], "str | None"]
"""Told a client's address and how many bytes the server sent it when the
client closes; returns what was wrong with how the client closed, or None."""


class Transport(Structural):
    """What the driver uses of a connection's transport: a TCP transport
    (``ITCPTransport``, a push producer), or the TLS layer over one."""

    def write(self, data: bytes) -> None: ...

    def loseConnection(self) -> None: ...

    def loseWriteConnection(self) -> None: ...

    def abortConnection(self) -> None: ...

    def getPeer(self) -> IPv4Address | IPv6Address: ...

    def setTcpNoDelay(self, enabled: bool) -> None: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...


@implementer(IHandshakeListener)
class ScriptProtocol(Protocol):
    """One client connection: reports what the client does to the factory."""

    factory: ScriptFactory
    # A TCP port makes it, so its transport is TCP's (or the TLS layer over
    # it) from connectionMade() on: never None where the driver uses it.
    transport: Transport  # type: ignore[assignment]
    number = 0
    """What the script names this connection by: 1 for the first the server
    accepted, 2 for the next..."""
    sent = 0
    """Bytes the server wrote on this connection."""
    heard = 0
    """How many times the client's side was heard from (bytes or a close)."""
    tls: TLSLayer | None = None
    """The TLS layer under the protocol, once TLS is started."""
    _securing = False

    def connectionMade(self) -> None:
        if not self._securing:  # the TLS layer makes the connection again
            self.factory.connected(self)

    def dataReceived(self, data: bytes) -> None:
        self.factory.received(self, data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.disconnected(self, reason)

    def handshakeCompleted(self) -> None:
        self.factory.secured(self)

    def start_tls(self, context: CertificateOptions, early: bytes = b"") -> None:
        """Speak TLS from now on, as the server of the handshake; ``early``:
        the client's first TLS bytes, received before."""
        self._securing = True
        try:
            self.tls = secure(self, context, self.factory.reactor)
        finally:
            self._securing = False
        if early:
            self.tls.dataReceived(early)


if TYPE_CHECKING:
    _Factory = Factory[ScriptProtocol]
else:
    _Factory = Factory  # not generic in Twisted 23.10


class ScriptFactory(_Factory):
    """Builds :class:`ScriptProtocol` and runs the script's actions on ``reactor``.

    ``when_done(targets)`` returns a Deferred that fires once the script has
    reached ``targets`` (:meth:`~.script.Script.targets`), or fails with the
    script's :class:`~.script.ScriptFailure`. ``idle_timeout`` is the
    script's (see :class:`~.script.Script`); its clock is the reactor's.
    """

    protocol = ScriptProtocol
    noisy = False
    """No "Starting factory" log line: Twisted keeps the events logged before
    logging begins, which would keep every script of a session alive."""

    def __init__(
        self,
        reactor: IReactorTime,
        client_check: ClientCheck | None = None,
        idle_timeout: float | None = None,
        tls: CertificateOptions | None = None,
    ) -> None:
        self.reactor = reactor
        self.client_check = client_check
        self.tls = tls
        """The OpenSSL context factory of TLS from the first byte, if any."""
        self.script = Script(idle_timeout, reactor.seconds)
        self.connections: dict[ScriptProtocol, list[Deferred[None]]] = {}
        # The script names a connection by its protocol's number, not by the
        # protocol: a finished script refers to no protocol, and a protocol
        # (which refers to its factory) is let go of once it is closed, so
        # none of them is left in a reference cycle for the garbage collector.
        self._numbered: dict[Connection, ScriptProtocol] = {}  # the open ones
        self._accepted = 0
        self._held: dict[ScriptProtocol, list[bytes]] = {}  # their bytes so far
        self._timers: dict[int, IDelayedCall] = {}  # by the key the script gave
        self._waiters: list[tuple[dict[int, int], Deferred[None]]] = []
        self._settled: list[Deferred[None]] = []  # waiting for no connection held

    # -- called by the protocol --------------------------------------------

    def connected(self, protocol: ScriptProtocol) -> None:
        self.connections[protocol] = []
        self._accepted += 1
        protocol.number = self._accepted
        self._numbered[protocol.number] = protocol
        if self.tls is not None:
            protocol.start_tls(self.tls)  # from the first byte
        if len(self.connections) > 1 and not self.script.accepts_another():
            # A client that closed and at once reconnected: the reactor may
            # accept the new connection before it reads the old one's last
            # bytes and close. Hold the new one while the others are still
            # being heard from; decide once a whole reactor turn, polling
            # included, brings them nothing.
            protocol.transport.pauseProducing()
            self._held[protocol] = []
            self._hold(protocol, -1)  # no turn has been watched yet
            return
        self.perform(self.script.connection_made(protocol.number))

    def _heard(self) -> int:
        """How often the connections not held were heard from."""
        return sum(p.heard for p in self.connections if p not in self._held)

    def _hold(self, protocol: ScriptProtocol, heard: int) -> None:
        self.reactor.callLater(0, self._decide, protocol, heard)

    def _decide(self, protocol: ScriptProtocol, heard: int) -> None:
        if protocol not in self._held:
            return  # admitted already: the others closed
        now = self._heard()
        if now != heard:
            self._hold(protocol, now)
        else:
            self._admit(protocol)  # the others are open and quiet: a second one

    def _admit(self, protocol: ScriptProtocol) -> None:
        held = self._held.pop(protocol)
        protocol.transport.resumeProducing()
        self.perform(self.script.connection_made(protocol.number))
        for data in held:
            self.perform(self.script.data_received(protocol.number, data))
        if not self._held:
            settled, self._settled = self._settled, []
            for deferred in settled:
                deferred.callback(None)

    def secured(self, protocol: ScriptProtocol) -> None:
        """The TLS handshake of ``protocol`` is done."""
        self.perform(self.script.secured(protocol.number))

    def settled(self) -> Deferred[None]:
        """A Deferred that fires once no new connection is held back: every
        connection accepted so far has been given to the script."""
        if not self._held:
            return succeed(None)
        deferred: Deferred[None] = Deferred()
        self._settled.append(deferred)
        return deferred

    def received(self, protocol: ScriptProtocol, data: bytes) -> None:
        protocol.heard += 1
        if protocol in self._held:
            self._held[protocol].append(data)
            return
        self.perform(self.script.data_received(protocol.number, data))

    def disconnected(self, protocol: ScriptProtocol, reason: Failure) -> None:
        protocol.heard += 1
        if protocol in self._held:
            self._admit(protocol)
        waiting = self.connections.pop(protocol)
        tls = protocol.tls
        if tls is not None and not tls.handshake_done:
            self.perform(self.script.broken(protocol.number, diagnose(reason, tls)))
        else:
            if tls is not None and tls.tcp_reason is not None:
                # A close with no TLS close_notify after it is a client's close
                # all the same (smtplib and http.client close so).
                reason = tls.tcp_reason
            clean = reason.check(ConnectionDone) is not None
            problem = None
            if self.client_check is not None:
                problem = self.client_check(protocol.transport.getPeer(), protocol.sent)
            self.perform(self.script.connection_lost(protocol.number, clean, problem))
        # What the script still asks of it (a write, a close) is for a closed
        # connection, on which Twisted would do nothing either.
        del self._numbered[protocol.number]
        if len(self._held) == len(self.connections):
            for held in list(self._held):  # the one they waited for is gone
                self._admit(held)
        for deferred in waiting:
            deferred.callback(None)

    # -- driving ------------------------------------------------------------

    def perform(self, actions: list[Action]) -> None:
        """Carry out the script's actions, then wake whoever waits on it.

        A timer cancelled and started again in one batch (a step done, the
        next one waiting) is moved with ``reset()`` instead: cancelling and
        making one per step churns the reactor's timer heap, and on an
        asyncio reactor its loop timer too, on every message.
        """
        if not actions:  # most declarations, and bytes that complete nothing
            if self._waiters:
                self._wake()
            return
        cancelled: dict[int, IDelayedCall] = {}  # to cancel unless started again
        written: list[Transport] = []  # transports to flush once the batch is done
        try:
            for action in actions:
                if isinstance(action, Write):
                    self._write(action, written)
                elif isinstance(action, StartTimer):
                    self._start(action, cancelled)
                elif isinstance(action, CancelTimer):
                    timer = self._timers.pop(action.key, None)
                    if timer is not None and timer.active():
                        cancelled[action.key] = timer
                elif (protocol := self._numbered.get(action.connection)) is None:
                    continue  # closed already
                elif isinstance(action, Close):
                    protocol.transport.loseConnection()
                elif isinstance(action, Abort):
                    _abort(protocol.transport)
                elif isinstance(action, HalfClose):
                    protocol.transport.loseWriteConnection()
                elif isinstance(action, StartTLS):  # pragma: no branch - the last Action
                    protocol.start_tls(action.context, action.early)
        finally:
            for timer in cancelled.values():
                timer.cancel()
            for transport in written:
                _flush(transport)
        if self._waiters:
            self._wake()

    def _write(self, action: Write, written: list[Transport]) -> None:
        """Write at once what a batch of actions writes: the reply leaves on
        this turn of the reactor, not the next one."""
        connection = self._numbered.get(action.connection)
        if connection is None:
            return  # closed already
        connection.sent += len(action.data)
        transport = connection.transport
        if not action.segment:
            transport.write(action.data)
            if transport not in written:
                written.append(transport)
            return
        # A segment of its own: no Nagle delay, and out now, not merged with
        # what the next turn writes.
        transport.setTcpNoDelay(True)
        transport.write(action.data)
        _flush(transport)

    def _start(self, action: StartTimer, cancelled: dict[int, IDelayedCall]) -> None:
        timer = cancelled.pop(action.key, None)
        if timer is not None:
            timer.reset(action.seconds)
        else:
            timer = self.reactor.callLater(action.seconds, self._timed_out, action.key)
        self._timers[action.key] = timer

    def _timed_out(self, key: int) -> None:
        self._timers.pop(key, None)
        self.perform(self.script.timed_out(key))

    def when_done(self, targets: dict[int, int]) -> Deferred[None]:
        """A Deferred that fires once the script has reached ``targets``."""
        deferred: Deferred[None] = Deferred()
        self._waiters.append((targets, deferred))
        self._wake()
        return deferred

    def _wake(self) -> None:
        # Take them all first: a callback may declare steps and wake again.
        waiters, self._waiters = self._waiters, []
        failure = self.script.failure
        waiting = []
        for targets, deferred in waiters:
            if failure is not None:
                deferred.errback(Failure(failure))
            elif self.script.reached(targets):
                deferred.callback(None)
            else:
                waiting.append((targets, deferred))
        self._waiters = waiting + self._waiters

    def close(self) -> Deferred[None]:
        """Stop the script, cancel the timers and abort every connection.

        A step still pending fails, so nobody waits on it forever. The
        Deferred fires once every connection is gone.
        """
        self.perform(self.script.stop())  # which cancels the timers
        pending: list[Deferred[None]] = []
        for protocol, waiting in list(self.connections.items()):
            deferred: Deferred[None] = Deferred()
            waiting.append(deferred)
            pending.append(deferred)
            protocol.transport.abortConnection()
        if not pending:
            return succeed(None)
        return gatherResults(pending).addCallback(lambda _: None)


def _abort(transport: Transport) -> None:
    """Abort the connection with a TCP RST (Twisted's abort closes the socket
    with a zero linger time), once what was written is handed to the kernel:
    a client reads what the server sent, then the reset."""
    _flush(transport)
    transport.abortConnection()


def _flush(transport: Any) -> None:
    """Hand what ``transport`` buffered to the kernel now, as the reactor
    would on its next turn (the TCP transport under a TLS layer, if any)."""
    while transport is not None and not hasattr(transport, "doWrite"):
        transport = getattr(transport, "transport", None)
    if transport is not None and transport.connected and not transport.disconnecting:
        transport.doWrite()
