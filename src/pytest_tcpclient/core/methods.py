"""The methods a test declares steps with, shared by every object that takes them.

:class:`StepMethods` checks the arguments of each call, at the call, and turns
it into a step (:mod:`.steps`); where the step goes is the subclass's business
(:meth:`StepMethods._add`): :class:`~.server.ScriptedServer` adds it to its
script, a layer on another thread passes it to the thread the script runs on.
"""

from __future__ import annotations

from .arguments import BytesLike, as_bytes, as_timeout
from .steps import (
    Disconnect,
    ExpectBytes,
    ExpectConnect,
    ExpectDisconnect,
    ExpectFrame,
    SendBytes,
    SendFrame,
    Step,
)
from .wire import MAX_PAYLOAD

__all__ = ["StepMethods"]


class StepMethods:
    """``expect_*``, ``send_*`` and ``disconnect``: each checks its arguments
    and declares one step with :meth:`_add`. An error in the arguments is the
    caller's: pytest shows it at the caller's line (``__tracebackhide__``).

    ``timeout`` is the default timeout, in seconds, of the steps that wait for
    the client.
    """

    timeout: float

    def expect_connect(self, timeout: float | None = None) -> None:
        """The client connects within ``timeout`` seconds."""
        __tracebackhide__ = True
        self._add(ExpectConnect(self._timeout(timeout, "expect_connect")))

    def expect_bytes(self, data: BytesLike, timeout: float | None = None) -> None:
        """The client sends exactly ``data``, however TCP splits it."""
        __tracebackhide__ = True
        data = as_bytes(data, "expect_bytes() argument 'data'")
        self._add(ExpectBytes(data, self._timeout(timeout, "expect_bytes")))

    def send_bytes(self, data: BytesLike) -> None:
        """The server sends ``data``."""
        __tracebackhide__ = True
        self._add(SendBytes(as_bytes(data, "send_bytes() argument 'data'")))

    def expect_frame(self, payload: BytesLike, timeout: float | None = None) -> None:
        """The client sends one frame (4-byte big-endian length, then ``payload``)."""
        __tracebackhide__ = True
        payload = as_bytes(payload, "expect_frame() argument 'payload'", MAX_PAYLOAD)
        self._add(ExpectFrame(payload, self._timeout(timeout, "expect_frame")))

    def send_frame(self, payload: BytesLike) -> None:
        """The server sends ``payload`` as one frame."""
        __tracebackhide__ = True
        payload = as_bytes(payload, "send_frame() argument 'payload'", MAX_PAYLOAD)
        self._add(SendFrame(payload))

    def expect_disconnect(self, timeout: float | None = None) -> None:
        """The client closes the connection, sending nothing more."""
        __tracebackhide__ = True
        self._add(ExpectDisconnect(self._timeout(timeout, "expect_disconnect")))

    def disconnect(self) -> None:
        """The server closes the connection once what it sent is flushed."""
        __tracebackhide__ = True
        self._add(Disconnect())

    def _timeout(self, value: float | None, method: str) -> float:
        __tracebackhide__ = True
        return as_timeout(value, f"{method}() argument 'timeout'", self.timeout)

    def _add(self, step: Step) -> None:
        """Declare ``step``, after every step declared before it."""
        raise NotImplementedError
