"""Framings: how messages are delimited in the byte stream.

A framing is any object with two methods:

- ``encode(payload: bytes) -> bytes``: the wire bytes of one message;
- ``decode(data: bytes) -> tuple[bytes, int] | None``: given the unread bytes
  from the start of a message, the payload and how many bytes the message
  took, or None while it is incomplete.

The built-in ones, :class:`LengthPrefixed`, :class:`Netstring` and
:class:`Lines`, also decode incrementally (:meth:`Framing.decoder`), so a
message costs time linear in its bytes however TCP splits it; a framing of the
user's own is given all the unread bytes each time more arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, cast, runtime_checkable

from .arguments import BytesLike, as_bytes

if TYPE_CHECKING:
    from .inbox import Inbox

__all__ = [
    "BadDecode",
    "Decoder",
    "Framing",
    "FramingError",
    "FramingLike",
    "HeadReader",
    "LengthPrefixed",
    "Lines",
    "Netstring",
    "as_framing",
    "decoder_for",
    "framing_name",
]


@runtime_checkable
class FramingLike(Protocol):
    """What a framing must do: encode a payload, decode one message."""

    def encode(self, payload: bytes) -> bytes: ...

    def decode(self, data: bytes) -> tuple[bytes, int] | None: ...


class FramingError(Exception):
    """The bytes at the start of a message are not one of this framing."""


class BadDecode(Exception):
    """A framing's ``decode()`` returned something that is not a decoding."""


class Decoder:
    """Decodes the message at the start of the unread bytes, fed as they arrive.

    :meth:`feed` gets each new segment once, in order, as ``(segment,
    offset)``: the new bytes are ``segment[offset:]``. It returns the length
    of the whole message on the wire once it is complete (and the same length
    after that), else None. It raises :class:`FramingError` for bytes that
    cannot start a message. This one, for a framing of the user's own, asks
    ``decode()`` again each time bytes arrive, with all the bytes so far, and
    raises :class:`BadDecode` for an answer that is not a decoding.
    """

    def __init__(self, framing: FramingLike) -> None:
        self._framing = framing
        self._data = bytearray()
        self.size: int | None = None
        """The length of the message on the wire, once known."""

    @property
    def received(self) -> int:
        """How many bytes of the message were fed so far."""
        return len(self._data)

    def feed(self, segment: bytes | bytearray, offset: int = 0) -> int | None:
        if self.size is not None:
            return self.size
        self._data += memoryview(segment)[offset:]
        decoded = checked_decode(self._framing, bytes(self._data))
        if decoded is not None:
            self.size = decoded[1]
        return self.size


class Framing:
    """Base of the built-in framings; a framing of your own needs only
    ``encode`` and ``decode`` (see the module's docstring).

    ``noun`` names a message in diagnostics ("frame", "line").
    """

    noun = "frame"
    max_payload: int | None = None
    """The longest payload a message can carry, if there is a limit."""
    _built_in = True  # see built_in()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            return  # a built-in framing
        # A user's subclass: built-in still if it changes no method that says
        # what a message is, of the built-in framing it extends.
        base = next(kind for kind in cls.__mro__ if kind.__module__ == __name__)
        cls._built_in = all(
            getattr(cls, name) is getattr(base, name)
            for name in ("encode", "decode", "_wire", "decoder", "payload")
        )

    def encode(self, payload: BytesLike) -> bytes:
        """The wire bytes of ``payload`` as one message."""
        payload = as_bytes(payload, "encode() argument 'payload'", self.max_payload)
        return self._wire(payload)

    def _wire(self, payload: bytes) -> bytes:
        """:meth:`encode` of a payload already checked."""
        raise NotImplementedError

    def decode(self, data: bytes) -> tuple[bytes, int] | None:
        """The payload of the message at the start of ``data`` and its length
        on the wire, or None while it is incomplete."""
        decoder = self.decoder()
        size = decoder.feed(bytes(data))
        if size is None:
            return None
        return self.payload(data[:size]), size

    def decoder(self) -> Decoder:
        """A decoder for one message, fed segment by segment."""
        raise NotImplementedError

    def payload(self, message: bytes) -> bytes:
        """The payload of ``message``, one whole message on the wire."""
        raise NotImplementedError

    def describe(self, data: bytes) -> str:
        """What ``data``, the start of a message (maybe all of it), is."""
        try:
            decoded = self.decode(data)
        except FramingError as error:
            return f"{_show(data)}, which is not a {self.noun}: {error}"
        if decoded is None:
            return f"an incomplete {self.noun} {_show(data)}"
        return f"{self.noun} {_show(decoded[0])}"


def checked_decode(framing: FramingLike, data: bytes) -> tuple[bytes, int] | None:
    """``framing.decode(data)``, checked: None, or a payload and a size that
    ``data`` holds.

    :raises BadDecode: for anything else.
    """
    decoded = framing.decode(data)
    if decoded is None:
        return None
    name = f"{type(framing).__name__}.decode()"
    if not (isinstance(decoded, tuple) and len(decoded) == 2):
        raise BadDecode(f"{name} returned {_short(decoded)}, not (payload, size) or None")
    payload, size = decoded
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise BadDecode(f"{name} returned a payload of {type(payload).__name__}, not bytes")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= len(data):
        raise BadDecode(
            f"{name} said the message took {size!r} bytes, of the {len(data)} it was given"
        )
    return bytes(payload), size


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


class _LengthDecoder(Decoder):
    """A decoder for messages whose first bytes tell their length.

    ``length(head)`` is the whole message's length on the wire, given up to
    ``head_size`` first bytes, or None while they do not tell it yet.
    """

    def __init__(self, head_size: int, length: Callable[[bytes], int | None]) -> None:
        self._head_size = head_size
        self._length = length
        self._head = b""  # the first bytes, until they tell the length
        self.total: int | None = None
        """The length of the message on the wire, once its first bytes tell it."""
        self.size: int | None = None
        self._received = 0

    @property
    def received(self) -> int:
        return self._received

    def feed(self, segment: bytes | bytearray, offset: int = 0) -> int | None:
        if self.size is not None:
            return self.size
        if self.total is None:
            wanted = self._head_size - len(self._head)
            self._head += bytes(segment[offset : offset + wanted])
            self.total = self._length(self._head)
        self._received += len(segment) - offset
        if self.total is not None and self._received >= self.total:
            self.size = self.total
        return self.size


class LengthPrefixed(Framing):
    """A length of ``size`` bytes (1, 2, 4 or 8), then that many payload bytes.

    The default, ``LengthPrefixed()``, is a 4-byte big-endian length: the wire
    format of Twisted's ``Int32StringReceiver`` and of pytest-tcpclient 0.7.
    """

    def __init__(self, size: int = 4, byteorder: Literal["big", "little"] = "big") -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(
                f"LengthPrefixed() argument 'size' must be int, not {_kind(size)}"
            )
        if size not in (1, 2, 4, 8):
            raise ValueError(
                f"LengthPrefixed() argument 'size' must be 1, 2, 4 or 8, not {size}"
            )
        if byteorder not in ("big", "little"):
            raise ValueError(
                "LengthPrefixed() argument 'byteorder' must be 'big' or 'little', "
                f"not {byteorder!r}"
            )
        self.size = size
        self.byteorder = byteorder
        self.max_payload = 2 ** (8 * size) - 1

    def __repr__(self) -> str:
        return f"LengthPrefixed(size={self.size}, byteorder={self.byteorder!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LengthPrefixed):
            return NotImplemented
        return (self.size, self.byteorder) == (other.size, other.byteorder)

    def __hash__(self) -> int:
        return hash((LengthPrefixed, self.size, self.byteorder))

    def header(self, length: int) -> bytes:
        """The length header of a payload of ``length`` bytes."""
        return length.to_bytes(self.size, self.byteorder)

    def _wire(self, payload: bytes) -> bytes:
        return self.header(len(payload)) + payload

    def decoder(self) -> _LengthDecoder:
        return _LengthDecoder(self.size, self._length)

    def _length(self, head: bytes) -> int | None:
        if len(head) < self.size:
            return None
        return self.size + int.from_bytes(head, self.byteorder)

    def payload(self, message: bytes) -> bytes:
        return message[self.size :]

    def describe(self, data: bytes) -> str:
        if len(data) < self.size:
            return f"a {self.noun} header starting {_show(data)}"
        length = int.from_bytes(data[: self.size], self.byteorder)
        payload = data[self.size : self.size + length]
        if len(payload) == length:
            return f"{self.noun} {_show(payload)}"
        return f"a {self.noun} of {length} bytes, of which {_show(payload)} arrived"


MAX_DIGITS = 20
"""The most digits a netstring's length may have."""


class Netstring(Framing):
    """``<length in decimal>:<payload>,`` (djb's netstrings)."""

    def __repr__(self) -> str:
        return "Netstring()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Netstring) or NotImplemented

    def __hash__(self) -> int:
        return hash(Netstring)

    def _wire(self, payload: bytes) -> bytes:
        return b"%d:%s," % (len(payload), payload)

    def decoder(self) -> _LengthDecoder:
        return _LengthDecoder(MAX_DIGITS + 1, self._length)

    @staticmethod
    def _length(head: bytes) -> int | None:
        digits, colon, _ = head.partition(b":")
        if digits and not digits.isdigit():
            raise FramingError(f"its length {digits!r} is not a decimal number")
        if digits[:1] == b"0" and len(digits) > 1:
            raise FramingError(f"its length {digits!r} has a leading zero")
        if not colon:
            if len(head) > MAX_DIGITS:
                raise FramingError(f"no b':' after {MAX_DIGITS} digits")
            return None
        if not digits:
            raise FramingError("it has no length before b':'")
        return len(digits) + 1 + int(digits) + 1

    def payload(self, message: bytes) -> bytes:
        rest = message.partition(b":")[2]
        if rest[-1:] != b",":
            raise FramingError(f"it ends with {rest[-1:]!r}, not b','")
        return rest[:-1]


class _LineDecoder(Decoder):
    def __init__(self, delimiter: bytes, max_length: int) -> None:
        self._delimiter = delimiter
        self._max_length = max_length
        self._tail = b""  # the last bytes fed, for a delimiter split across segments
        self._received = 0
        self.size: int | None = None

    @property
    def received(self) -> int:
        return self._received

    def feed(self, segment: bytes | bytearray, offset: int = 0) -> int | None:
        if self.size is not None:
            return self.size
        delimiter = self._delimiter
        keep = len(delimiter) - 1  # a delimiter may start in the bytes before
        if self._tail:  # one across the segments?
            found = (self._tail + segment[offset : offset + keep]).find(delimiter)
            if found >= 0:
                return self._found(self._received - len(self._tail) + found)
        # A delimiter past max_length comes too late: no need to look there.
        end = offset + self._max_length - self._received + len(delimiter)
        found = segment.find(delimiter, offset, max(end, offset))
        if found >= 0:
            return self._found(self._received + found - offset)
        self._received += len(segment) - offset
        if self._received - keep > self._max_length:
            raise FramingError(self._too_long())
        joined = self._tail + segment[max(offset, len(segment) - keep) :]
        self._tail = joined[len(joined) - keep :] if keep else b""
        return None

    def _found(self, start: int) -> int:
        if start > self._max_length:
            raise FramingError(self._too_long())
        self.size = start + len(self._delimiter)
        return self.size

    def _too_long(self) -> str:
        return f"more than {self._max_length} bytes without {self._delimiter!r}"


DEFAULT_MAX_LENGTH = 64 * 1024
"""The longest line, delimiter not counted, unless told otherwise."""


class Lines(Framing):
    """Lines ending with ``delimiter`` (CRLF by default, as Twisted's
    ``LineReceiver``); the payload is the line without it. A line longer than
    ``max_length`` bytes is an error as soon as that many bytes arrived without
    the delimiter."""

    noun = "line"

    def __init__(
        self, delimiter: BytesLike = b"\r\n", max_length: int = DEFAULT_MAX_LENGTH
    ) -> None:
        self.delimiter = as_delimiter(delimiter, "Lines() argument 'delimiter'")
        self.max_length = as_max_length(max_length, "Lines() argument 'max_length'")
        self.max_payload = self.max_length

    def __repr__(self) -> str:
        return f"Lines(delimiter={self.delimiter!r}, max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lines):
            return NotImplemented
        return (self.delimiter, self.max_length) == (other.delimiter, other.max_length)

    def __hash__(self) -> int:
        return hash((Lines, self.delimiter, self.max_length))

    def _wire(self, payload: bytes) -> bytes:
        return payload + self.delimiter

    def decoder(self) -> _LineDecoder:
        return _LineDecoder(self.delimiter, self.max_length)

    def payload(self, message: bytes) -> bytes:
        return message[: -len(self.delimiter)]

    def describe(self, data: bytes) -> str:
        line, found, _ = data.partition(self.delimiter)
        if found:
            return _show(line)
        return f"{_show(data)} (no {self.delimiter!r} yet)"


DEFAULT_FRAMING = LengthPrefixed()
"""The frames of pytest-tcpclient 0.7: a 4-byte big-endian length, then the payload."""


def as_delimiter(value: object, what: str) -> bytes:
    """Check a line delimiter: bytes-like and not empty."""
    __tracebackhide__ = True
    delimiter = as_bytes(value, what)
    if not delimiter:
        raise ValueError(f"{what} must not be empty")
    return delimiter


def as_max_length(value: object, what: str) -> int:
    """Check a maximum line length: an int, 1 or more."""
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be int, not {_kind(value)}")
    if value < 1:
        raise ValueError(f"{what} must be 1 or more, not {value}")
    return value


def as_framing(value: object, what: str) -> FramingLike:
    """Check a framing: an object with ``encode`` and ``decode`` methods."""
    __tracebackhide__ = True
    if isinstance(value, Framing):  # a built-in one: nothing to check
        return value
    if isinstance(value, type) or not (
        callable(getattr(value, "encode", None))
        and callable(getattr(value, "decode", None))
    ):
        raise TypeError(
            f"{what} must be a framing, with encode() and decode() methods, "
            f"not {_kind(value)}"
        )
    return cast(FramingLike, value)


class HeadReader:
    """Reads the message of ``framing`` at the head of an inbox, as its bytes
    arrive, without taking them: each byte is fed to the decoder once, and a
    message that starts elsewhere (something took the head) starts afresh."""

    def __init__(self, framing: FramingLike) -> None:
        self.framing = framing
        self._decoder = decoder_for(framing)
        self._position = -1  # where the message being read starts

    @property
    def received(self) -> int:
        """How many bytes of the message were read."""
        return self._decoder.received

    def size(self, inbox: Inbox) -> int | None:
        """The length on the wire of the message at the head, once it is whole.

        :raises FramingError: if the bytes cannot start a message.
        :raises Exception: what a framing of the user's own raised.
        """
        if self._position != inbox.position:
            self._decoder = decoder_for(self.framing)
            self._position = inbox.position
        if self._decoder.size is not None:
            return self._decoder.size
        for segment, offset in inbox.read(self._position + self._decoder.received):
            size = self._decoder.feed(segment, offset)
            if size is not None:
                return size
        return None


def built_in(framing: FramingLike) -> bool:
    """Whether ``framing`` encodes and decodes as a built-in framing does: an
    instance of one, or of a subclass that overrides none of its methods that
    say what a message is (``encode``, ``decode``, ``decoder``, ``payload``);
    one that does is a framing of the user's own."""
    return isinstance(framing, Framing) and framing._built_in


def decoder_for(framing: FramingLike) -> Decoder:
    """An incremental decoder of one message of ``framing``."""
    if built_in(framing):
        return cast(Framing, framing).decoder()
    return Decoder(framing)


def encode(framing: FramingLike, payload: bytes) -> bytes:
    """The wire bytes of ``payload``, already checked against the framing's limit."""
    if built_in(framing):
        return cast(Framing, framing)._wire(payload)
    return framing.encode(payload)


def canonical(framing: FramingLike) -> bool:
    """Whether each payload has one encoding only, so that an expected payload
    can be matched on the wire byte by byte: true of the built-in framings."""
    return built_in(framing)


def describe(framing: FramingLike, data: bytes) -> str:
    """What ``data``, the start of a message of ``framing``, is: a built-in
    framing, the only ones whose messages are matched on the wire
    (:func:`canonical`)."""
    assert built_in(framing), "only built-in framings are described"
    return cast(Framing, framing).describe(data)


def framing_name(framing: FramingLike) -> str:
    """How a diagnostic names ``framing``: its repr, or its class's name when
    the repr says nothing more (``<module.Class object at 0x...>``)."""
    if type(framing).__repr__ is object.__repr__:
        return f"{type(framing).__name__}()"
    return repr(framing)


def _show(data: bytes) -> str:
    from .transcript import show_bytes

    return show_bytes(data)


def _kind(value: object) -> str:
    return type(value).__name__
