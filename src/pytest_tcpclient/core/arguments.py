"""Checks for the arguments of the public API, made at the call."""

from __future__ import annotations

import ipaddress
import math
from typing import Union

__all__ = [
    "BytesLike",
    "as_bool",
    "as_bytes",
    "as_chunk",
    "as_host",
    "as_seconds",
    "as_timeout",
]

BytesLike = Union[bytes, bytearray, memoryview]


def as_bytes(value: object, what: str, limit: int | None = None) -> bytes:
    """Return ``value`` as ``bytes``; ``what`` names it in the error.

    bytearray and memoryview are copied, so later changes to them do not
    change the script. The length is checked before any copy is made.

    :raises TypeError: if ``value`` is not bytes-like.
    :raises ValueError: if ``value`` is longer than ``limit`` bytes.
    """
    __tracebackhide__ = True
    if type(value) is bytes and (limit is None or len(value) <= limit):
        return value  # the common case, in one test
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{what} must be bytes, bytearray or memoryview, not {type(value).__name__}"
        )
    size = value.nbytes if isinstance(value, memoryview) else len(value)
    if limit is not None and size > limit:
        raise ValueError(f"{what} is {size} bytes long; the limit is {limit} bytes")
    return value if isinstance(value, bytes) else bytes(value)


def as_timeout(value: object, what: str, default: float) -> float:
    """Return ``value`` as a timeout in seconds, or ``default`` if it is None.

    :raises TypeError: if ``value`` is not a number.
    :raises ValueError: if ``value`` is negative, infinite or NaN.
    """
    __tracebackhide__ = True
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{what} must be a finite number of seconds, 0 or more, not {value!r}"
        )
    return float(value)


def as_seconds(value: object, what: str) -> float:
    """Return ``value`` as a number of seconds, 0 or more and finite.

    :raises TypeError: if ``value`` is not a number.
    :raises ValueError: if ``value`` is negative, infinite or NaN.
    """
    __tracebackhide__ = True
    if value is None:
        raise TypeError(f"{what} must be a number of seconds, not NoneType")
    return as_timeout(value, what, 0.0)


def as_chunk(value: object, what: str) -> int:
    """Return ``value``, a number of bytes, 1 or more (a ``chunk`` argument,
    whose None, the default, the caller takes as it is).

    :raises TypeError: if ``value`` is not an int.
    :raises ValueError: if ``value`` is less than 1.
    """
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int or None, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{what} must be 1 or more, not {value}")
    return value


def as_bool(value: object, what: str) -> bool:
    """Return ``value``, a bool.

    :raises TypeError: if ``value`` is not a bool (not even 0 or 1).
    """
    __tracebackhide__ = True
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be bool, not {type(value).__name__}")
    return value


def as_host(value: object, what: str) -> str:
    """Return ``value``, an IPv4 or IPv6 address literal, as written.

    :raises TypeError: if ``value`` is not a str.
    :raises ValueError: if ``value`` is not an IP address (a name such as
        ``localhost`` is not: which address it stands for is the client's choice).
    """
    __tracebackhide__ = True
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"{what} must be an IP address literal such as '127.0.0.1' or '::1', "
            f"not {value!r}"
        ) from None
    return value
