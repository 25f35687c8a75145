"""What the client did and no step has taken yet: events and bytes, in order.

The bytes stay in the segments they arrived in. Steps compare them in place,
read them from any position without joining what they read before, and take
them once a whole message is there, so what a step costs stays linear in the
bytes received however TCP splits them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Closed", "Inbox"]


@dataclass(frozen=True)
class Closed:
    """The connection ended: closed by the client if ``clean``, else reset.

    ``problem`` is what the driver knows was wrong with how the client closed.
    """

    clean: bool
    problem: str | None = None


Event = Closed
"""What the inbox holds besides bytes (a connection's inbox is made when the
client connects, so a close is the only event it sees)."""
COMPACT = 1024
"""Entries taken before the inbox drops them from its lists."""


class Inbox:
    """Events and byte segments from the client, read in place.

    Every byte has a position: the number of bytes received before it. The
    inbox holds the bytes from :attr:`position` on, the first unread one.
    """

    def __init__(self) -> None:
        self._items: list[Event | bytes] = []
        self._starts: list[int] = []  # the position of each item's first byte
        self._head = 0  # index of the first item not yet taken
        self._offset = 0  # bytes of that item already taken
        self._end = 0  # the position after the last byte received
        self._events: list[tuple[int, Event]] = []  # each event and its position
        self._events_taken = 0
        self.position = 0
        """The position of the first unread byte."""

    def push(self, item: Event | bytes) -> None:
        """Add an event or a segment of bytes (not empty) at the end."""
        self._items.append(item)
        self._starts.append(self._end)
        if isinstance(item, bytes):
            self._end += len(item)
        else:
            self._events.append((self._end, item))

    def head(self) -> Event | bytes | memoryview | None:
        """The oldest item; bytes partly taken come as a view of the rest."""
        if self._head >= len(self._items):
            return None
        item = self._items[self._head]
        if isinstance(item, bytes) and self._offset:
            return memoryview(item)[self._offset :]
        return item

    def available(self) -> int:
        """How many unread bytes come before the next event (or the end)."""
        if self._events_taken < len(self._events):
            return self._events[self._events_taken][0] - self.position
        return self._end - self.position

    def next_event(self) -> Event | None:
        """The first event not taken yet, after the unread bytes before it."""
        if self._events_taken < len(self._events):
            return self._events[self._events_taken][1]
        return None

    def read(self, start: int) -> Iterator[tuple[bytes, int]]:
        """The unread bytes from position ``start`` on, up to the next event,
        without taking them: each segment as ``(segment, offset)``, the bytes
        from ``offset`` on being the ones that follow."""
        items, starts = self._items, self._starts
        index = bisect_left(starts, start, self._head)
        if index > self._head:  # inside the segment before?
            previous = items[index - 1]
            if isinstance(previous, bytes) and starts[index - 1] + len(previous) > start:
                index -= 1
        while index < len(items):
            item = items[index]
            if not isinstance(item, bytes):
                return
            offset = max(start - starts[index], 0)
            if offset < len(item):  # pragma: no branch - no item is empty
                yield item, offset
            index += 1

    def match(self, expected: bytes, start: int) -> tuple[int, bool]:
        """Take the unread bytes that continue ``expected`` from ``start`` on,
        up to its end or the next event. Return the position in ``expected``
        reached, and False if the bytes there differ from it: the segment
        that differs is not taken."""
        items = self._items
        end = len(expected)
        while start < end and self._head < len(items):
            item = items[self._head]
            if not isinstance(item, bytes):
                break
            offset = self._offset
            size = min(len(item) - offset, end - start)
            if not item.startswith(expected[start : start + size], offset):
                return start, False
            start += size
            self.position += size
            if offset + size == len(item):
                self._advance()
            else:
                self._offset = offset + size
        return start, True

    def peek(self, limit: int) -> bytes:
        """Up to ``limit`` unread bytes, before the next event, without taking them."""
        parts, wanted = [], limit
        for segment, offset in self.read(self.position):
            if wanted <= 0:
                break
            parts.append(segment[offset : offset + wanted])
            wanted -= len(parts[-1])
        return b"".join(parts)

    def consume(self, size: int = 0) -> None:
        """Take ``size`` bytes, or, at an event, the event."""
        if self._head >= len(self._items):
            return
        if not isinstance(self._items[self._head], bytes):
            self._events_taken += 1
            self._advance()
            return
        while size > 0:
            item = self._items[self._head]
            assert isinstance(item, bytes), "consume() crossed an event"
            step = min(size, len(item) - self._offset)
            self._offset += step
            self.position += step
            size -= step
            if self._offset == len(item):
                self._advance()

    def unread(self, data: bytes) -> None:
        """Put ``data``, bytes just taken, back in front of the unread ones."""
        if not data:
            return
        start = self.position - len(data)
        if self._offset:  # pragma: no cover - a stream stops at the end of a segment
            # Split the head: its taken part is gone.
            item = self._items[self._head]
            assert isinstance(item, bytes), "only bytes are taken in part"
            self._items[self._head] = item[self._offset :]
            self._starts[self._head] = self.position
            self._offset = 0
        self._items.insert(self._head, data)
        self._starts.insert(self._head, start)
        self.position = start

    def clear(self) -> None:
        """Drop everything unread."""
        self._items.clear()
        self._starts.clear()
        self._head = self._offset = 0
        self._events_taken = len(self._events)
        self.position = self._end

    def _advance(self) -> None:
        self._items[self._head] = b""  # taken: its bytes go now, its place at compaction
        self._head += 1
        self._offset = 0
        if self._head >= COMPACT and self._head * 2 >= len(self._items):
            del self._items[: self._head]
            del self._starts[: self._head]
            self._head = 0
