"""The script as a pure state machine, in the sans-IO style.

:class:`Script` knows no sockets, reactors or clocks. It is told what the
client did (:meth:`~Script.connection_made`, :meth:`~Script.data_received`,
:meth:`~Script.connection_lost`), that time ran out (:meth:`~Script.timed_out`)
or that a step or a rule was declared (:meth:`~Script.add`,
:meth:`~Script.add_rule`), and each call returns the actions the driver must
carry out: write bytes, close a connection, start or cancel the one timer.
:mod:`.protocol` is the Twisted driver.

The script only sequences: what the client does is queued in an
:class:`~.inbox.Inbox`, in order, and the current step (:mod:`.steps`) takes
from it what is its own. What the step does not take is offered to the rules
(:mod:`.rules`), then fails the step.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Union

from .inbox import Closed, Connected, Inbox
from .matching import Received, UserError
from .rules import Offer, Rule
from .steps import Failed, Step
from .transcript import Transcript, show_bytes

__all__ = [
    "Action",
    "CancelTimer",
    "Close",
    "Script",
    "ScriptFailure",
    "StartTimer",
    "Write",
]

Connection = Hashable
"""Whatever the driver uses to name a connection; the script only compares them."""


# -- actions: what the driver must do ---------------------------------------


@dataclass(frozen=True)
class Write:
    """Write ``data`` on ``connection``."""

    connection: Connection
    data: bytes


@dataclass(frozen=True)
class Close:
    """Close ``connection`` once what was written on it is flushed."""

    connection: Connection


@dataclass(frozen=True)
class StartTimer:
    """Call :meth:`Script.timed_out` in ``seconds`` unless cancelled first."""

    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    """Cancel the timer started last."""


Action = Union[Write, Close, StartTimer, CancelTimer]


class ScriptFailure(AssertionError):
    """The client did not follow the script.

    An :class:`AssertionError`, so that test runners that know nothing of
    this package (``unittest``, for one) count it as a failure, not an error.

    ``summary`` is the first line (what was expected, what happened instead),
    ``details`` the lines that follow it and ``transcript`` the conversation
    up to the failure.
    """

    __module__ = "pytest_tcpclient"  # where users import it from

    def __init__(self, summary: str, details: list[str], transcript: list[str]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details
        self.transcript = transcript

    def __reduce__(self) -> tuple[type[ScriptFailure], tuple[str, list[str], list[str]]]:
        return type(self), (self.summary, self.details, self.transcript)

    def __str__(self) -> str:
        lines = [self.summary, *self.details, "", "Conversation (oldest first):"]
        lines.extend(f"  {line}" for line in self.transcript)
        return "\n".join(lines)


class Script:
    """Runs declared steps against what the client does, one step at a time.

    :param idle_timeout: how long, in seconds, the script waits once every
        declared step is done while the client keeps its connection open:
        for the next step to be declared or for the client to close. Then it
        fails, and hangs up, so a client waiting for a reply that the script
        does not send is not left waiting forever. None waits for ever.
    """

    def __init__(self, idle_timeout: float | None = None) -> None:
        self.idle_timeout = idle_timeout
        self.steps: list[Step] = []
        self.rules: list[Rule] = []
        self.received: list[Received] = []
        """What the expect steps matched so far, in order."""
        self.transcript = Transcript()
        self.failure: ScriptFailure | None = None
        self.inbox = Inbox()
        self.state = "none"
        """The script's connection: ``"none"`` yet, ``"open"`` or ``"closed"``."""
        self._declared_open = False
        self._index = 0
        self._begun = -1  # the index of the step begun last
        self._active: Connection | None = None
        self._open: list[Connection] = []  # physically open connections
        self._closing: Connection | None = None  # closed by disconnect()
        self._timer = False  # a timer runs...
        self._idle_timer = False  # ...and it is the idle one, not a step's
        self._actions: list[Action] = []

    # -- what the driver reads ----------------------------------------------

    @property
    def completed(self) -> int:
        """How many steps are done."""
        return self._index

    @property
    def connection_open(self) -> bool:
        """Whether the declared steps leave a connection open."""
        return self._declared_open

    # -- what a step sees (see steps.Conversation) -------------------------------

    @property
    def first_step(self) -> bool:
        return len(self.steps) == 1

    def accept(self, connection: Connection) -> None:
        self._active = connection
        self.state = "open"

    def client_closed(self) -> None:
        self._active = None
        self.state = "closed"

    def write(self, data: bytes) -> None:
        self.transcript.sent(data)
        self._actions.append(Write(self._active, data))

    def hang_up(self) -> None:
        self.transcript.event("server closed the connection")
        self._actions.append(Close(self._active))
        self._closing, self._active = self._active, None
        self.state = "closed"
        self.inbox.clear()  # what the client sent unread goes with it

    # -- inputs ---------------------------------------------------------------

    def add(self, step: Step) -> list[Action]:
        """Declare one more step."""
        self.steps.append(step)
        if step.opens:
            self._declared_open = True
        elif step.closes:
            self._declared_open = False
        if self._index < len(self.steps) - 1:
            # An earlier step is waiting, and nothing it waits for has come.
            return []
        return self._run()

    def add_rule(self, rule: Rule) -> list[Action]:
        """Declare one more rule; it may answer what waits unread at once."""
        self.rules.append(rule)
        if self.failure is not None:
            return []
        return self._run()

    def connection_made(self, connection: Connection) -> list[Action]:
        """A client connected."""
        self.transcript.event("client connected")
        self._open.append(connection)
        if self.failure is not None:
            return [Close(connection)]
        # A connection that disconnect() is closing does not count as open.
        if len([c for c in self._open if c != self._closing]) > 1:
            return self._fail(
                Failed(
                    "Expected one connection at a time, "
                    "but the client opened a second one while the first was open"
                )
            )
        self.inbox.push(Connected(connection))
        return self._run()

    def data_received(self, connection: Connection, data: bytes) -> list[Action]:
        """The client sent ``data`` on ``connection``."""
        if not data:
            return []
        self.transcript.received(data)
        if self.failure is not None or connection == self._closing:
            return []
        self.inbox.push(data)
        return self._run()

    def connection_lost(
        self, connection: Connection, clean: bool, problem: str | None = None
    ) -> list[Action]:
        """``connection`` ended: closed by the client if ``clean``, else reset.

        ``problem``, if given, is what the driver knows was wrong with the way
        the client closed (for instance, it left bytes unread); it fails an
        :class:`~.steps.ExpectDisconnect` waiting for this close.
        """
        self._open.remove(connection)
        if connection == self._closing:
            self._closing = None
            return []
        if self.failure is not None:
            return []
        self.transcript.event(
            "client closed the connection" if clean else "connection reset"
        )
        self.inbox.push(Closed(clean, problem))
        return self._run()

    def stop(self) -> list[Action]:
        """The server stops: a step still pending fails, so no wait is left open."""
        if self.failure is not None:
            return []
        if self._index >= len(self.steps):
            self._stop_timer()  # the idle one
            return self._take_actions()
        step = self.steps[self._index]
        return self._fail(Failed(f"The server stopped before {step} was done"))

    def timed_out(self) -> list[Action]:
        """The timer started last ran out."""
        idle = self._idle_timer
        self._timer = self._idle_timer = False
        if self.failure is not None:
            return []
        if idle:
            return self._fail(self._idle_failure())
        if self._index >= len(self.steps):
            return []
        return self._fail(self.steps[self._index].timed_out(self))

    # -- running steps ----------------------------------------------------------

    def _run(self) -> list[Action]:
        while self.failure is None and self._index < len(self.steps):
            step = self.steps[self._index]
            if self._begun != self._index:
                self._begun = self._index
                step.begin()
            try:
                if step.needs_connection:
                    self._need_connection(step)
                done = step.run(self)
            except Failed as failed:
                offer = self._offer(step, failed) if self.rules else Offer.REFUSED
                if offer is Offer.TAKEN:
                    continue  # the step tries again on what follows
                if offer is Offer.REFUSED:
                    return self._fail(failed)
                done = False  # a rule may take it once more arrives
            if not done:
                if self.rules and not step.progressed and self._offer(step) is Offer.TAKEN:
                    continue
                self._wait(step)
                break
            self._stop_timer()
            self._index += 1
        else:
            while self.rules and self.failure is None and self._offer() is Offer.TAKEN:
                pass
            self._watch_idle()
        return self._take_actions()

    def _wait(self, step: Step) -> None:
        if self._idle_timer:  # the script was idle: the step times itself
            self._stop_timer()
        if not self._timer and step.timeout is not None:
            self._timer = True
            self._actions.append(StartTimer(step.timeout))

    def _offer(self, step: Step | None = None, failed: Failed | None = None) -> Offer:
        """Offer the message at the head of the inbox to the rules, the current
        step (if any) having declined it (``failed``, if it failed on it)."""
        if not self.rules or self.state != "open" or self.failure is not None:
            return Offer.REFUSED
        if step is not None:
            step.rewind(self)  # the rules read the message from its start
        if not isinstance(self.inbox.head(), (bytes, memoryview)):
            return Offer.REFUSED
        pending = False
        for rule in self.rules:
            if rule.exhausted:
                continue
            try:
                offer = rule.offer(self)
            except UserError as error:
                self._record(Failed(str(error)))
                return Offer.TAKEN  # the failure ends the run
            if offer is Offer.TAKEN:
                return offer
            pending = pending or offer is Offer.PENDING
        return Offer.PENDING if pending else Offer.REFUSED

    def _take_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def _fail(self, failed: Failed) -> list[Action]:
        """Fail the script: stop the timer and close every connection."""
        self._record(failed)
        return self._take_actions()

    def _record(self, failed: Failed) -> None:
        if self._index < len(self.steps):
            self.transcript.event(f"failed at {self.steps[self._index]}")
        self.failure = ScriptFailure(
            failed.summary, failed.details, self.transcript.lines()
        )
        self._stop_timer()
        self._actions.extend(Close(connection) for connection in self._open)
        self.inbox.clear()

    def _need_connection(self, step: Step) -> None:
        if self.state == "open":
            return
        if self.state == "none":
            raise Failed(
                f"{step} needs a connection, but none was made "
                "(declare expect_connect() before it)"
            )
        raise Failed(f"{step} needs a connection, but it was already closed")

    # -- the timer ------------------------------------------------------------------

    def _stop_timer(self) -> None:
        if self._timer:
            self._timer = self._idle_timer = False
            self._actions.append(CancelTimer())

    def _watch_idle(self) -> None:
        """Every step is done: while the client keeps the script's connection
        open, time how long nothing more is declared (see ``idle_timeout``)."""
        idle = (
            self.failure is None
            and self.idle_timeout is not None
            and self.state == "open"
            and self._active in self._open
        )
        if idle and not self._timer:
            self._timer = self._idle_timer = True
            self._actions.append(StartTimer(self.idle_timeout))  # type: ignore[arg-type]
        elif not idle and self._idle_timer:
            self._stop_timer()

    def _idle_failure(self) -> Failed:
        self.transcript.event("timed out after the last step")
        failed = Failed(
            "Timed out waiting for the client to close the connection after the last step",
            "The script has no more steps: if the client waits for a reply, declare it "
            "(send_bytes(), send_frame()).",
        )
        unread = self.inbox.peek(1 << 20)
        if unread:
            unread_bytes = show_bytes(unread)
            failed.details.append(f"The client sent {unread_bytes}, which no step reads.")
        return failed
