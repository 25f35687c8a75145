"""The methods a test declares steps and rules with, shared by every object
that takes them.

:class:`StepMethods` turns each call into a step (:mod:`.steps`) or a rule
(:mod:`.rules`), which check their arguments at the call; where they go is
the subclass's business (:meth:`StepMethods._add`,
:meth:`StepMethods._add_rule`): :class:`~.server.ScriptedServer` adds them to
its script, a layer on another thread passes them to the thread the script
runs on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .arguments import BytesLike, as_timeout
from .framings import DEFAULT_FRAMING, DEFAULT_MAX_LENGTH, FramingLike, as_framing
from .matching import Received
from .rules import Rule
from .steps import (
    Disconnect,
    ExpectBytes,
    ExpectConnect,
    ExpectDisconnect,
    ExpectFrame,
    ExpectLine,
    SendBytes,
    SendFrame,
    SendLine,
    Step,
)

__all__ = ["Match", "Reply", "StepMethods"]

Match = BytesLike | re.Pattern[bytes] | Callable[[bytes], Any]
"""What a message must be: exactly these bytes, a pattern matching all of it,
or a callable that returns a true value for it."""
Reply = BytesLike | Callable[[Received | None], BytesLike]
"""What the server sends: bytes, or a callable given what was matched last."""


class StepMethods:
    """``expect_*``, ``send_*``, ``disconnect`` and the rules ``on_*``: each
    declares one step with :meth:`_add`, or one rule with :meth:`_add_rule`.
    An error in the arguments is the caller's: pytest shows it at the
    caller's line (``__tracebackhide__``).

    ``timeout`` is the default timeout, in seconds, of the steps that wait for
    the client; :attr:`framing` the framing of frames when a step or a rule
    does not name one.
    """

    timeout: float
    _framing_value: FramingLike = DEFAULT_FRAMING

    @property
    def framing(self) -> FramingLike:
        """The framing of frames when a step or a rule names none; set it
        before declaring them (a step keeps the framing it was declared with).
        ``LengthPrefixed()`` unless set: a 4-byte big-endian length."""
        return self._framing_value

    @framing.setter
    def framing(self, framing: FramingLike | None) -> None:
        __tracebackhide__ = True
        if framing is None:
            framing = DEFAULT_FRAMING
        self._framing_value = as_framing(framing, "framing")

    # -- the connection -----------------------------------------------------------

    def expect_connect(self, timeout: float | None = None) -> None:
        """The client connects within ``timeout`` seconds."""
        __tracebackhide__ = True
        self._add(ExpectConnect(self._timeout(timeout, "expect_connect")))

    def expect_disconnect(self, timeout: float | None = None) -> None:
        """The client closes the connection, sending nothing more."""
        __tracebackhide__ = True
        self._add(ExpectDisconnect(self._timeout(timeout, "expect_disconnect")))

    def disconnect(self) -> None:
        """The server closes the connection once what it sent is flushed."""
        __tracebackhide__ = True
        self._add(Disconnect())

    # -- bytes ----------------------------------------------------------------------

    def expect_bytes(self, data: BytesLike, timeout: float | None = None) -> None:
        """The client sends exactly ``data``, however TCP splits it."""
        __tracebackhide__ = True
        self._add(ExpectBytes(data, self._timeout(timeout, "expect_bytes")))  # type: ignore[arg-type]

    def send_bytes(self, data: Reply) -> None:
        """The server sends ``data``, or what ``data(received)`` returns, called
        when the step runs with the message the last expect step matched."""
        __tracebackhide__ = True
        self._add(SendBytes(data))  # type: ignore[arg-type]

    # -- lines ------------------------------------------------------------------------

    def expect_line(
        self,
        match: Match,
        *,
        delimiter: BytesLike = b"\r\n",
        max_length: int = DEFAULT_MAX_LENGTH,
        timeout: float | None = None,
    ) -> None:
        """The client sends one line that ``match`` accepts, without its
        ``delimiter``. A line longer than ``max_length`` bytes fails the step
        as soon as that many bytes arrived without the delimiter."""
        __tracebackhide__ = True
        timeout = self._timeout(timeout, "expect_line")
        self._add(ExpectLine(match, timeout, delimiter, max_length))  # type: ignore[arg-type]

    def send_line(self, data: Reply, *, delimiter: BytesLike = b"\r\n") -> None:
        """The server sends ``data`` (or what ``data(received)`` returns) and
        the ``delimiter``."""
        __tracebackhide__ = True
        self._add(SendLine(data, delimiter))  # type: ignore[arg-type]

    # -- frames ---------------------------------------------------------------------

    def expect_frame(
        self,
        match: Match,
        timeout: float | None = None,
        *,
        framing: FramingLike | None = None,
    ) -> None:
        """The client sends one frame (of ``framing``, else the server's) whose
        payload ``match`` accepts."""
        __tracebackhide__ = True
        timeout = self._timeout(timeout, "expect_frame")
        self._add(ExpectFrame(match, timeout, self._framing(framing)))

    def send_frame(self, payload: Reply, *, framing: FramingLike | None = None) -> None:
        """The server sends ``payload`` (or what ``payload(received)`` returns)
        as one frame of ``framing``, else of the server's."""
        __tracebackhide__ = True
        self._add(SendFrame(payload, self._framing(framing)))  # type: ignore[arg-type]

    # -- rules ----------------------------------------------------------------------

    def on_line(
        self,
        match: Match,
        reply: Reply | None = None,
        *,
        delimiter: BytesLike = b"\r\n",
        times: int | None = None,
    ) -> Rule:
        """Answer every line ``match`` accepts, whenever it comes, with
        ``reply`` and the delimiter (or nothing, if None).

        ``times``: how many such lines the client must send by the end of the
        test (None: any number). Returns the :class:`~.rules.Rule`, whose
        ``count`` tells how many it answered.
        """
        __tracebackhide__ = True
        rule = Rule.line(match, reply, delimiter, times)
        self._add_rule(rule)
        return rule

    def on_frame(
        self,
        match: Match,
        reply: Reply | None = None,
        *,
        framing: FramingLike | None = None,
        times: int | None = None,
    ) -> Rule:
        """Answer every frame (of ``framing``, else the server's) whose payload
        ``match`` accepts, whenever it comes, with ``reply`` as a frame (or
        nothing, if None). ``times`` as in :meth:`on_line`."""
        __tracebackhide__ = True
        rule = Rule.frame(match, reply, self._framing(framing), times)
        self._add_rule(rule)
        return rule

    # -- for subclasses -----------------------------------------------------------------

    def _timeout(self, value: float | None, method: str) -> float:
        __tracebackhide__ = True
        return as_timeout(value, f"{method}() argument 'timeout'", self.timeout)

    def _framing(self, framing: FramingLike | None) -> FramingLike:
        """The framing a step or rule uses: its own, else the server's."""
        return self.framing if framing is None else framing

    def _add(self, step: Step) -> None:
        """Declare ``step``, after every step declared before it."""
        raise NotImplementedError

    def _add_rule(self, rule: Rule) -> None:
        """Declare ``rule``."""
        raise NotImplementedError
