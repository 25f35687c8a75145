"""How a message is matched, what it matched, and user code called safely.

An expect step or a rule takes a ``match``: ``bytes`` (the message exactly),
a compiled ``re.Pattern[bytes]`` (it must match the whole message) or a
callable that takes the message and returns a true value to accept it.
:func:`as_matcher` checks it at the call and returns a :class:`Matcher`.
A step that matched keeps a :class:`Received`, which computed replies get.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable

from .arguments import BytesLike, as_bytes
from .transcript import show_bytes

__all__ = [
    "Exact",
    "Matcher",
    "Pattern",
    "Predicate",
    "Received",
    "UserError",
    "as_matcher",
    "as_reply",
    "describe_callable",
]

MatchLike = BytesLike | re.Pattern[bytes] | Callable[[bytes], object]
"""What ``match`` may be: the message exactly, a pattern matching all of it,
or a callable that returns a true value for it."""


class Received:
    """A message an expect step (or a rule) matched.

    ``data`` is the message (a line without its delimiter, a frame's payload);
    ``match`` the :class:`re.Match` of a pattern, else None. ``received[name]``
    is the named group ``name`` of the match.
    """

    __slots__ = ("data", "match")

    def __init__(self, data: bytes, match: re.Match[bytes] | None = None) -> None:
        self.data = data
        self.match = match

    def __repr__(self) -> str:
        return f"Received({self.data!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Received):
            return self.data == other.data
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.data)

    def __getitem__(self, name: str | int) -> bytes:
        if self.match is None:
            raise KeyError(
                f"{name!r}: the message {show_bytes(self.data)} was not matched by a "
                "pattern, so it has no groups"
            )
        try:
            group = self.match[name]
        except IndexError:
            raise KeyError(f"{name!r}: the pattern has no such group") from None
        return group if group is not None else b""


class UserError(Exception):
    """User code (a matcher, a reply, a framing) raised or returned nonsense;
    ``str()`` says what, for the diagnostic."""


class Matcher:
    """Decides whether a message matches, and says what it expects."""

    def describe(self, noun: str) -> str:
        """What it expects, as in ``Expected <describe> but ...``."""
        raise NotImplementedError

    def check(self, data: bytes) -> Received | str:
        """A :class:`Received` if ``data`` matches, else why not (maybe "")."""
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError


class Exact(Matcher):
    """The message is exactly ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def describe(self, noun: str) -> str:
        return f"{noun} {show_bytes(self.data)}"

    def check(self, data: bytes) -> Received | str:
        return Received(data) if data == self.data else ""

    def __str__(self) -> str:
        return show_bytes(self.data)


class Pattern(Matcher):
    """The pattern matches the whole message."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern

    def describe(self, noun: str) -> str:
        return f"a {noun} matching {self.pattern!r}"

    def check(self, data: bytes) -> Received | str:
        match = self.pattern.fullmatch(data)
        return Received(data, match) if match is not None else ""

    def __str__(self) -> str:
        return repr(self.pattern)


class Predicate(Matcher):
    """The callable accepts the message: it returns a true value.

    An ``AssertionError`` it raises is a refusal, its message the reason; any
    other exception is a :class:`UserError`.
    """

    def __init__(self, accept: Callable[[bytes], object]) -> None:
        self.accept = accept
        self._name = describe_callable(accept)

    def describe(self, noun: str) -> str:
        return f"a {noun} accepted by {self._name}"

    def check(self, data: bytes) -> Received | str:
        try:
            verdict = self.accept(data)
        except AssertionError as error:
            return str(error).strip() or "AssertionError"
        except Exception as error:
            raise UserError(f"{self._name} raised {_exception(error)}") from error
        if verdict:
            return Received(data)
        return f"it returned {verdict!r}"

    def __str__(self) -> str:
        return self._name


def as_matcher(value: object, what: str, limit: int | None = None) -> Matcher:
    """Check a ``match`` argument (``what`` names it) and return its matcher;
    exact bytes may be ``limit`` bytes long at most.

    :raises TypeError: for another type, or a ``str`` pattern.
    :raises ValueError: for bytes longer than ``limit``.
    """
    __tracebackhide__ = True
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Exact(as_bytes(value, what, limit))
    if isinstance(value, re.Pattern):
        if not isinstance(value.pattern, bytes):
            raise TypeError(
                f"{what} must be a bytes pattern, not a str pattern {value.pattern!r} "
                "(compile it from bytes: re.compile(rb'...'))"
            )
        return Pattern(value)
    if callable(value) and not isinstance(value, type):
        return Predicate(value)
    raise TypeError(
        f"{what} must be bytes, a compiled bytes pattern or a callable, "
        f"not {type(value).__name__}"
    )


Reply = Callable[[Received | None], bytes]
"""A computed reply: called with what the last expect step on the connection matched."""
ReplyLike = BytesLike | Callable[[Received | None], BytesLike]
"""What a step's ``data`` may be: bytes, or a callable that returns them, given
what the last expect step on the connection matched (None if none did)."""


def as_reply(value: object, what: str, limit: int | None = None) -> bytes | Reply:
    """Check a ``data`` argument that may be bytes (at most ``limit`` long) or a
    callable returning bytes."""
    __tracebackhide__ = True
    if isinstance(value, (bytes, bytearray, memoryview)):
        return as_bytes(value, what, limit)
    if callable(value) and not isinstance(value, type):
        return value
    raise TypeError(
        f"{what} must be bytes, bytearray, memoryview or a callable returning bytes, "
        f"not {type(value).__name__}"
    )


def compute(reply: Reply, received: Received | None) -> bytes:
    """Call a computed reply; a :class:`UserError` if it raises or returns no bytes."""
    name = describe_callable(reply)
    try:
        data = reply(received)
    except Exception as error:
        raise UserError(f"{name} raised {_exception(error)}") from error
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UserError(f"{name} returned {data!r} ({type(data).__name__}), not bytes")
    return bytes(data)


def describe_callable(function: Callable[..., object]) -> str:
    """``name (file.py:line)``: how a diagnostic names user code."""
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    name = name.rsplit(".<locals>.", 1)[-1]  # where it was defined is in the file
    target = inspect.unwrap(function) if inspect.isfunction(function) else function
    code = getattr(target, "__code__", None)
    if code is None:
        return name
    return f"{name} ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"


def _exception(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
