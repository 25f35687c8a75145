"""The script as a pure state machine, in the sans-IO style.

:class:`Script` knows no sockets, reactors or clocks of its own. It is told
what the client did (:meth:`~Script.connection_made`,
:meth:`~Script.data_received`, :meth:`~Script.connection_lost`), that a timer
ran out (:meth:`~Script.timed_out`) or that a step or a rule was declared
(:meth:`~Script.add`, :meth:`~Script.add_rule`), and each call returns the
actions the driver must carry out: write bytes, close or reset a connection,
start or cancel a timer. :mod:`.protocol` is the Twisted driver.

The script only sequences. Each ``expect_connect()`` declares a connection, a
:class:`Conversation` with steps of its own (:mod:`.steps`), run in order
against what the client does on that connection, queued in an
:class:`~.inbox.Inbox`; what the current step does not take is offered to
the rules (:mod:`.rules`), then fails the step. A connection declared while
earlier ones are open runs beside them; one declared after they all closed
starts once their steps are done. The n-th connection the client opens goes
to the n-th declared.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from .inbox import Closed, Inbox
from .matching import Received, UserError
from .rules import Offer, Rule
from .steps import SHOWN, Failed, Step
from .transcript import Transcript, show_bytes

if TYPE_CHECKING:
    from twisted.internet.ssl import CertificateOptions

__all__ = [
    "Abort",
    "Action",
    "CancelTimer",
    "Close",
    "Conversation",
    "HalfClose",
    "Script",
    "ScriptFailure",
    "StartTLS",
    "StartTimer",
    "Write",
]

Connection = Hashable
"""Whatever the driver uses to name a connection; the script only compares them."""


# -- actions: what the driver must do ---------------------------------------
#
# Plain slotted records, made several times per message: a frozen dataclass
# costs three times as much to make. Nothing changes them once made.


@dataclass(slots=True)
class Write:
    """Write ``data`` on ``connection``; with ``segment``, send it at once as a
    segment of its own (no Nagle delay, no waiting for more)."""

    connection: Connection
    data: bytes
    segment: bool = False


@dataclass(slots=True)
class Close:
    """Close ``connection`` once what was written on it is flushed."""

    connection: Connection


@dataclass(slots=True)
class Abort:
    """Abort ``connection`` with a TCP RST, dropping what was not sent."""

    connection: Connection


@dataclass(slots=True)
class HalfClose:
    """Send a FIN on ``connection`` once what was written is flushed; keep reading."""

    connection: Connection


@dataclass(slots=True)
class StartTLS:
    """Speak TLS on ``connection`` from now on, as the server of the handshake,
    with the OpenSSL context factory ``context``."""

    connection: Connection
    context: CertificateOptions
    early: bytes = b""
    """The client's first TLS bytes, read as plaintext before."""


@dataclass(slots=True)
class StartTimer:
    """Call :meth:`Script.timed_out` with ``key`` in ``seconds`` unless cancelled first."""

    seconds: float
    key: int = 1


@dataclass(slots=True)
class CancelTimer:
    """Cancel the timer of ``key``."""

    key: int = 1


Action = Union[Write, Close, Abort, HalfClose, StartTLS, StartTimer, CancelTimer]


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


class Conversation:
    """The steps of one declared connection (number 0: those declared before
    any), run in order against what the client does on it.

    It is what its steps see of the script (:class:`~.steps.Conversation`).
    """

    def __init__(
        self, script: Script, key: int, number: int, after: list[Conversation]
    ) -> None:
        # The script holds its conversations, a conversation only a weak proxy
        # of the script: no reference cycle, so a finished script, its steps
        # and what they matched are freed by reference counts, not left to
        # the garbage collector.
        self.script: Script = weakref.proxy(script)
        self.transcript = script.transcript
        """The script's record of what happened."""
        self.rules = script.rules
        """The rules declared on the server."""
        self._received = script.received
        self.key = key
        """Its place among the script's conversations: the key of its timer."""
        self.number = number
        self.after = after
        """The conversations whose steps must all be done before these start."""
        self._started = not after
        self.steps: list[Step] = []
        self.index = 0
        self.begun = -1
        self.inbox = Inbox()
        self.last: Received | None = None
        """The message an expect step matched last on this connection."""
        self.state = "none"
        self.connection: Connection | None = None
        self.declared_open = False
        self.write_closed = False
        self.timer = False  # its timer runs...
        self.idle_timer = False  # ...and it is the idle one, not a step's

    def __repr__(self) -> str:
        return f"<Conversation #{self.number} {self.state}, {self.index}/{len(self.steps)}>"

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps)

    @property
    def started(self) -> bool:
        if not self._started:
            self._started = all(c.done for c in self.after)
        return self._started

    def unclaimed(self) -> bool:
        """Whether the client made a connection no step has taken."""
        return bool(self.script._pending)

    # -- what a step sees ------------------------------------------------------------

    def matched(self, message: Received) -> None:
        self.last = message
        self._received.append(message)

    @property
    def first_step(self) -> bool:
        return len(self.script.steps) == 1

    def now(self) -> float:
        return self.script.clock()

    def connections_since(self, moment: float) -> float | None:
        return self.script.connected_since(moment)

    def claim(self) -> bool:
        return self.script.claim(self)

    def client_closed(self) -> None:
        self.state = "closed"
        self.script.forget(self.connection)

    def write(self, data: bytes, segment: bool = False) -> None:
        if self.write_closed:
            raise Failed("Cannot send after shutdown_write(): the server half-closed")
        self.transcript.sent(data, self.script.label(self.number))
        self.script.act(Write(self.connection, data, segment))

    def hang_up(self, reset: bool = False) -> None:
        label = self.script.label(self.number)
        if reset:
            self.transcript.event(f"{label}server reset the connection")
            self.script.act(Abort(self.connection))
        else:
            self.transcript.event(f"{label}server closed the connection")
            self.script.act(Close(self.connection))
        self.script.closing(self.connection)
        self.state = "closed"
        self.inbox.clear()  # what the client sent unread goes with it

    def shutdown_write(self) -> None:
        self.transcript.event(f"{self.script.label(self.number)}server shut down its side")
        self.write_closed = True
        self.script.act(HalfClose(self.connection))

    def start_tls(self, context: CertificateOptions, early: bytes) -> None:
        self.transcript.event(f"{self.script.label(self.number)}server started TLS")
        self.script.act(StartTLS(self.connection, context, early))


class Script:
    """Runs declared steps against what the client does.

    :param idle_timeout: how long, in seconds, a connection waits once every
        step declared on it is done while the client keeps it open: for the
        next step to be declared or for the client to close. Then the script
        fails, and hangs up, so a client waiting for a reply that the script
        does not send is not left waiting forever. None waits for ever.
    :param clock: the time now, in seconds (the reactor's ``seconds``).
    """

    def __init__(
        self,
        idle_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.steps: list[Step] = []
        """Every step declared, in order."""
        self.rules: list[Rule] = []
        self.received: list[Received] = []
        """What the expect steps matched so far, in order."""
        self.transcript = Transcript()
        self.failure: ScriptFailure | None = None
        self.conversations: list[Conversation] = [Conversation(self, 0, 0, [])]
        self._numbered: dict[int, Conversation] = {0: self.conversations[0]}
        self._unfinished = 0  # index of the first conversation not done
        self._pending: deque[tuple[Connection, Inbox]] = deque()  # not claimed yet
        self._owner: dict[Connection, Conversation] = {}
        self._inboxes: dict[Connection, Inbox] = {}
        self._numbers: dict[Connection, int] = {}  # the order connections came in
        self._arrivals: list[float] = []  # when each connection came
        self._open: list[Connection] = []  # physically open connections
        self._closing: set[Connection] = set()  # closed by the server
        self._actions: list[Action] = []
        self.several = False
        """Whether there is more than one connection, declared or made: the
        transcript then says which each line is about."""

    # -- what the driver reads ----------------------------------------------

    @property
    def completed(self) -> int:
        """How many steps are done."""
        return sum(conversation.index for conversation in self.conversations)

    @property
    def connection_open(self) -> bool:
        """Whether the declared steps leave a connection open."""
        return any(c.declared_open for c in self.conversations)

    def open_connections(self) -> list[int]:
        """The numbers of the declared connections that no step closes."""
        return [c.number for c in self.conversations if c.declared_open]

    def pending(self) -> Iterator[Step]:
        """The steps not done yet."""
        for conversation in self.conversations:
            yield from conversation.steps[conversation.index :]

    def targets(self, number: int | None = None) -> dict[int, int]:
        """How many steps each conversation (the connection ``number``'s only,
        if given) has declared: :meth:`reached` tells when they are all done."""
        if number is not None:
            conversation = self._numbered[number]
            return {conversation.key: len(conversation.steps)}
        return {c.key: len(c.steps) for c in self.conversations}

    def reached(self, targets: dict[int, int]) -> bool:
        """Whether every conversation of ``targets`` has done that many steps."""
        conversations = self.conversations
        return all(conversations[key].index >= count for key, count in targets.items())

    def accepts_another(self) -> bool:
        """Whether one more open connection is declared for (so a new one can be
        taken at once rather than held until the others are quiet)."""
        return len(self._live()) < self._allowed()

    # -- what a conversation asks ----------------------------------------------------

    def act(self, action: Action) -> None:
        self._actions.append(action)

    def label(self, number: int) -> str:
        """``#n `` in front of a transcript line, once there is more than one
        connection, declared or made."""
        return f"#{number} " if number and self.several else ""

    def claim(self, conversation: Conversation) -> bool:
        if not self._pending:
            return False
        connection, inbox = self._pending.popleft()
        conversation.connection = connection
        conversation.inbox = inbox
        conversation.state = "open"
        self._owner[connection] = conversation
        return True

    def connected_since(self, moment: float) -> float | None:
        return next((t for t in self._arrivals if t > moment), None)

    def forget(self, connection: Connection | None) -> None:
        if connection is not None:  # pragma: no branch - only a claimed one closes
            self._inboxes.pop(connection, None)

    def closing(self, connection: Connection | None) -> None:
        if connection is not None and connection in self._open:
            self._closing.add(connection)

    # -- inputs ---------------------------------------------------------------

    def add(self, step: Step, connection: int | None = None) -> list[Action]:
        """Declare one more step on the declared connection ``connection`` (by
        default the last one): ``expect_connect()`` declares a new connection,
        the end goes after every connection's steps."""
        self.steps.append(step)
        if step.opens:
            conversation = self._declare(concurrent=self.connection_open)
        elif step.final:
            conversation = self._declare(concurrent=False, number=0)
        else:
            number = self.conversations[-1].number if connection is None else connection
            conversation = self._numbered[number]
        conversation.steps.append(step)
        if step.opens:
            conversation.declared_open = True
        elif step.closes:
            conversation.declared_open = False
        if conversation.index < len(conversation.steps) - 1:
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
        self._arrivals.append(self.clock())
        self.several = self.several or len(self._arrivals) > 1
        self._numbers[connection] = len(self._arrivals)
        self.transcript.event(f"{self._label_of(connection)}client connected")
        self._open.append(connection)
        if self.failure is not None:
            return [Close(connection)]
        live, allowed = len(self._live()), self._allowed()
        if live > allowed:
            return self._fail(self._too_many(allowed))
        inbox = Inbox()
        self._inboxes[connection] = inbox
        self._pending.append((connection, inbox))
        return self._run()

    def data_received(self, connection: Connection, data: bytes) -> list[Action]:
        """The client sent ``data`` on ``connection``."""
        if not data:
            return []
        self.transcript.received(data, self._label_of(connection))
        if self.failure is not None or connection in self._closing:
            return []
        self._inboxes[connection].push(data)
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
        if connection in self._closing:
            self._closing.discard(connection)
            return []
        if self.failure is not None:
            return []
        what = "client closed the connection" if clean else "connection reset"
        self.transcript.event(f"{self._label_of(connection)}{what}")
        inbox = self._inboxes.get(connection)
        if inbox is not None:  # pragma: no branch - made at connection_made()
            inbox.push(Closed(clean, problem))
        return self._run()

    def broken(self, connection: Connection, summary: str) -> list[Action]:
        """``connection`` ended in a way that fails the script whatever its steps
        (a TLS handshake that failed); ``summary`` says how. A connection the
        server was closing just ended."""
        if connection in self._closing:
            return self.connection_lost(connection, True)
        if connection in self._open:  # pragma: no branch - connection_made() added it
            self._open.remove(connection)
        if self.failure is not None:
            return []
        self.transcript.event(f"{self._label_of(connection)}TLS handshake failed")
        owner = self._owner.get(connection)
        return self._fail(Failed(summary), owner)

    def secured(self, connection: Connection) -> list[Action]:
        """The TLS handshake on ``connection`` is done."""
        if self.failure is None:
            self.transcript.event(f"{self._label_of(connection)}TLS handshake done")
        return []

    def stop(self) -> list[Action]:
        """The server stops: a step still pending fails, so no wait is left open."""
        if self.failure is not None:
            return []
        for conversation in self.conversations:
            if not conversation.done:
                step = conversation.steps[conversation.index]
                return self._fail(
                    Failed(f"The server stopped before {step} was done"), conversation
                )
        for conversation in self.conversations:
            self._stop_timer(conversation)  # the idle ones
        return self._take_actions()

    def timed_out(self, key: int = 1) -> list[Action]:
        """The timer of ``key`` (a conversation's, as :class:`StartTimer` gave
        it) ran out."""
        conversation = self.conversations[key]
        idle = conversation.idle_timer
        conversation.timer = conversation.idle_timer = False
        if self.failure is not None:
            return []
        if idle:
            return self._fail(self._idle_failure(conversation), conversation)
        if conversation.done:
            return []
        failed = conversation.steps[conversation.index].timed_out(conversation)
        if failed is None:
            return self._run()  # its wait is over: the step goes on
        unread = conversation.inbox.peek(SHOWN) if conversation.state == "open" else b""
        if unread and self.rules:
            failed.details.append(
                f"Unread: {show_bytes(unread)}, which no step or rule has taken "
                "(a rule may wait for the rest of a message)"
            )
        return self._fail(failed, conversation)

    # -- running steps ----------------------------------------------------------

    def _run(self) -> list[Action]:
        """Run every connection's steps as far as what the client did allows, in
        the order they were declared."""
        conversations = self.conversations
        index = self._unfinished
        while index < len(conversations) and self.failure is None:
            conversation = conversations[index]
            if conversation.started:
                self._advance(conversation)
            index += 1
        while (
            self._unfinished < len(conversations) - 1
            and conversations[self._unfinished].done
            and conversations[self._unfinished].state != "open"
        ):
            self._unfinished += 1
        self._watch_idle()
        return self._take_actions()

    def _advance(self, conversation: Conversation) -> None:
        steps = conversation.steps
        while self.failure is None and conversation.index < len(steps):
            step = steps[conversation.index]
            if conversation.begun != conversation.index:
                conversation.begun = conversation.index
                step.begin(conversation)
            try:
                if step.needs_connection and conversation.state != "open":
                    self._need_connection(conversation, step)
                done = step.run(conversation)
            except Failed as failed:
                offer = Offer.REFUSED
                if self.rules and failed.stray:
                    offer = self._offer(conversation, step)
                if offer is Offer.TAKEN:
                    continue  # the step tries again on what follows
                if offer is Offer.REFUSED:
                    self._record(failed, conversation, self._used_up(conversation))
                    return
                done = False  # a rule may take it once more arrives
            if not done:
                if (
                    self.rules
                    and not step.progressed
                    and self._offer(conversation, step) is Offer.TAKEN
                ):
                    continue
                self._wait(conversation, step)
                return
            self._stop_timer(conversation)
            conversation.index += 1
        while (
            self.rules and self.failure is None and self._offer(conversation) is Offer.TAKEN
        ):
            pass

    def _wait(self, conversation: Conversation, step: Step) -> None:
        if conversation.idle_timer:  # it was idle: the step times itself
            self._stop_timer(conversation)
        seconds = step.timer
        if not conversation.timer and seconds is not None:
            conversation.timer = True
            self._actions.append(StartTimer(seconds, conversation.key))

    def _offer(self, conversation: Conversation, step: Step | None = None) -> Offer:
        """Offer the message at the head of the connection's inbox to the rules,
        the current step (if any) having declined it."""
        if conversation.state != "open" or self.failure is not None:
            return Offer.REFUSED
        if step is not None:
            step.rewind(conversation)  # the rules read the message from its start
        if not isinstance(conversation.inbox.head(), (bytes, memoryview)):
            return Offer.REFUSED
        pending = False
        for rule in self.rules:
            if rule.exhausted:
                continue
            try:
                offer = rule.offer(conversation)
            except UserError as error:
                self._record(Failed(str(error)), conversation)
                return Offer.TAKEN  # the failure ends the run
            if offer is Offer.TAKEN:
                return offer
            pending = pending or offer is Offer.PENDING
        return Offer.PENDING if pending else Offer.REFUSED

    def _used_up(self, conversation: Conversation) -> list[str]:
        """Why no rule took the message: the rules that would have, but had
        answered as often as they may."""
        lines = []
        for rule in self.rules:
            if rule.exhausted and rule.would_take(conversation):
                times = "1 time" if rule.times == 1 else f"{rule.times} times"
                lines.append(f"{rule} would take it, but it already answered its {times}")
        return lines

    def _take_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def _fail(
        self, failed: Failed, conversation: Conversation | None = None
    ) -> list[Action]:
        """Fail the script: stop the timers and close every connection."""
        self._record(failed, conversation)
        return self._take_actions()

    def _record(
        self,
        failed: Failed,
        conversation: Conversation | None = None,
        more: list[str] | None = None,
    ) -> None:
        """Fail the script (with ``more`` detail lines), stop the timers and close
        every connection; the actions wait to be taken."""
        if conversation is not None and not conversation.done:
            step = conversation.steps[conversation.index]
            label = self.label(conversation.number)
            self.transcript.event(f"{label}failed at {step}")
        details = [*failed.details, *(more or [])]
        self.failure = ScriptFailure(failed.summary, details, self.transcript.lines())
        for each in self.conversations:
            self._stop_timer(each)
            each.inbox.clear()
        self._actions.extend(Close(connection) for connection in self._open)

    def _need_connection(self, conversation: Conversation, step: Step) -> None:
        """Fail ``step``, which needs the connection its conversation does not have."""
        if conversation.state == "none":
            raise Failed(
                f"{step} needs a connection, but none was made "
                "(declare expect_connect() before it)"
            )
        raise Failed(f"{step} needs a connection, but it was already closed")

    def _live(self) -> list[Connection]:
        """The open connections that the server is not closing."""
        return [c for c in self._open if c not in self._closing]

    def _allowed(self) -> int:
        """How many connections may be open at once: as many as the declared
        connections that may take one now and are not closed yet, one at
        least."""
        declared = sum(
            1
            for c in self.conversations[self._unfinished :]
            if c.number and c.state != "closed" and c.started
        )
        return max(1, declared)

    def _too_many(self, allowed: int) -> Failed:
        failed = Failed(_too_many(allowed))
        if len(self._numbered) > 2:  # several declared: one after the other?
            failed.details.append(SEQUENTIAL_HINT)
        return failed

    def _label_of(self, connection: Connection) -> str:
        return self.label(self._numbers.get(connection, 0))

    # -- the timers ------------------------------------------------------------------

    def _stop_timer(self, conversation: Conversation) -> None:
        if conversation.timer:
            conversation.timer = conversation.idle_timer = False
            self._actions.append(CancelTimer(conversation.key))

    def _watch_idle(self) -> None:
        """Once every step of every connection is done, time how long each
        connection the client keeps open waits for more to be declared (see
        ``idle_timeout``). A connection whose steps are done while another's
        are not just waits (a pool's idle connection)."""
        if self.failure is not None or self.idle_timeout is None:
            return
        rest = self.conversations[self._unfinished :]
        for conversation in rest:
            if conversation.index < len(conversation.steps):  # steps left: none idles
                for each in rest:
                    if each.idle_timer:
                        self._stop_timer(each)
                return
        for conversation in rest:
            idle = conversation.state == "open" and conversation.connection in self._open
            if idle and not conversation.timer:
                conversation.timer = conversation.idle_timer = True
                self._actions.append(StartTimer(self.idle_timeout, conversation.key))
            elif not idle and conversation.idle_timer:
                self._stop_timer(conversation)

    def _idle_failure(self, conversation: Conversation) -> Failed:
        label = self.label(conversation.number)
        self.transcript.event(f"{label}timed out after the last step")
        failed = Failed(
            "Timed out waiting for the client to close the connection after the last step",
            "The script has no more steps: if the client waits for a reply, declare it "
            "(send_bytes(), send_frame()).",
        )
        unread = conversation.inbox.peek(1 << 20)
        if unread:
            unread_bytes = show_bytes(unread)
            failed.details.append(f"The client sent {unread_bytes}, which no step reads.")
        return failed

    def _declare(self, concurrent: bool, number: int | None = None) -> Conversation:
        """A new conversation: one more connection, or the end (number 0).

        One declared beside open ones starts with them, once the connections
        whose close was declared before it are closed; any other once every
        conversation before it is done.
        """
        if number is None:
            number = sum(1 for c in self.conversations if c.number) + 1
        last = self.conversations[-1]
        if concurrent:  # after what the others wait for, and the closes declared
            closed = [
                c
                for c in self.conversations[self._unfinished :]
                if c.number and not c.declared_open and not c.done and c not in last.after
            ]
            after = [*last.after, *closed]
        else:
            after = list(self.conversations)
        conversation = Conversation(self, len(self.conversations), number, after)
        self.conversations.append(conversation)
        if number:
            self._numbered[number] = conversation
            self.several = self.several or len(self._numbered) > 2
        return conversation


def _too_many(allowed: int) -> str:
    if allowed == 1:
        return (
            "Expected one connection at a time, "
            "but the client opened a second one while the first was open"
        )
    return (
        f"Expected {allowed} connections, but the client opened "
        f"{_ordinal(allowed + 1)} while {allowed} were open"
    )


SEQUENTIAL_HINT = (
    "A connection declared after the close of the one before it "
    "(expect_disconnect(), disconnect(), reset()) follows it; for connections "
    "open at the same time, declare their expect_connect() before their closes."
)


def _ordinal(count: int) -> str:
    words = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh"]
    return f"a {words[count - 1]}" if count <= len(words) else f"connection #{count}"
