"""The steps of a script: each kind in one small class, with its matching, its
progress and its diagnostics.

A test declares steps through the server's methods; :class:`~.script.Script`
runs them in order, one at a time, and knows nothing of what each does. A
step keeps its progress while it runs:

- :meth:`Step.begin` is called when it becomes the current step;
- :meth:`Step.run` advances it with what the client did (the script's inbox)
  and returns True once it is done; it raises :class:`Failed` when what
  arrived cannot match;
- :meth:`Step.timed_out` says what a step that waited too long was waiting for;
- steps that wait for the client carry a ``timeout`` in seconds, counted from
  the moment the step becomes the current one.

The script a step runs in is its :class:`Conversation`: the inbox, the
connection and what the server writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from . import tls
from .arguments import BytesLike, as_bytes, as_chunk, as_seconds
from .framings import (
    DEFAULT_FRAMING,
    DEFAULT_MAX_LENGTH,
    BadDecode,
    FramingError,
    FramingLike,
    HeadReader,
    Lines,
    as_delimiter,
    as_framing,
    as_max_length,
    canonical,
    checked_decode,
    describe,
    encode,
    framing_name,
)
from .inbox import Closed, Inbox
from .matching import (
    Exact,
    MatchLike,
    Received,
    ReplyLike,
    UserError,
    as_matcher,
    as_reply,
    compute,
    describe_callable,
)
from .transcript import Transcript, show_bytes, show_difference

if TYPE_CHECKING:
    from twisted.internet.ssl import CertificateOptions

    from .rules import Rule

__all__ = [
    "Conversation",
    "Disconnect",
    "End",
    "ExpectBytes",
    "ExpectConnect",
    "ExpectDisconnect",
    "ExpectFrame",
    "ExpectLine",
    "Failed",
    "SendBytes",
    "SendFrame",
    "SendLine",
    "Step",
]

SHOWN = 1 << 20
"""The most bytes read from the inbox to show what arrived."""


class Failed(Exception):
    """Raised by a step to fail the script: the first line and the lines after it.

    A ``stray`` failure is about a message the client sent that the step
    does not take: a rule may still take it.
    """

    stray = False

    def __init__(self, summary: str, *details: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = list(details)


class Stray(Failed):
    """A message the step does not take; its diagnostic is made only if no
    rule takes the message either (``describe()`` returns the lines)."""

    stray = True

    def __init__(self, describe: Callable[[], list[str]]) -> None:
        Exception.__init__(self)
        self._describe = describe
        self._lines: list[str] | None = None

    @property
    def summary(self) -> str:  # type: ignore[override]
        return self._made()[0]

    @property
    def details(self) -> list[str]:  # type: ignore[override]
        return self._made()[1:]

    def _made(self) -> list[str]:
        if self._lines is None:
            self._lines = self._describe()
        return self._lines

    def __str__(self) -> str:
        return self.summary


class Conversation(Protocol):
    """What a step sees of the script it runs in: one declared connection."""

    number: int
    """1 for the first ``expect_connect()``, 2 for the next...; 0 for steps
    declared before any."""
    inbox: Inbox
    last: Received | None
    """The message an expect step matched last on this connection."""
    state: str
    """``"none"`` before its connection is made, ``"open"``, ``"closed"``."""

    @property
    def transcript(self) -> Transcript:
        """The script's record of what happened."""

    @property
    def rules(self) -> list[Rule]:
        """The rules declared on the server."""

    def matched(self, message: Received) -> None:
        """An expect step matched ``message``."""

    def claim(self) -> bool:
        """Take the next connection the client made, if any: True if taken."""

    def client_closed(self) -> None:
        """The connection ended, as the client closed it."""

    def write(self, data: bytes, segment: bool = False) -> None:
        """Send ``data``; with ``segment``, at once, as a segment of its own."""

    def hang_up(self, reset: bool = False) -> None:
        """Close the connection once what was sent is flushed, or at once with a
        TCP RST if ``reset``."""

    def shutdown_write(self) -> None:
        """Half-close: send a FIN, keep reading."""

    def start_tls(self, context: CertificateOptions, early: bytes) -> None:
        """Speak TLS from now on, with the OpenSSL context factory ``context``;
        ``early``: the client's first TLS bytes, read before."""

    def now(self) -> float:
        """The reactor's clock, in seconds."""

    def connections_since(self, moment: float) -> float | None:
        """When a new connection came after ``moment``, if one did."""

    def unclaimed(self) -> bool:
        """Whether the client made a connection no step has taken."""

    @property
    def first_step(self) -> bool:
        """Whether the step running is the first one declared on the server."""


class Step:
    """One thing the script waits for or does.

    ``timeout`` is None for a step that takes no time. ``needs_connection``:
    the step fails at once if its connection is not open. ``opens`` and
    ``closes`` tell what the step does to the connection the declared steps
    leave open.
    """

    timeout: float | None = None
    needs_connection = True
    opens = False
    closes = False
    final = False
    """Whether the step runs after every connection's steps (the end)."""
    secures = False
    """Whether the step starts TLS on its connection."""
    progressed = False
    """Whether the step has taken part of a message: until it has taken it
    all, no rule may read from there."""

    def begin(self, conversation: Conversation) -> None:
        """The step becomes the current one: it starts from nothing."""

    def run(self, conversation: Conversation) -> bool:
        """Advance with what the inbox holds; True once the step is done."""
        raise NotImplementedError

    @property
    def timer(self) -> float | None:
        """Seconds to wait before :meth:`timed_out`, while the step is not
        done: its timeout, unless the step itself waits (a pause)."""
        return self.timeout

    def timed_out(self, conversation: Conversation) -> Failed | None:
        """The timer ran out: the failure of a step that waited too long, or
        None for a step whose wait is over (it runs again)."""
        return Failed(f"Timed out waiting for {self}")

    def rewind(self, conversation: Conversation) -> None:
        """Put back what the step took of a message, so a rule can read it."""


# -- the connection ---------------------------------------------------------------


class ExpectConnect(Step):
    """The client opens a connection (the next one it opens goes to the
    first ``expect_connect()`` waiting)."""

    needs_connection = False
    opens = True

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __str__(self) -> str:
        return "expect_connect()"

    def run(self, conversation: Conversation) -> bool:
        return conversation.claim()

    def timed_out(self, conversation: Conversation) -> Failed:
        return Failed("Timed out waiting for a connection")


class ExpectDisconnect(Step):
    """The client closes the connection without sending anything more.

    ``at_teardown`` tells the one teardown declares for a connection that the
    test left open.
    """

    closes = True

    def __init__(self, timeout: float, at_teardown: bool = False) -> None:
        self.timeout = timeout
        self.at_teardown = at_teardown

    def __str__(self) -> str:
        if self.at_teardown:
            return "expect_disconnect() (added at teardown)"
        return "expect_disconnect()"

    def run(self, conversation: Conversation) -> bool:
        inbox = conversation.inbox
        head = inbox.head()
        if head is None:
            return False
        if not isinstance(head, Closed):
            raise Stray(
                lambda: [
                    "Expected the client to close the connection, but it sent "
                    f"{show_bytes(inbox.peek(SHOWN))}"
                ]
            )
        if head.problem is not None:
            reset = "" if head.clean else " (the connection was reset)"
            raise Failed(
                "Expected the client to close the connection cleanly, "
                f"but {head.problem}{reset}"
            )
        if not head.clean:
            raise Failed(
                "Expected the client to close the connection, but the connection was reset"
            )
        inbox.consume()
        conversation.client_closed()
        return True

    def timed_out(self, conversation: Conversation) -> Failed:
        failed = Failed("Timed out waiting for the client to close the connection")
        if self.at_teardown:
            failed.details.append(
                "The test left the connection open, so teardown expects the client to "
                "close it: close the client before the test ends, or declare disconnect()."
            )
        return failed


class Disconnect(Step):
    """The server closes the connection, once what it sent is flushed."""

    closes = True

    def __str__(self) -> str:
        return "disconnect()"

    def run(self, conversation: Conversation) -> bool:
        conversation.hang_up()
        return True


# -- faults ------------------------------------------------------------------------


class Reset(Step):
    """The server aborts the connection with a TCP RST: the client sees a reset."""

    closes = True

    def __str__(self) -> str:
        return "reset()"

    def run(self, conversation: Conversation) -> bool:
        conversation.hang_up(reset=True)
        return True


class ShutdownWrite(Step):
    """The server half-closes the connection (a FIN) and keeps reading."""

    def __str__(self) -> str:
        return "shutdown_write()"

    def run(self, conversation: Conversation) -> bool:
        conversation.shutdown_write()
        return True


class StartTLS(Step):
    """The server starts TLS on the connection (the server's side of STARTTLS):
    the steps after it see the plaintext inside TLS.

    The client must send nothing more in plaintext: what it sent that no step
    took must be the start of its TLS handshake.
    """

    secures = True

    def __init__(self, context: CertificateOptions) -> None:
        self.context = context

    def __str__(self) -> str:
        return "start_tls()"

    def run(self, conversation: Conversation) -> bool:
        inbox = conversation.inbox
        early = inbox.peek(inbox.available())
        if early and not tls.is_handshake(early):
            raise Failed(tls.sent_plaintext(early))
        inbox.consume(len(early))
        conversation.start_tls(self.context, early)
        return True


class Pause(Step):
    """The server waits ``seconds`` before the next step (a slow server).

    The wait counts toward no step's timeout.
    """

    needs_connection = False

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._over = False

    def __str__(self) -> str:
        return f"pause({self.seconds:g})"

    def begin(self, conversation: Conversation) -> None:
        self._over = self.seconds == 0

    @property
    def timer(self) -> float:
        return self.seconds

    def run(self, conversation: Conversation) -> bool:
        return self._over

    def timed_out(self, conversation: Conversation) -> None:
        self._over = True


class ExpectSilence(Step):
    """For ``seconds`` from the moment the step becomes current, the client
    sends nothing and does not close the connection; with ``connections``
    (declared on the server), it opens no new connection either."""

    needs_connection = False

    def __init__(self, seconds: float, connections: bool = True) -> None:
        self.seconds = seconds
        self.connections = connections
        self._start = 0.0
        self._over = False

    def __str__(self) -> str:
        return f"expect_silence({self.seconds:g})"

    def begin(self, conversation: Conversation) -> None:
        self._start = conversation.now()
        self._over = self.seconds == 0

    @property
    def timer(self) -> float:
        return self.seconds

    def run(self, conversation: Conversation) -> bool:
        broke = None
        if self.connections:
            moment = conversation.connections_since(self._start)
            if moment is not None:
                broke = "the client connected again", moment
        head = conversation.inbox.head() if conversation.state == "open" else None
        if broke is None and head is not None:
            if isinstance(head, Closed):
                what = "closed the connection" if head.clean else "reset the connection"
                broke = f"the client {what}", conversation.now()
            else:
                shown = show_bytes(conversation.inbox.peek(SHOWN))
                broke = f"the client sent {shown}", conversation.now()
        if broke is not None:
            what, moment = broke
            raise Failed(
                f"Expected silence for {self.seconds:g} s, but {what} "
                f"after {moment - self._start:.1f} s"
            )
        return self._over

    def timed_out(self, conversation: Conversation) -> None:
        self._over = True


class End(Step):
    """Teardown's last step: nothing more may have happened on the wire, and
    every rule answered as often as it had to."""

    needs_connection = False
    final = True

    def __str__(self) -> str:
        return "end of script"

    def run(self, conversation: Conversation) -> bool:
        # Teardown declared a close for every connection left open, so only a
        # new connection can be waiting here.
        if conversation.unclaimed():
            if conversation.first_step:
                raise Failed("Expected no connection, but a client connected")
            raise Failed("Expected nothing more, but the client connected again")
        for rule in conversation.rules:
            if rule.times is not None and rule.count != rule.times:
                raise Failed(
                    f"Expected {rule} to answer {_times(rule.times)}, "
                    f"but it answered {_times(rule.count)}"
                )
        return True


# -- what the client sends ---------------------------------------------------------


class _OnTheWire(Step):
    """A step that matches expected wire bytes, :attr:`_wire`, as they arrive,
    in place, taking them as it goes; a wrong byte fails at once. The base of
    the exact expect steps: how far it got is :attr:`_matched`, an attribute
    of the step, not an object of its own, since a script may hold many."""

    _wire: bytes | None = None
    _matched = 0

    def _advance(self, inbox: Inbox) -> bool:
        """Take the bytes that match; True once all of them have arrived.

        :raises _Mismatch: at the first byte that does not match.
        :raises _ClosedEarly: if the connection ended first.
        """
        wire = self._wire
        assert wire is not None, "only a step with wire bytes matches them"
        self._matched, same = inbox.match(wire, self._matched)
        if not same:
            raise _Mismatch()
        if self._matched == len(wire):
            return True
        event = inbox.head()
        if isinstance(event, Closed):
            raise _ClosedEarly(event.clean)
        return False

    def _taken(self) -> bytes:
        """The expected bytes matched so far."""
        assert self._wire is not None, "only a step with wire bytes matches them"
        return self._wire[: self._matched]

    def _arrived(self, inbox: Inbox, limit: int = SHOWN) -> bytes:
        """What arrived for the expected bytes: their matched part, then what
        follows, ``limit`` bytes in all at most."""
        return self._taken() + inbox.peek(limit - self._matched)

    def _put_back(self, inbox: Inbox) -> None:
        inbox.unread(self._taken())
        self._matched = 0


class _Mismatch(Exception):
    pass


class _ClosedEarly(Exception):
    def __init__(self, clean: bool) -> None:
        super().__init__()
        self.clean = clean

    def __str__(self) -> str:
        if self.clean:
            return "the client closed the connection"
        return "the connection was reset"


class ExpectBytes(_OnTheWire):
    """The client sends exactly ``data``, split into segments however TCP likes."""

    def __init__(self, data: BytesLike, timeout: float) -> None:
        __tracebackhide__ = True
        self.data = as_bytes(data, "expect_bytes() argument 'data'")
        self.timeout = timeout
        self._wire = self.data

    def begin(self, conversation: Conversation) -> None:
        self._matched = 0

    def __str__(self) -> str:
        return f"expect_bytes({show_bytes(self.data)})"

    @property
    def progressed(self) -> bool:  # type: ignore[override]
        return self._matched > 0

    def run(self, conversation: Conversation) -> bool:
        expected, inbox = self.data, conversation.inbox
        try:
            done = self._advance(inbox)
        except _Mismatch:
            raise Stray(
                lambda: _mismatch(expected, self._arrived(inbox, len(expected)))
            ) from None
        except _ClosedEarly as closed:
            raise Failed(
                f"Expected {show_bytes(expected)} but {closed} after "
                f"{show_bytes(self._taken())}"
            ) from None
        if done:
            conversation.matched(Received(expected))
        return done

    def rewind(self, conversation: Conversation) -> None:
        self._put_back(conversation.inbox)

    def timed_out(self, conversation: Conversation) -> Failed:
        failed = Failed(f"Timed out waiting for {show_bytes(self.data)}")
        if self._matched:
            failed.details.append(f"Received only {show_bytes(self._taken())}")
        return failed


class _ExpectMessage(_OnTheWire):
    """The client sends one message of ``framing`` that ``match`` accepts.

    An exact payload in a built-in framing is matched on the wire byte by
    byte, so a wrong byte fails at once; any other message is decoded as it
    arrives and matched once it is whole.
    """

    method = ""
    noun = "frame"

    def __init__(self, match: object, timeout: float, framing: FramingLike) -> None:
        __tracebackhide__ = True
        self.framing = framing
        limit = getattr(framing, "max_payload", None)
        self.matcher = as_matcher(match, f"{self.method}() argument 'match'", limit)
        self.timeout = timeout
        if isinstance(self.matcher, Exact) and canonical(framing):
            self._wire = encode(framing, self.matcher.data)  # matched on the wire

    def begin(self, conversation: Conversation) -> None:
        if self._wire is not None:
            self._matched = 0
        else:
            self._reader = HeadReader(self.framing)

    def __str__(self) -> str:
        return f"{self.method}({self.matcher}{self._options()})"

    def _options(self) -> str:
        return (
            ""
            if self.framing == DEFAULT_FRAMING
            else f", framing={framing_name(self.framing)}"
        )

    def _expected(self) -> str:
        return self.matcher.describe(self.noun)

    @property
    def progressed(self) -> bool:  # type: ignore[override]
        return self._matched > 0

    def rewind(self, conversation: Conversation) -> None:
        if self._wire is not None:
            self._put_back(conversation.inbox)

    def run(self, conversation: Conversation) -> bool:
        if self._wire is not None:
            return self._run_exact(conversation)
        return self._run_decoded(conversation)

    def _run_exact(self, conversation: Conversation) -> bool:
        inbox = conversation.inbox
        try:
            done = self._advance(inbox)
        except _Mismatch:
            raise Stray(lambda: self._mismatch(self._arrived(inbox))) from None
        except _ClosedEarly as closed:
            raise Failed(
                f"Expected {self._expected()} but {closed} after "
                f"{show_bytes(self._taken())}"
            ) from None
        if done:
            assert isinstance(self.matcher, Exact)
            conversation.matched(Received(self.matcher.data))
        return done

    def _mismatch(self, arrived: bytes) -> list[str]:
        """The diagnostic of an exact message that differs from ``arrived``."""
        assert self._wire is not None
        lines = [
            f"Expected {self._expected()} but received {describe(self.framing, arrived)}"
        ]
        offset = _first_difference(self._wire, arrived)
        if (around := show_difference(self._wire, arrived, offset)) is not None:
            lines.append(around)
        return lines

    def _run_decoded(self, conversation: Conversation) -> bool:
        inbox = conversation.inbox
        size = self._decode(inbox)
        if size is None:
            event = inbox.next_event()
            if isinstance(event, Closed) and inbox.available() == self._reader.received:
                raise Failed(
                    f"Expected {self._expected()} but {_ClosedEarly(event.clean)} after "
                    f"{show_bytes(inbox.peek(SHOWN))}"
                )
            return False
        payload = self._payload(inbox.peek(size))
        try:
            verdict = self.matcher.check(payload)
        except UserError as error:
            raise Failed(
                f"Expected {self._expected()} but received {show_bytes(payload)}: {error}"
            ) from None
        if isinstance(verdict, str):
            reason, *more = verdict.splitlines() or [""]
            because = f": {reason}" if reason else ""
            shown = show_bytes(payload)
            raise Stray(
                lambda: [
                    f"Expected {self._expected()} but received {shown}{because}",
                    *more,
                ]
            )
        inbox.consume(size)
        conversation.matched(verdict)
        return True

    def _decode(self, inbox: Inbox) -> int | None:
        """Feed the decoder what arrived since; the message's size once whole."""
        try:
            return self._reader.size(inbox)
        except BadDecode as error:
            raise Failed(str(error)) from None
        except FramingError as error:
            problem = error  # the name of the except clause goes with it
            raise Stray(lambda: [self._not_a_message(inbox.peek(SHOWN), problem)]) from None
        except Exception as error:
            raise Failed(f"{_decode_name(self.framing)} raised {_error(error)}") from error

    def _not_a_message(self, data: bytes, error: FramingError) -> str:
        return (
            f"Expected {self._expected()} but received {show_bytes(data)}, "
            f"which is not a {self.noun}: {error}"
        )

    def _payload(self, message: bytes) -> bytes:
        """The payload of ``message``, a whole message of the step's framing."""
        try:
            decoded = checked_decode(self.framing, message)
        except BadDecode as error:
            raise Failed(str(error)) from None
        except FramingError as error:
            problem = error
            raise Stray(lambda: [self._not_a_message(message, problem)]) from None
        except Exception as error:
            raise Failed(f"{_decode_name(self.framing)} raised {_error(error)}") from error
        if decoded is None:
            raise Failed(
                f"{_decode_name(self.framing)} found a message it had measured incomplete"
            )
        return decoded[0]

    def timed_out(self, conversation: Conversation) -> Failed:
        failed = Failed(f"Timed out waiting for {self._expected()}")
        if self._wire is not None:
            arrived = self._taken()
        else:
            arrived = conversation.inbox.peek(SHOWN)
        if arrived:
            failed.details.append(f"Received only {self._incomplete(arrived)}")
        return failed

    def _incomplete(self, data: bytes) -> str:
        return show_bytes(data)


class ExpectFrame(_ExpectMessage):
    """The client sends one frame (of ``framing``) that ``match`` accepts."""

    method = "expect_frame"

    def __init__(
        self, match: MatchLike, timeout: float, framing: FramingLike | None = None
    ) -> None:
        __tracebackhide__ = True
        if framing is None:
            framing = DEFAULT_FRAMING
        else:
            framing = as_framing(framing, "expect_frame() argument 'framing'")
        super().__init__(match, timeout, framing)

    def _expected(self) -> str:
        if isinstance(self.matcher, Exact):  # as pytest-tcpclient 0.7 said it
            return f"frame {show_bytes(self.matcher.data)}"
        return super()._expected()


class ExpectLine(_ExpectMessage):
    """The client sends one line, ``match`` accepting it without its delimiter."""

    method = "expect_line"
    noun = "line"

    def __init__(
        self,
        match: MatchLike,
        timeout: float,
        delimiter: BytesLike = b"\r\n",
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        __tracebackhide__ = True
        delimiter = as_delimiter(delimiter, "expect_line() argument 'delimiter'")
        max_length = as_max_length(max_length, "expect_line() argument 'max_length'")
        super().__init__(match, timeout, Lines(delimiter, max_length))
        if isinstance(self.matcher, Exact) and delimiter in self.matcher.data:
            raise ValueError(
                f"expect_line() argument 'match' holds the delimiter {delimiter!r}: "
                "expect one line per step"
            )

    def _options(self) -> str:
        assert isinstance(self.framing, Lines)
        return (
            ""
            if self.framing.delimiter == b"\r\n"
            else (f", delimiter={self.framing.delimiter!r}")
        )

    def _expected(self) -> str:
        if isinstance(self.matcher, Exact):
            return f"a line {show_bytes(self.matcher.data)}"
        return super()._expected()

    def _incomplete(self, data: bytes) -> str:
        assert isinstance(self.framing, Lines)
        return self.framing.describe(data)


# -- what the server sends -------------------------------------------------------------


class _Send(Step):
    """The server sends ``data`` (encoded by ``framing``, if any), or what
    ``data`` returns when it is a callable, called with the message the last
    expect step on the connection matched.

    With ``chunk``, it writes the wire bytes ``chunk`` bytes at a time, each
    as a segment of its own, ``interval`` seconds apart (a slow or
    fragmenting server); the wait counts toward no step's timeout.
    """

    method = "send_bytes"
    argument = "data"

    def __init__(
        self,
        data: object,
        framing: FramingLike | None = None,
        chunk: int | None = None,
        interval: float = 0.0,
    ) -> None:
        __tracebackhide__ = True
        self.framing = framing
        limit = getattr(framing, "max_payload", None)
        self.data = as_reply(data, f"{self.method}() argument '{self.argument}'", limit)
        if chunk is not None:
            chunk = as_chunk(chunk, f"{self.method}() argument 'chunk'")
        if interval != 0.0 or type(interval) is not float:
            interval = as_seconds(interval, f"{self.method}() argument 'interval'")
        self.chunk = chunk
        self.interval = interval
        self._wire: bytes | None = None  # what is left to write, once computed
        self._ready = True

    def __str__(self) -> str:
        data = self.data
        shown = show_bytes(data) if isinstance(data, bytes) else describe_callable(data)
        pieces = "" if self.chunk is None else f", chunk={self.chunk}"
        if self.chunk is not None and self.interval:
            pieces += f", interval={self.interval:g}"
        return f"{self.method}({shown}{self._options()}{pieces})"

    def _options(self) -> str:
        return ""

    def begin(self, conversation: Conversation) -> None:
        self._wire = None
        self._ready = True

    @property
    def timer(self) -> float | None:
        return None if self._ready else self.interval

    def run(self, conversation: Conversation) -> bool:
        if self.chunk is None:  # the whole at once
            conversation.write(self._encode(self._data(conversation)))
            return True
        if self._wire is None:
            self._wire = self._encode(self._data(conversation))
        while self._ready and self._wire:
            piece, self._wire = self._wire[: self.chunk], self._wire[self.chunk :]
            conversation.write(piece, segment=True)
            self._ready = not self.interval
        return not self._wire

    def timed_out(self, conversation: Conversation) -> None:
        self._ready = True  # the interval is over: the next piece goes

    def _data(self, conversation: Conversation) -> bytes:
        data = self.data
        if isinstance(data, bytes):
            return data
        try:
            return compute(data, conversation.last)
        except UserError as error:
            raise Failed(str(error)) from None

    def _encode(self, data: bytes) -> bytes:
        if self.framing is None:
            return data
        limit = getattr(self.framing, "max_payload", None)
        if limit is not None and len(data) > limit:
            raise Failed(
                f"{self} returned {len(data)} bytes; the limit of "
                f"{self.framing!r} is {limit} bytes"
            )
        try:
            wire = encode(self.framing, data)
        except Exception as error:
            raise Failed(f"{_encoder_name(self.framing)} raised {_error(error)}") from None
        if not isinstance(wire, (bytes, bytearray, memoryview)):
            raise Failed(
                f"{_encoder_name(self.framing)} returned {wire!r} "
                f"({type(wire).__name__}), not bytes"
            )
        return bytes(wire)


class SendBytes(_Send):
    """The server sends ``data``."""

    def __init__(
        self, data: ReplyLike, chunk: int | None = None, interval: float = 0.0
    ) -> None:
        __tracebackhide__ = True
        super().__init__(data, None, chunk, interval)


class SendFrame(_Send):
    """The server sends ``payload`` as one frame of ``framing``."""

    method = "send_frame"
    argument = "payload"

    def __init__(
        self,
        payload: ReplyLike,
        framing: FramingLike | None = None,
        chunk: int | None = None,
        interval: float = 0.0,
    ) -> None:
        __tracebackhide__ = True
        if framing is None:
            framing = DEFAULT_FRAMING
        else:
            framing = as_framing(framing, "send_frame() argument 'framing'")
        super().__init__(payload, framing, chunk, interval)

    def _options(self) -> str:
        assert self.framing is not None
        return (
            ""
            if self.framing == DEFAULT_FRAMING
            else f", framing={framing_name(self.framing)}"
        )


class SendLine(_Send):
    """The server sends ``data`` and the line delimiter."""

    method = "send_line"

    def __init__(
        self,
        data: ReplyLike,
        delimiter: BytesLike = b"\r\n",
        chunk: int | None = None,
        interval: float = 0.0,
    ) -> None:
        __tracebackhide__ = True
        delimiter = as_delimiter(delimiter, "send_line() argument 'delimiter'")
        super().__init__(data, Lines(delimiter, max_length=2**63), chunk, interval)

    def _options(self) -> str:
        assert isinstance(self.framing, Lines)
        delimiter = self.framing.delimiter
        return "" if delimiter == b"\r\n" else f", delimiter={delimiter!r}"


# -- helpers -----------------------------------------------------------------------


def _mismatch(expected: bytes, actual: bytes) -> list[str]:
    """The diagnostic of ``expected`` bytes that differ from ``actual``."""
    offset = _first_difference(expected, actual)
    lines = [
        f"Expected {show_bytes(expected)} but received {show_bytes(actual)} "
        f"(first difference at offset {offset})"
    ]
    if (around := show_difference(expected, actual, offset)) is not None:
        lines.append(around)
    return lines


def _first_difference(expected: bytes | memoryview, actual: bytes | memoryview) -> int:
    return next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )


def _times(count: int) -> str:
    return "1 time" if count == 1 else f"{count} times"


def _encoder_name(framing: FramingLike) -> str:
    return f"{type(framing).__name__}.encode()"


def _decode_name(framing: FramingLike) -> str:
    return f"{type(framing).__name__}.decode()"


def _error(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
