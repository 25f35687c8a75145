"""TLS for the scripted server: from the first byte, or from a step on (STARTTLS).

Twisted's own TLS does the work (:class:`~twisted.protocols.tls.TLSMemoryBIOProtocol`
over pyOpenSSL), slipped in between the connection's transport and the
server's protocol, which then sees only plaintext. The TLS layer keeps time
with the server's reactor (its clock), never with a global one, so it works
on the reactor of an asyncio test or of a thread as on pytest-twisted's.

A handshake that fails is told in words (:func:`diagnose`), not as an OpenSSL
error: a client that rejected the server's certificate, one that sent
plaintext, one that presented no certificate where one is required.

It needs pyOpenSSL (``pip install pytest-tcpclient[tls]``); nothing here is
imported until TLS is used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from twisted.internet.interfaces import IProtocol, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from .transcript import show_bytes

if TYPE_CHECKING:
    from twisted.internet.ssl import CertificateOptions
    from twisted.protocols.tls import TLSMemoryBIOFactory

__all__ = [
    "EXTRA",
    "RAW",
    "TLSLayer",
    "diagnose",
    "is_handshake",
    "secure",
    "sent_plaintext",
]

EXTRA = "pip install pytest-tcpclient[tls]"
"""What to install for TLS."""
RAW = 64
"""How many of the first bytes a TLS connection keeps, to say what they were."""


def require_tls() -> None:
    """Raise ``ImportError`` naming the extra if TLS is not installed."""
    __tracebackhide__ = True
    try:
        import OpenSSL  # noqa: F401
        import twisted.protocols.tls  # noqa: F401
    except ImportError as error:
        raise ImportError(f"TLS needs the tls extra ({EXTRA}): {error}") from None


class TLSLayer(Protocol):
    """The TLS layer :func:`secure` slips under a protocol: what it keeps for
    :func:`diagnose`."""

    raw: bytes
    """The first bytes it received, :data:`RAW` at most."""
    tcp_reason: Failure | None
    """How the TCP connection under it ended, once it has."""

    @property
    def handshake_done(self) -> bool:
        """Whether its handshake is done."""

    def makeConnection(self, transport: object) -> None:
        """Take over ``transport``, as the protocol of its bytes."""

    def dataReceived(self, data: bytes) -> None:
        """Bytes from the TCP connection under it."""


def secure(
    protocol: IProtocol, context: CertificateOptions, clock: IReactorTime
) -> TLSLayer:
    """Slip a server-side TLS layer under ``protocol``: from now on its
    transport's bytes go through TLS, and ``protocol`` sees the plaintext.

    ``context`` is an OpenSSL context factory (``getContext()``); the layer
    schedules its writes on ``clock``. Returns the layer, which keeps the
    first bytes it received (``raw``), whether its handshake is done
    (``handshake_done``) and how the TCP connection under it ended
    (``tcp_reason``).
    """
    from twisted.protocols.tls import TLSMemoryBIOFactory

    transport = protocol.transport  # type: ignore[attr-defined]
    # No wrapped factory: the layer is made here, around the protocol given.
    factory = TLSMemoryBIOFactory(context, False, None, clock=clock)  # type: ignore[arg-type]
    layer = _layer_class()(factory, protocol)
    transport.protocol = layer  # the transport now hands its bytes to the TLS layer
    layer.makeConnection(transport)  # which makes itself the protocol's transport
    return layer


@functools.cache
def _layer_class() -> Callable[[TLSMemoryBIOFactory, IProtocol], TLSLayer]:
    """Twisted's TLS layer, keeping what :func:`diagnose` needs (made on first
    use: Twisted's TLS module needs pyOpenSSL)."""
    from twisted.protocols.tls import TLSMemoryBIOProtocol

    class ServerTLS(TLSMemoryBIOProtocol):
        raw = b""
        tcp_reason: Failure | None = None

        @property
        def handshake_done(self) -> bool:
            return bool(self._handshakeDone)

        def dataReceived(self, data: bytes) -> None:
            if not self._handshakeDone and len(self.raw) < RAW:
                self.raw += data[: RAW - len(self.raw)]
            super().dataReceived(data)  # type: ignore[no-untyped-call]

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            self.tcp_reason = reason
            super().connectionLost(reason)  # type: ignore[no-untyped-call]

    return ServerTLS


def is_handshake(data: bytes) -> bool:
    """Whether ``data`` may start a TLS handshake: a record of type 22."""
    return data[:1] == b"\x16"


def sent_plaintext(data: bytes) -> str:
    """The failure of a client that sent ``data`` where a handshake was due."""
    return (
        f"Expected a TLS handshake, but the client sent plaintext {show_bytes(data[:RAW])}"
    )


_REJECTED = ("unknown ca", "bad certificate", "certificate unknown")
"""Alerts of a client that did not accept the server's certificate."""


def diagnose(reason: Failure, layer: TLSLayer) -> str:
    """The first line of the failure of a handshake that ended with ``reason``."""
    raw = layer.raw
    if raw and not is_handshake(raw):
        return sent_plaintext(raw)
    text = _openssl_reasons(reason)
    if "peer did not return a certificate" in text or "certificate required" in text:
        return "Expected a client certificate, but the client presented none"
    alert = next((part for part in text.split("; ") if "alert" in part), None)
    if alert is not None:
        if any(word in alert for word in _REJECTED):
            return (
                "TLS handshake failed: the client rejected the server's certificate "
                f"({alert})"
            )
        return f"TLS handshake failed: the client sent an alert ({alert})"
    if "certificate verify failed" in text:
        return f"TLS handshake failed: the client's certificate was not accepted ({text})"
    if text:
        return f"TLS handshake failed: {text}"
    return (
        "TLS handshake failed: the client closed the connection during the handshake "
        "(it may have rejected the server's certificate)"
    )


def _openssl_reasons(reason: Failure) -> str:
    """The reasons OpenSSL gave, ``; ``-separated, or "" if it gave none."""
    try:
        from OpenSSL import SSL
    except ImportError:  # pragma: no cover - TLS needs it
        return ""
    error = reason.value
    if not isinstance(error, SSL.Error):
        return ""
    reasons = []
    for entry in error.args[0] if error.args and isinstance(error.args[0], list) else []:
        if isinstance(entry, tuple) and entry:
            reasons.append(str(entry[-1]))
    return "; ".join(reasons) or str(error)
