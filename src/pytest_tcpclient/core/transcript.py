"""A short, bounded record of a conversation, for failure messages."""

from __future__ import annotations

from collections import deque

__all__ = ["Transcript", "show_bytes", "show_difference"]

HEAD = 48
"""Bytes shown from the start of a long payload."""
TAIL = 16
"""Bytes shown from the end of a long payload."""
WINDOW = 16
"""Bytes shown before the first difference of two payloads, and twice as many
from it on."""


def show_bytes(data: bytes, head: int = HEAD, tail: int = TAIL) -> str:
    """Return ``data`` as a Python bytes literal, abbreviated if it is long.

    >>> show_bytes(b"hi")
    "b'hi'"
    >>> show_bytes(bytes(100), head=2, tail=1)
    "b'\\\\x00\\\\x00' ... b'\\\\x00' (100 bytes)"
    """
    if len(data) <= head + tail:
        return repr(bytes(data))
    return f"{bytes(data[:head])!r} ... {bytes(data[-tail:])!r} ({len(data)} bytes)"


def show_difference(expected: bytes, actual: bytes, offset: int) -> str | None:
    """Both payloads around ``offset``, where they first differ, when
    :func:`show_bytes` would hide it (in the middle of a long payload); else None.

    The line shows :data:`WINDOW` bytes of each before the offset and twice as
    many from it on, both from the same offset, so they read one above the
    other: ``From offset 65: expected b'...blue...' but received b'...blew...'``.
    """
    if offset < HEAD or max(len(expected), len(actual)) <= HEAD + TAIL:
        return None
    start, end = offset - WINDOW, offset + 2 * WINDOW
    return (
        f"From offset {start}: expected {bytes(expected[start:end])!r} "
        f"but received {bytes(actual[start:end])!r}"
    )


class _Run:
    """Consecutive bytes in one direction: keeps a head, a tail and a count."""

    __slots__ = ("head", "size", "tail", "who")

    def __init__(self, who: str, data: bytes) -> None:
        self.who = who
        self.head = data[: HEAD + TAIL]
        self.tail = data[-TAIL:]
        self.size = len(data)

    def add(self, data: bytes) -> None:
        # The head keeps up to HEAD + TAIL bytes, so a short run is kept whole.
        if len(self.head) < HEAD + TAIL:
            self.head += data[: HEAD + TAIL - len(self.head)]
        self.tail = (self.tail + data[-TAIL:])[-TAIL:]
        self.size += len(data)

    def __str__(self) -> str:
        if self.size <= HEAD + TAIL:
            return f"{self.who} {self.head!r}"
        return f"{self.who} {self.head[:HEAD]!r} ... {self.tail!r} ({self.size} bytes)"


class Transcript:
    """What happened on the wire, oldest first, in bounded memory.

    Consecutive writes in one direction are merged into one line, since TCP
    does not keep write boundaries anyway. Only the last ``limit`` lines are
    kept.
    """

    def __init__(self, limit: int = 12) -> None:
        self._lines: deque[str | _Run] = deque(maxlen=limit)
        self._count = 0  # lines ever added: those the deque dropped are the rest

    def event(self, text: str) -> None:
        """Record an event without payload, such as ``"client connected"``."""
        self._append(text)

    def received(self, data: bytes, label: str = "") -> None:
        """Record bytes the client sent (on the connection ``label`` names)."""
        self._bytes(f"{label}client sent", data)

    def sent(self, data: bytes, label: str = "") -> None:
        """Record bytes the server sent (on the connection ``label`` names)."""
        self._bytes(f"{label}server sent", data)

    def _bytes(self, who: str, data: bytes) -> None:
        lines = self._lines
        if lines:
            last = lines[-1]
            if isinstance(last, _Run) and last.who == who:
                last.add(data)
                return
        self._append(_Run(who, data))

    def _append(self, line: str | _Run) -> None:
        self._count += 1
        self._lines.append(line)

    def lines(self) -> list[str]:
        """The transcript as text lines."""
        dropped = self._count - len(self._lines)
        out = [f"({dropped} earlier events)"] if dropped else []
        out.extend(str(line) for line in self._lines)
        return out or ["(nothing happened)"]
