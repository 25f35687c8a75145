"""Rules: answers to client messages that may come at any time, in any order.

A rule answers every message that matches it, whenever it arrives: before,
between or after the scripted steps, while a step waits for something else.
The script offers a message to the rules only when the current step does not
take it; each rule decodes it with its own framing, from the same position.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from .framings import (
    DEFAULT_FRAMING,
    BadDecode,
    FramingError,
    FramingLike,
    HeadReader,
    Lines,
    as_delimiter,
    as_framing,
    checked_decode,
    framing_name,
)
from .matching import Matcher, Received, Reply, UserError, as_matcher, as_reply, compute
from .transcript import show_bytes

if TYPE_CHECKING:
    from .steps import Conversation

T = TypeVar("T")

__all__ = ["Offer", "Rule"]


class Offer(enum.Enum):
    """What the rules made of the message at the head of the inbox."""

    TAKEN = enum.auto()
    """A rule took it (and answered it)."""
    PENDING = enum.auto()
    """It is incomplete for some rule, which may take it once it is whole."""
    REFUSED = enum.auto()
    """No rule takes it."""


class Rule:
    """Answers each client message of ``framing`` that ``matcher`` accepts.

    ``reply`` is bytes (sent encoded by ``framing``), a callable called with
    the :class:`~.matching.Received` message and returning the bytes to
    encode, or None to answer nothing. ``times``: the number of messages it
    must answer by the end of the test (None: any number); once it has
    answered that many, it takes no more. ``count`` is how many it answered.
    """

    def __init__(
        self,
        method: str,
        matcher: Matcher,
        reply: bytes | Reply | None,
        framing: FramingLike,
        times: int | None,
    ) -> None:
        self.method = method
        self.matcher = matcher
        self.reply = reply
        self.framing = framing
        self.times = times
        self.count = 0
        """How many messages the rule answered so far."""
        self._reader = HeadReader(framing)

    @classmethod
    def line(cls, match: object, reply: object, delimiter: object, times: object) -> Rule:
        """The rule of ``on_line()``, its arguments checked."""
        __tracebackhide__ = True
        delimiter = as_delimiter(delimiter, "on_line() argument 'delimiter'")
        return cls._checked("on_line", match, reply, Lines(delimiter, 2**63), times)

    @classmethod
    def frame(cls, match: object, reply: object, framing: object, times: object) -> Rule:
        """The rule of ``on_frame()``, its arguments checked."""
        __tracebackhide__ = True
        if framing is None:
            framing = DEFAULT_FRAMING
        framing = as_framing(framing, "on_frame() argument 'framing'")
        return cls._checked("on_frame", match, reply, framing, times)

    @classmethod
    def _checked(
        cls, method: str, match: object, reply: object, framing: FramingLike, times: object
    ) -> Rule:
        __tracebackhide__ = True
        matcher = as_matcher(match, f"{method}() argument 'match'")
        if reply is not None:
            limit = getattr(framing, "max_payload", None)
            reply = as_reply(reply, f"{method}() argument 'reply'", limit)
        if times is not None:
            if isinstance(times, bool) or not isinstance(times, int):
                kind = type(times).__name__
                raise TypeError(
                    f"{method}() argument 'times' must be int or None, not {kind}"
                )
            if times < 0:
                raise ValueError(
                    f"{method}() argument 'times' must be 0 or more, not {times}"
                )
        return cls(method, matcher, reply, framing, times)

    def __repr__(self) -> str:
        return f"<Rule {self}: answered {self.count}>"

    def __str__(self) -> str:
        options = ""
        if isinstance(self.framing, Lines):
            if self.framing.delimiter != b"\r\n":
                options = f", delimiter={self.framing.delimiter!r}"
        elif self.framing != DEFAULT_FRAMING:
            options = f", framing={framing_name(self.framing)}"
        return f"{self.method}({self.matcher}{options})"

    @property
    def exhausted(self) -> bool:
        """Whether it answered as many messages as it may."""
        return self.times is not None and self.count >= self.times

    def offer(self, conversation: Conversation) -> Offer:
        """Take and answer the message at the head of the inbox, if it is one
        of this rule's.

        :raises UserError: when user code (its matcher, reply or framing)
            raised or returned something it should not.
        """
        inbox = conversation.inbox
        received, size = self._read(conversation)
        if not isinstance(received, Received):
            return received
        inbox.consume(size)
        self.count += 1
        conversation.transcript.event(f"{self} answered {show_bytes(received.data)}")
        reply = self.reply
        if reply is None:
            return Offer.TAKEN
        if not isinstance(reply, bytes):
            reply = compute(reply, received)
        try:
            encoded = self.framing.encode(reply)
        except Exception as error:
            raise self._error("encode", error) from error
        if not isinstance(encoded, (bytes, bytearray, memoryview)):
            kind = type(encoded).__name__
            raise UserError(
                f"{self}: {type(self.framing).__name__}.encode() returned "
                f"{encoded!r} ({kind}), not bytes"
            )
        conversation.write(bytes(encoded))
        return Offer.TAKEN

    def would_take(self, conversation: Conversation) -> bool:
        """Whether the message at the head of the inbox matches the rule (were
        it not used up); takes nothing."""
        try:
            received, _ = self._read(conversation)
        except UserError:
            return False
        return isinstance(received, Received)

    def _read(self, conversation: Conversation) -> tuple[Received | Offer, int]:
        """The message at the head, if it is whole and matches (and its size),
        else what to make of it."""
        inbox = conversation.inbox
        size = self._decoding(lambda: self._reader.size(inbox))
        if size is Offer.REFUSED:
            return Offer.REFUSED, 0
        if size is None:
            # A message cannot grow past a close or a new connection.
            return (Offer.PENDING if inbox.next_event() is None else Offer.REFUSED), 0
        decoded = self._decoding(lambda: checked_decode(self.framing, inbox.peek(size)))
        if decoded is None or decoded is Offer.REFUSED:
            return Offer.REFUSED, 0
        received = self.matcher.check(decoded[0])
        if not isinstance(received, Received):
            return Offer.REFUSED, 0
        return received, size

    def _decoding(self, decode: Callable[[], T]) -> T | Literal[Offer.REFUSED]:
        """What ``decode()`` returns, or REFUSED for a message its framing
        refuses; a framing's own error fails the script."""
        try:
            return decode()
        except BadDecode as error:
            raise UserError(f"{self}: {error}") from None
        except FramingError:
            return Offer.REFUSED
        except Exception as error:
            raise self._error("decode", error) from error

    def _error(self, method: str, error: BaseException) -> UserError:
        text = str(error)
        raised = f"{type(error).__name__}: {text}" if text else type(error).__name__
        call = f"{type(self.framing).__name__}.{method}()"
        return UserError(f"{self}: {call} raised {raised}")
