"""The Twisted driver of a :class:`~.script.Script`: one Protocol, one Factory.

:class:`ScriptFactory` owns the script and carries out the actions it returns
on the reactor it is given: it writes on transports, closes them and keeps the
one step timer with ``reactor.callLater``. It never imports a reactor, so the
same code runs on pytest-twisted's global reactor, on a reactor bound to an
asyncio loop, under trial, or on ``twisted.internet.testing.MemoryReactorClock``.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable

from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from .script import Action, CancelTimer, Close, Script, StartTimer, Write

__all__ = ["ClientCheck", "ScriptFactory", "ScriptProtocol"]

ClientCheck = Callable[[IAddress, int], "str | None"]
"""Told a client's address and how many bytes the server sent it when the
client closes; returns what was wrong with how the client closed, or None."""


class ScriptProtocol(Protocol):
    """One client connection: reports what the client does to the factory."""

    factory: ScriptFactory
    sent = 0
    """Bytes the server wrote on this connection."""

    def connectionMade(self) -> None:
        self.factory.connected(self)

    def dataReceived(self, data: bytes) -> None:
        self.factory.perform(self.factory.script.data_received(self, data))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.disconnected(self, reason.check(ConnectionDone) is not None)


class ScriptFactory(Factory):
    """Builds :class:`ScriptProtocol` and runs the script's actions on ``reactor``.

    ``when_done(n)`` returns a Deferred that fires once ``n`` steps are done,
    or fails with the script's :class:`~.script.ScriptFailure`.
    """

    protocol = ScriptProtocol

    def __init__(
        self, reactor: IReactorTime, client_check: ClientCheck | None = None
    ) -> None:
        self.reactor = reactor
        self.client_check = client_check
        self.script = Script()
        self.connections: dict[ScriptProtocol, list[Deferred[None]]] = {}
        self.failure_reported = False
        self._timer: IDelayedCall | None = None
        self._waiters: list[tuple[int, Deferred[None]]] = []  # fewest steps first

    # -- called by the protocol --------------------------------------------

    def connected(self, protocol: ScriptProtocol) -> None:
        self.connections[protocol] = []
        self.perform(self.script.connection_made(protocol))

    def disconnected(self, protocol: ScriptProtocol, clean: bool) -> None:
        waiting = self.connections.pop(protocol)
        problem = None
        if self.client_check is not None:
            problem = self.client_check(protocol.transport.getPeer(), protocol.sent)
        self.perform(self.script.connection_lost(protocol, clean, problem))
        for deferred in waiting:
            deferred.callback(None)

    # -- driving ------------------------------------------------------------

    def perform(self, actions: Iterable[Action]) -> None:
        """Carry out the script's actions, then wake whoever waits on it.

        A timer cancelled and started again in one batch (a step done, the
        next one waiting) is moved with ``reset()`` instead: cancelling and
        making one per step churns the reactor's timer heap, and on an
        asyncio reactor its loop timer too, on every message.
        """
        cancelled: IDelayedCall | None = None  # to cancel unless started again
        try:
            for action in actions:
                if isinstance(action, Write):
                    action.connection.sent += len(action.data)
                    action.connection.transport.write(action.data)
                elif isinstance(action, Close):
                    action.connection.transport.loseConnection()
                elif isinstance(action, StartTimer):
                    if cancelled is not None:
                        cancelled.reset(action.seconds)
                        self._timer, cancelled = cancelled, None
                    else:
                        self._timer = self.reactor.callLater(
                            action.seconds, self._timed_out
                        )
                elif isinstance(action, CancelTimer):
                    if self._timer is not None and self._timer.active():
                        cancelled = self._timer
                    self._timer = None
        finally:
            if cancelled is not None:
                cancelled.cancel()
        self._wake()

    def _timed_out(self) -> None:
        self._timer = None
        self.perform(self.script.timed_out())

    def when_done(self, steps: int) -> Deferred[None]:
        """A Deferred that fires once ``steps`` steps are done."""
        deferred: Deferred[None] = Deferred()
        insort(self._waiters, (steps, deferred), key=lambda waiter: waiter[0])
        self._wake()
        return deferred

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters:
            failure = self.script.failure
            if failure is None and waiters[0][0] > self.script.completed:
                return
            _, deferred = waiters.pop(0)
            if failure is None:
                deferred.callback(None)
            else:
                self.failure_reported = True
                deferred.errback(Failure(failure))

    def close(self) -> Deferred[None]:
        """Stop the script, cancel the timer and abort every connection.

        A step still pending fails, so nobody waits on it forever. The
        Deferred fires once every connection is gone.
        """
        self.perform(self.script.stop())  # which cancels the timer
        pending: list[Deferred[None]] = []
        for protocol, waiting in list(self.connections.items()):
            deferred: Deferred[None] = Deferred()
            waiting.append(deferred)
            pending.append(deferred)
            protocol.transport.abortConnection()
        if not pending:
            return succeed(None)
        return gatherResults(pending).addCallback(lambda _: None)
