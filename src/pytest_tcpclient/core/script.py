"""The script as a pure state machine, in the sans-IO style.

:class:`Script` knows no sockets, reactors or clocks. It is told what the
client did (:meth:`~Script.connection_made`, :meth:`~Script.data_received`,
:meth:`~Script.connection_lost`), that time ran out (:meth:`~Script.timed_out`)
or that a step was declared (:meth:`~Script.add`), and each call returns the
actions the driver must carry out: write bytes, close a connection, start or
cancel the one step timer. :mod:`.protocol` is the Twisted driver.

What the client does is queued in an inbox, in order; the steps consume it.
Bytes stay in the segments they arrived in and are compared in place with
``bytes.startswith``, so matching costs time linear in the bytes received,
however TCP splits or merges them.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Union

from .steps import (
    Disconnect,
    End,
    ExpectBytes,
    ExpectConnect,
    ExpectDisconnect,
    ExpectFrame,
    SendBytes,
    SendFrame,
    Step,
)
from .transcript import Transcript, show_bytes, show_difference
from .wire import HEADER, HEADER_SIZE

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


class _Failed(Exception):
    """Raised inside the machine to fail the current step."""

    def __init__(self, summary: str, *details: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = list(details)


# -- the inbox: what the client did, in order -------------------------------


@dataclass(frozen=True)
class _Connected:
    connection: Connection


@dataclass(frozen=True)
class _Closed:
    clean: bool
    problem: str | None = None


class _State(enum.Enum):
    """The connection as the script sees it."""

    NONE = enum.auto()
    OPEN = enum.auto()
    CLOSED = enum.auto()


class _Inbox:
    """Events from the client; bytes kept in their segments, read in place."""

    def __init__(self) -> None:
        self._items: deque[_Connected | _Closed | bytes] = deque()
        self._offset = 0  # bytes already consumed from the head segment

    def push(self, item: _Connected | _Closed | bytes) -> None:
        self._items.append(item)

    def head(self) -> _Connected | _Closed | bytes | memoryview | None:
        """The oldest event; bytes partly read come as a view of the rest."""
        if not self._items:
            return None
        item = self._items[0]
        if isinstance(item, bytes) and self._offset:
            return memoryview(item)[self._offset :]
        return item

    def consume(self, size: int = 0) -> None:
        """Drop ``size`` bytes of the head segment, or the whole head event."""
        item = self._items[0]
        if isinstance(item, bytes) and self._offset + size < len(item):
            self._offset += size
            return
        self._items.popleft()
        self._offset = 0

    def peek_bytes(self, limit: int) -> bytes:
        """Up to ``limit`` unread bytes, without consuming them."""
        parts, wanted = [], limit
        for index, item in enumerate(self._items):
            if not isinstance(item, bytes) or wanted <= 0:
                break
            start = self._offset if index == 0 else 0
            parts.append(item[start : start + wanted])
            wanted -= len(parts[-1])
        return b"".join(parts)

    def clear(self) -> None:
        self._items.clear()
        self._offset = 0


def _first_difference(expected: bytes | memoryview, actual: bytes | memoryview) -> int:
    return next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )


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
        self.transcript = Transcript()
        self.failure: ScriptFailure | None = None
        self._index = 0
        self._inbox = _Inbox()
        self._state = _State.NONE
        self._declared_state = _State.NONE
        self._active: Connection | None = None
        self._open: list[Connection] = []  # physically open connections
        self._closing: Connection | None = None  # closed by disconnect()
        self._timer = False  # a timer runs...
        self._idle_timer = False  # ...and it is the idle one, not a step's
        self._actions: list[Action] = []
        # Progress of the current step.
        self._matched = 0
        self._header = b""

    # -- what the driver reads ----------------------------------------------

    @property
    def completed(self) -> int:
        """How many steps are done."""
        return self._index

    @property
    def connection_open(self) -> bool:
        """Whether the declared steps leave a connection open."""
        return self._declared_state is _State.OPEN

    # -- inputs ---------------------------------------------------------------

    def add(self, step: Step) -> list[Action]:
        """Declare one more step."""
        self.steps.append(step)
        if isinstance(step, ExpectConnect):
            self._declared_state = _State.OPEN
        elif isinstance(step, (ExpectDisconnect, Disconnect)):
            self._declared_state = _State.CLOSED
        if self._index < len(self.steps) - 1:
            # An earlier step is waiting, and nothing it waits for has come.
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
                _Failed(
                    "Expected one connection at a time, "
                    "but the client opened a second one while the first was open"
                )
            )
        self._inbox.push(_Connected(connection))
        return self._run()

    def data_received(self, connection: Connection, data: bytes) -> list[Action]:
        """The client sent ``data`` on ``connection``."""
        if not data:
            return []
        self.transcript.received(data)
        if self.failure is not None or connection == self._closing:
            return []
        self._inbox.push(data)
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
        self._inbox.push(_Closed(clean, problem))
        return self._run()

    def stop(self) -> list[Action]:
        """The server stops: a step still pending fails, so no wait is left open."""
        if self.failure is not None:
            return []
        if self._index >= len(self.steps):
            self._stop_timer()  # the idle one
            return self._take_actions()
        step = self.steps[self._index]
        return self._fail(_Failed(f"The server stopped before {step} was done"))

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
        return self._fail(self._timeout(self.steps[self._index]))

    # -- running steps ----------------------------------------------------------

    def _run(self) -> list[Action]:
        while self.failure is None and self._index < len(self.steps):
            step = self.steps[self._index]
            try:
                done = self._try(step)
            except _Failed as failed:
                return self._fail(failed)
            if not done:
                if self._idle_timer:  # the script was idle: the step times itself
                    self._stop_timer()
                timeout = getattr(step, "timeout", None)
                if not self._timer and timeout is not None:
                    self._timer = True
                    self._actions.append(StartTimer(timeout))
                break
            self._stop_timer()
            self._index += 1
            self._matched = 0
            self._header = b""
        else:
            self._watch_idle()
        return self._take_actions()

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
            and self._state is _State.OPEN
            and self._active in self._open
        )
        if idle and not self._timer:
            self._timer = self._idle_timer = True
            self._actions.append(StartTimer(self.idle_timeout))  # type: ignore[arg-type]
        elif not idle and self._idle_timer:
            self._stop_timer()

    def _idle_failure(self) -> _Failed:
        self.transcript.event("timed out after the last step")
        failed = _Failed(
            "Timed out waiting for the client to close the connection after the last step",
            "The script has no more steps: if the client waits for a reply, declare it "
            "(send_bytes(), send_frame()).",
        )
        unread = self._inbox.peek_bytes(1 << 20)
        if unread:
            failed.details.append(
                f"The client sent {show_bytes(unread)}, which no step reads."
            )
        return failed

    def _take_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def _fail(self, failed: _Failed) -> list[Action]:
        if self._index < len(self.steps):
            self.transcript.event(f"failed at {self.steps[self._index]}")
        self.failure = ScriptFailure(
            failed.summary, failed.details, self.transcript.lines()
        )
        self._stop_timer()
        self._actions.extend(Close(connection) for connection in self._open)
        self._inbox.clear()
        return self._take_actions()

    def _try(self, step: Step) -> bool:
        """Advance ``step`` with what the inbox holds; True once it is done."""
        kind = type(step)
        if kind is not ExpectConnect and kind is not End:
            self._need_connection(step)
        return self._steps[kind](self, step)

    def _send_bytes(self, step: SendBytes) -> bool:
        self._write(step.data)
        return True

    def _send_frame(self, step: SendFrame) -> bool:
        self._write(HEADER.pack(len(step.payload)))
        self._write(step.payload)
        return True

    def _disconnect(self, step: Disconnect) -> bool:
        self.transcript.event("server closed the connection")
        self._actions.append(Close(self._active))
        self._closing, self._active = self._active, None
        self._state = _State.CLOSED
        self._inbox.clear()  # what the client sent unread goes with it
        return True

    def _need_connection(self, step: Step) -> None:
        if self._state is _State.OPEN:
            return
        if self._state is _State.NONE:
            raise _Failed(
                f"{step} needs a connection, but none was made "
                "(declare expect_connect() before it)"
            )
        raise _Failed(f"{step} needs a connection, but it was already closed")

    def _write(self, data: bytes) -> None:
        self.transcript.sent(data)
        self._actions.append(Write(self._active, data))

    def _expect_connect(self, step: ExpectConnect) -> bool:
        if self._state is _State.OPEN:
            raise _Failed(
                "expect_connect() while a connection is open "
                "(declare expect_disconnect() or disconnect() before it)"
            )
        head = self._inbox.head()
        if head is None:
            return False
        assert isinstance(head, _Connected)
        self._inbox.consume()
        self._active = head.connection
        self._state = _State.OPEN
        return True

    def _expect_disconnect(self, step: ExpectDisconnect) -> bool:
        head = self._inbox.head()
        if head is None:
            return False
        if isinstance(head, (bytes, memoryview)):
            raise _Failed(
                "Expected the client to close the connection, but it sent "
                f"{show_bytes(self._inbox.peek_bytes(1 << 20))}"
            )
        assert isinstance(head, _Closed)
        if head.problem is not None:
            reset = "" if head.clean else " (the connection was reset)"
            raise _Failed(
                f"Expected the client to close the connection cleanly, "
                f"but {head.problem}{reset}"
            )
        if not head.clean:
            raise _Failed(
                "Expected the client to close the connection, but the connection was reset"
            )
        self._inbox.consume()
        self._state = _State.CLOSED
        self._active = None
        return True

    def _end(self, step: End) -> bool:
        # Teardown declared a close before this step, so only a new connection
        # can be waiting here.
        if self._inbox.head() is None:
            return True
        if len(self.steps) == 1:
            raise _Failed("Expected no connection, but a client connected")
        raise _Failed("Expected nothing more, but the client connected again")

    def _match(self, expected: bytes) -> bool:
        """Consume bytes matching ``expected`` from ``self._matched`` on.

        Returns True once all of ``expected`` has arrived, False if more is
        needed; raises :class:`_Mismatch` or :class:`_ClosedEarly`.
        """
        while self._matched < len(expected):
            head = self._inbox.head()
            if head is None:
                return False
            if isinstance(head, _Closed):
                raise _ClosedEarly(head.clean)
            size = min(len(head), len(expected) - self._matched)
            if not expected.startswith(head[:size], self._matched):
                raise _Mismatch()
            self._inbox.consume(size)
            self._matched += size
        return True

    def _received(self, expected: bytes, limit: int) -> bytes:
        """What arrived for ``expected``: its matched prefix, then unread bytes."""
        return expected[: self._matched] + self._inbox.peek_bytes(limit)

    def _expect_bytes(self, step: ExpectBytes) -> bool:
        expected = step.data
        try:
            return self._match(expected)
        except _Mismatch:
            actual = self._received(expected, len(expected) - self._matched)
            offset = _first_difference(expected, actual)
            failed = _Failed(
                f"Expected {show_bytes(expected)} but received {show_bytes(actual)} "
                f"(first difference at offset {offset})"
            )
            if (around := show_difference(expected, actual, offset)) is not None:
                failed.details.append(around)
            raise failed from None
        except _ClosedEarly as closed:
            raise _Failed(
                f"Expected {show_bytes(expected)} but {closed} after "
                f"{show_bytes(expected[: self._matched])}"
            ) from None

    def _expect_frame(self, step: ExpectFrame) -> bool:
        header = HEADER.pack(len(step.payload))
        try:
            if len(self._header) < HEADER_SIZE:
                done = self._match(header)
                self._header = header[: self._matched]
                if not done:
                    return False
                self._matched = 0
            return self._match(step.payload)
        except _Mismatch:
            raise _Failed(
                f"Expected frame {show_bytes(step.payload)} but received "
                f"{self._actual_frame(step, header)}"
            ) from None
        except _ClosedEarly as closed:
            raise _Failed(
                f"Expected frame {show_bytes(step.payload)} but {closed} after "
                f"{show_bytes(self._frame_received(step, header))}"
            ) from None

    def _frame_received(self, step: ExpectFrame, header: bytes) -> bytes:
        """The wire bytes of the expected frame that have arrived so far."""
        if len(self._header) < HEADER_SIZE:
            return header[: self._matched]
        return header + step.payload[: self._matched]

    def _actual_frame(self, step: ExpectFrame, header: bytes) -> str:
        """Describe the frame that arrived instead of the expected one."""
        if len(self._header) < HEADER_SIZE:  # the length differs
            unread = HEADER_SIZE - self._matched
            raw = self._received(header, unread)
            if len(raw) < HEADER_SIZE:
                return f"a frame header starting {show_bytes(raw)}"
            (size,) = HEADER.unpack(raw)
            payload = self._inbox.peek_bytes(unread + size)[unread:]
        else:
            size = len(step.payload)
            payload = self._received(step.payload, size - self._matched)
        if len(payload) == size:
            return f"frame {show_bytes(payload)}"
        return f"a frame of {size} bytes, of which {show_bytes(payload)} arrived"

    def _timeout(self, step: Step) -> _Failed:
        if isinstance(step, ExpectBytes):
            failed = _Failed(f"Timed out waiting for {show_bytes(step.data)}")
            if self._matched:
                failed.details.append(
                    f"Received only {show_bytes(step.data[: self._matched])}"
                )
            return failed
        if isinstance(step, ExpectFrame):
            failed = _Failed(f"Timed out waiting for frame {show_bytes(step.payload)}")
            received = self._frame_received(step, HEADER.pack(len(step.payload)))
            if received:
                failed.details.append(f"Received only {show_bytes(received)}")
            return failed
        if isinstance(step, ExpectConnect):
            return _Failed("Timed out waiting for a connection")
        failed = _Failed("Timed out waiting for the client to close the connection")
        if isinstance(step, ExpectDisconnect) and step.at_teardown:
            failed.details.append(
                "The test left the connection open, so teardown expects the client to "
                "close it: close the client before the test ends, or declare disconnect()."
            )
        return failed


Script._steps = {
    ExpectConnect: Script._expect_connect,
    ExpectBytes: Script._expect_bytes,
    ExpectFrame: Script._expect_frame,
    ExpectDisconnect: Script._expect_disconnect,
    SendBytes: Script._send_bytes,
    SendFrame: Script._send_frame,
    Disconnect: Script._disconnect,
    End: Script._end,
}
"""How to run each kind of step."""


class _Mismatch(Exception):
    pass


class _ClosedEarly(Exception):
    def __init__(self, clean: bool) -> None:
        super().__init__()
        self.clean = clean

    def __str__(self) -> str:
        return (
            "the client closed the connection" if self.clean else "the connection was reset"
        )
