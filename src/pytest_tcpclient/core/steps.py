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

from typing import TYPE_CHECKING, Protocol

from .arguments import as_bytes
from .framings import (
    DEFAULT_FRAMING,
    DEFAULT_MAX_LENGTH,
    FramingError,
    FramingLike,
    HeadReader,
    Lines,
    as_delimiter,
    as_framing,
    as_max_length,
    canonical,
    describe,
    encode,
)
from .inbox import Closed, Connected, Inbox
from .matching import (
    Exact,
    Received,
    Reply,
    UserError,
    as_matcher,
    as_reply,
    compute,
    describe_callable,
)
from .transcript import Transcript, show_bytes, show_difference

if TYPE_CHECKING:
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
    """Raised by a step to fail the script: the first line and the lines after it."""

    def __init__(self, summary: str, *details: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = list(details)


class Conversation(Protocol):
    """What a step sees of the script it runs in."""

    inbox: Inbox
    transcript: Transcript
    received: list[Received]
    rules: list[Rule]
    state: str
    """``"none"`` before the first connection, ``"open"``, ``"closed"``."""

    def accept(self, connection: object) -> None:
        """The connection at the head of the inbox becomes the script's."""

    def client_closed(self) -> None:
        """The script's connection ended, as the client closed it."""

    def write(self, data: bytes) -> None:
        """Send ``data`` on the script's connection."""

    def hang_up(self) -> None:
        """Close the script's connection once what was sent is flushed."""

    @property
    def first_step(self) -> bool:
        """Whether the step running is the first one declared."""


class Step:
    """One thing the script waits for or does.

    ``timeout`` is None for a step that takes no time. ``needs_connection``:
    the step fails at once if the script has no open connection. ``opens``
    and ``closes`` tell what the step does to the connection the declared
    steps leave open.
    """

    timeout: float | None = None
    needs_connection = True
    opens = False
    closes = False
    progressed = False
    """Whether the step has taken part of a message: until it has taken it
    all, no rule may read from there."""

    def begin(self) -> None:
        """The step becomes the current one: it starts from nothing."""

    def run(self, conversation: Conversation) -> bool:
        """Advance with what the inbox holds; True once the step is done."""
        raise NotImplementedError

    def timed_out(self, conversation: Conversation) -> Failed:
        """The failure of a step whose timeout ran out."""
        return Failed(f"Timed out waiting for {self}")

    def rewind(self, conversation: Conversation) -> None:
        """Put back what the step took of a message, so a rule can read it."""


# -- the connection ---------------------------------------------------------------


class ExpectConnect(Step):
    """The client opens a connection."""

    needs_connection = False
    opens = True

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __str__(self) -> str:
        return "expect_connect()"

    def run(self, conversation: Conversation) -> bool:
        if conversation.state == "open":
            raise Failed(
                "expect_connect() while a connection is open "
                "(declare expect_disconnect() or disconnect() before it)"
            )
        head = conversation.inbox.head()
        if head is None:
            return False
        assert isinstance(head, Connected)
        conversation.inbox.consume()
        conversation.accept(head.connection)
        return True

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
            raise Failed(
                "Expected the client to close the connection, but it sent "
                f"{show_bytes(inbox.peek(SHOWN))}"
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


class End(Step):
    """Teardown's last step: nothing more may have happened on the wire, and
    every rule answered as often as it had to."""

    needs_connection = False

    def __str__(self) -> str:
        return "end of script"

    def run(self, conversation: Conversation) -> bool:
        # Teardown declared a close before this step, so only a new connection
        # can be waiting here.
        if conversation.inbox.head() is not None:
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


class _Stream:
    """Matches expected wire bytes as they arrive, in place, taking them as it
    goes; a wrong byte fails at once. The base of the exact expect steps."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self.matched = 0

    def advance(self, inbox: Inbox) -> bool:
        """Take the bytes that match; True once all of them have arrived.

        :raises _Mismatch: at the first byte that does not match.
        :raises _ClosedEarly: if the connection ended first.
        """
        wire = self.wire
        while self.matched < len(wire):
            head = inbox.head()
            if head is None:
                return False
            if isinstance(head, Closed):
                raise _ClosedEarly(head.clean)
            size = min(len(head), len(wire) - self.matched)
            if not wire.startswith(head[:size], self.matched):
                raise _Mismatch()
            inbox.consume(size)
            self.matched += size
        return True

    def arrived(self, inbox: Inbox) -> bytes:
        """What arrived for the expected bytes: their matched part, then the rest."""
        return self.wire[: self.matched] + inbox.peek(SHOWN)

    def rewind(self, inbox: Inbox) -> None:
        inbox.unread(self.wire[: self.matched])
        self.matched = 0


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


class ExpectBytes(Step):
    """The client sends exactly ``data``, split into segments however TCP likes."""

    def __init__(self, data: bytes, timeout: float) -> None:
        __tracebackhide__ = True
        self.data = as_bytes(data, "expect_bytes() argument 'data'")
        self.timeout = timeout
        self._stream = _Stream(self.data)

    def begin(self) -> None:
        self._stream = _Stream(self.data)

    def __str__(self) -> str:
        return f"expect_bytes({show_bytes(self.data)})"

    @property
    def progressed(self) -> bool:  # type: ignore[override]
        return self._stream.matched > 0

    def run(self, conversation: Conversation) -> bool:
        stream, expected = self._stream, self.data
        inbox = conversation.inbox
        try:
            done = stream.advance(inbox)
        except _Mismatch:
            actual = stream.arrived(inbox)[: len(expected)]
            offset = _first_difference(expected, actual)
            failed = Failed(
                f"Expected {show_bytes(expected)} but received {show_bytes(actual)} "
                f"(first difference at offset {offset})"
            )
            if (around := show_difference(expected, actual, offset)) is not None:
                failed.details.append(around)
            raise failed from None
        except _ClosedEarly as closed:
            raise Failed(
                f"Expected {show_bytes(expected)} but {closed} after "
                f"{show_bytes(expected[: stream.matched])}"
            ) from None
        if done:
            conversation.received.append(Received(expected))
        return done

    def rewind(self, conversation: Conversation) -> None:
        self._stream.rewind(conversation.inbox)

    def timed_out(self, conversation: Conversation) -> Failed:
        failed = Failed(f"Timed out waiting for {show_bytes(self.data)}")
        if self._stream.matched:
            failed.details.append(
                f"Received only {show_bytes(self.data[: self._stream.matched])}"
            )
        return failed


class _ExpectMessage(Step):
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
        self._wire: bytes | None = None  # what an exact payload is on the wire
        if isinstance(self.matcher, Exact) and canonical(framing):
            self._wire = encode(framing, self.matcher.data)
        self.begin()

    def begin(self) -> None:
        if self._wire is not None:
            self._stream: _Stream | None = _Stream(self._wire)
            return
        self._stream = None
        self._reader = HeadReader(self.framing)

    def __str__(self) -> str:
        return f"{self.method}({self.matcher}{self._options()})"

    def _options(self) -> str:
        return "" if self.framing == DEFAULT_FRAMING else f", framing={self.framing!r}"

    def _expected(self) -> str:
        return self.matcher.describe(self.noun)

    @property
    def progressed(self) -> bool:  # type: ignore[override]
        return self._stream is not None and self._stream.matched > 0

    def rewind(self, conversation: Conversation) -> None:
        if self._stream is not None:
            self._stream.rewind(conversation.inbox)

    def run(self, conversation: Conversation) -> bool:
        if self._stream is not None:
            return self._run_exact(conversation)
        return self._run_decoded(conversation)

    def _run_exact(self, conversation: Conversation) -> bool:
        stream, inbox = self._stream, conversation.inbox
        assert stream is not None
        try:
            done = stream.advance(inbox)
        except _Mismatch:
            actual = describe(self.framing, stream.arrived(inbox))
            raise Failed(f"Expected {self._expected()} but received {actual}") from None
        except _ClosedEarly as closed:
            raise Failed(
                f"Expected {self._expected()} but {closed} after "
                f"{show_bytes(stream.wire[: stream.matched])}"
            ) from None
        if done:
            assert isinstance(self.matcher, Exact)
            conversation.received.append(Received(self.matcher.data))
        return done

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
        message = inbox.peek(size)
        payload = self._payload(message)
        try:
            verdict = self.matcher.check(payload)
        except UserError as error:
            raise Failed(
                f"Expected {self._expected()} but received {show_bytes(payload)}: {error}"
            ) from None
        if isinstance(verdict, str):
            reason, *more = verdict.splitlines() or [""]
            because = f": {reason}" if reason else ""
            raise Failed(
                f"Expected {self._expected()} but received {show_bytes(payload)}{because}",
                *more,
            )
        inbox.consume(size)
        conversation.received.append(verdict)
        return True

    def _decode(self, inbox: Inbox) -> int | None:
        """Feed the decoder what arrived since; the message's size once whole."""
        try:
            return self._reader.size(inbox)
        except FramingError as error:
            shown = show_bytes(inbox.peek(SHOWN))
            raise Failed(
                f"Expected {self._expected()} but received {shown}, "
                f"which is not a {self.noun}: {error}"
            ) from None
        except Exception as error:
            raise Failed(f"{_decode_name(self.framing)} raised {_error(error)}") from error

    def _payload(self, message: bytes) -> bytes:
        try:
            decoded = self.framing.decode(message)
            if decoded is None:
                raise FramingError("decode() found the whole message incomplete")
            return bytes(decoded[0])
        except Exception as error:
            raise Failed(f"{_decode_name(self.framing)} raised {_error(error)}") from error

    def timed_out(self, conversation: Conversation) -> Failed:
        failed = Failed(f"Timed out waiting for {self._expected()}")
        if self._stream is not None:
            arrived = self._stream.wire[: self._stream.matched]
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
        self, match: object, timeout: float, framing: FramingLike | None = None
    ) -> None:
        __tracebackhide__ = True
        if framing is None:
            framing = DEFAULT_FRAMING
        else:
            framing = as_framing(framing, "expect_frame() argument 'framing'")
        super().__init__(match, timeout, framing)

    def _expected(self) -> str:
        if isinstance(self.matcher, Exact):  # as the seed said it
            return f"frame {show_bytes(self.matcher.data)}"
        return super()._expected()


class ExpectLine(_ExpectMessage):
    """The client sends one line, ``match`` accepting it without its delimiter."""

    method = "expect_line"
    noun = "line"

    def __init__(
        self,
        match: object,
        timeout: float,
        delimiter: bytes = b"\r\n",
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        __tracebackhide__ = True
        delimiter = as_delimiter(delimiter, "expect_line() argument 'delimiter'")
        max_length = as_max_length(max_length, "expect_line() argument 'max_length'")
        super().__init__(match, timeout, Lines(delimiter, max_length))

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
    expect step matched."""

    method = "send_bytes"
    argument = "data"

    def __init__(self, data: object, framing: FramingLike | None = None) -> None:
        __tracebackhide__ = True
        self.framing = framing
        limit = getattr(framing, "max_payload", None)
        self.data = as_reply(data, f"{self.method}() argument '{self.argument}'", limit)

    def __str__(self) -> str:
        data = self.data
        shown = show_bytes(data) if isinstance(data, bytes) else describe_callable(data)
        return f"{self.method}({shown}{self._options()})"

    def _options(self) -> str:
        return ""

    def run(self, conversation: Conversation) -> bool:
        data = self.data
        if not isinstance(data, bytes):
            last = conversation.received[-1] if conversation.received else None
            try:
                data = compute(data, last)
            except UserError as error:
                raise Failed(str(error)) from None
        conversation.write(self._encode(data))
        return True

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
            return encode(self.framing, data)
        except Exception as error:
            encoder = f"{type(self.framing).__name__}.encode()"
            raise Failed(f"{encoder} raised {_error(error)}") from None


class SendBytes(_Send):
    """The server sends ``data``."""

    def __init__(self, data: bytes | Reply) -> None:
        __tracebackhide__ = True
        super().__init__(data)


class SendFrame(_Send):
    """The server sends ``payload`` as one frame of ``framing``."""

    method = "send_frame"
    argument = "payload"

    def __init__(self, payload: bytes | Reply, framing: FramingLike | None = None) -> None:
        __tracebackhide__ = True
        if framing is None:
            framing = DEFAULT_FRAMING
        else:
            framing = as_framing(framing, "send_frame() argument 'framing'")
        super().__init__(payload, framing)

    def _options(self) -> str:
        return "" if self.framing == DEFAULT_FRAMING else f", framing={self.framing!r}"


class SendLine(_Send):
    """The server sends ``data`` and the line delimiter."""

    method = "send_line"

    def __init__(self, data: bytes | Reply, delimiter: bytes = b"\r\n") -> None:
        __tracebackhide__ = True
        delimiter = as_delimiter(delimiter, "send_line() argument 'delimiter'")
        super().__init__(data, Lines(delimiter, max_length=2**63))

    def _options(self) -> str:
        assert isinstance(self.framing, Lines)
        delimiter = self.framing.delimiter
        return "" if delimiter == b"\r\n" else f", delimiter={delimiter!r}"


# -- helpers -----------------------------------------------------------------------


def _first_difference(expected: bytes | memoryview, actual: bytes | memoryview) -> int:
    return next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )


def _times(count: int) -> str:
    return "1 time" if count == 1 else f"{count} times"


def _decode_name(framing: FramingLike) -> str:
    return f"{type(framing).__name__}.decode()"


def _error(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
