"""The steps of a script: plain, immutable data.

A test declares steps through the server's methods; :class:`~.script.Script`
runs them in order. Steps that wait on the client carry a ``timeout`` in
seconds, counted from the moment the step becomes the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .transcript import show_bytes

__all__ = [
    "Disconnect",
    "ExpectBytes",
    "ExpectConnect",
    "ExpectDisconnect",
    "ExpectFrame",
    "SendBytes",
    "SendFrame",
    "Step",
]


@dataclass(frozen=True)
class ExpectConnect:
    """The client opens a connection."""

    timeout: float

    def __str__(self) -> str:
        return "expect_connect()"


@dataclass(frozen=True)
class ExpectBytes:
    """The client sends exactly ``data``, split into segments however TCP likes."""

    data: bytes
    timeout: float

    def __str__(self) -> str:
        return f"expect_bytes({show_bytes(self.data)})"


@dataclass(frozen=True)
class ExpectFrame:
    """The client sends one length-prefixed frame carrying ``payload``."""

    payload: bytes
    timeout: float

    def __str__(self) -> str:
        return f"expect_frame({show_bytes(self.payload)})"


@dataclass(frozen=True)
class ExpectDisconnect:
    """The client closes the connection without sending anything more.

    ``at_teardown`` tells the one teardown declares for a connection that the
    test left open.
    """

    timeout: float
    at_teardown: bool = False

    def __str__(self) -> str:
        return (
            "expect_disconnect() (added at teardown)"
            if self.at_teardown
            else ("expect_disconnect()")
        )


@dataclass(frozen=True)
class SendBytes:
    """The server sends ``data``."""

    data: bytes

    def __str__(self) -> str:
        return f"send_bytes({show_bytes(self.data)})"


@dataclass(frozen=True)
class SendFrame:
    """The server sends ``payload`` as one length-prefixed frame."""

    payload: bytes

    def __str__(self) -> str:
        return f"send_frame({show_bytes(self.payload)})"


@dataclass(frozen=True)
class Disconnect:
    """The server closes the connection, once what it sent is flushed."""

    def __str__(self) -> str:
        return "disconnect()"


@dataclass(frozen=True)
class End:
    """Teardown's last step: nothing more may have happened on the wire."""

    def __str__(self) -> str:
        return "end of script"


Step = Union[
    ExpectConnect,
    ExpectBytes,
    ExpectFrame,
    ExpectDisconnect,
    SendBytes,
    SendFrame,
    Disconnect,
    End,
]
