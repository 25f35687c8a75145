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

from collections.abc import Callable

from .arguments import BytesLike, as_seconds, as_timeout
from .certificates import CertificateAuthority, default_ca
from .framings import DEFAULT_FRAMING, DEFAULT_MAX_LENGTH, FramingLike, as_framing
from .matching import MatchLike, Received, ReplyLike
from .rules import Rule
from .steps import (
    Disconnect,
    ExpectBytes,
    ExpectConnect,
    ExpectDisconnect,
    ExpectFrame,
    ExpectLine,
    ExpectSilence,
    Pause,
    Reset,
    SendBytes,
    SendFrame,
    SendLine,
    ShutdownWrite,
    StartTLS,
    Step,
)

__all__ = [
    "ConnectionMethods",
    "Declared",
    "Match",
    "Reply",
    "RuleReply",
    "ServerMethods",
    "StepMethods",
]

Match = MatchLike
"""What a message must be: exactly these bytes, a pattern matching all of it,
or a callable that returns a true value for it."""
Reply = ReplyLike
"""What the server sends: bytes, or a callable given what was matched last
(None if no expect step on the connection matched anything yet)."""
RuleReply = BytesLike | Callable[[Received], BytesLike]
"""What a rule answers with: bytes, or a callable given the message it took."""


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
    tls: bool = False
    """Whether the server speaks TLS from the first byte."""
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

    def expect_disconnect(self, timeout: float | None = None) -> None:
        """The client closes the connection, sending nothing more."""
        __tracebackhide__ = True
        self._declare(ExpectDisconnect(self._timeout(timeout, "expect_disconnect")))

    def disconnect(self) -> None:
        """The server closes the connection once what it sent is flushed."""
        __tracebackhide__ = True
        self._declare(Disconnect())

    # -- faults -------------------------------------------------------------------------

    def reset(self) -> None:
        """The server aborts the connection with a TCP RST: the client sees a
        connection reset."""
        __tracebackhide__ = True
        self._declare(Reset())

    def shutdown_write(self) -> None:
        """The server half-closes the connection (sends a FIN) and keeps
        reading: later expect steps still work, sends no longer do."""
        __tracebackhide__ = True
        self._declare(ShutdownWrite())

    def pause(self, seconds: float) -> None:
        """The server waits ``seconds`` before the next step (a slow server);
        the wait counts toward no step's timeout."""
        __tracebackhide__ = True
        self._declare(Pause(as_seconds(seconds, "pause() argument 'seconds'")))

    def expect_silence(self, seconds: float) -> None:
        """For ``seconds`` from the moment the step becomes current, the client
        sends nothing and does not close the connection; declared on the
        server, it applies to the latest connection, and the client opens no
        new connection either (it waits, or backs off)."""
        __tracebackhide__ = True
        seconds = as_seconds(seconds, "expect_silence() argument 'seconds'")
        self._declare(ExpectSilence(seconds, connections=self._watches_connections))

    # -- TLS ------------------------------------------------------------------------

    def start_tls(self, *, client_certificate: bool = False) -> None:
        """The server starts TLS on the connection at this point of the script,
        as the server's side of STARTTLS: the steps after it see the
        plaintext inside TLS. The client must start its handshake next; with
        ``client_certificate``, it must present a certificate the server's CA
        issued.

        :raises ValueError: on a server that speaks TLS from the first byte,
            or a second time on one connection.
        """
        __tracebackhide__ = True
        if not isinstance(client_certificate, bool):
            kind = type(client_certificate).__name__
            raise TypeError(
                f"start_tls() argument 'client_certificate' must be bool, not {kind}"
            )
        if self.tls:
            raise ValueError(
                "start_tls() on a server that speaks TLS from the first byte (tls=True)"
            )
        self._declare(StartTLS(self._certificates().server_context(client_certificate)))

    # -- bytes ----------------------------------------------------------------------

    def expect_bytes(self, data: BytesLike, timeout: float | None = None) -> None:
        """The client sends exactly ``data``, however TCP splits it."""
        __tracebackhide__ = True
        self._declare(ExpectBytes(data, self._timeout(timeout, "expect_bytes")))

    def send_bytes(
        self, data: Reply, *, chunk: int | None = None, interval: float = 0.0
    ) -> None:
        """The server sends ``data``, or what ``data(received)`` returns, called
        when the step runs with the message the last expect step on the
        connection matched.

        With ``chunk``, in writes of ``chunk`` bytes, each a segment of its
        own, ``interval`` seconds apart.
        """
        __tracebackhide__ = True
        self._declare(SendBytes(data, chunk, interval))

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
        self._declare(ExpectLine(match, timeout, delimiter, max_length))

    def send_line(
        self,
        data: Reply,
        *,
        delimiter: BytesLike = b"\r\n",
        chunk: int | None = None,
        interval: float = 0.0,
    ) -> None:
        """The server sends ``data`` (or what ``data(received)`` returns) and
        the ``delimiter``; ``chunk`` and ``interval`` as for :meth:`send_bytes`."""
        __tracebackhide__ = True
        self._declare(SendLine(data, delimiter, chunk, interval))

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
        self._declare(ExpectFrame(match, timeout, self._framing(framing)))

    def send_frame(
        self,
        payload: Reply,
        *,
        framing: FramingLike | None = None,
        chunk: int | None = None,
        interval: float = 0.0,
    ) -> None:
        """The server sends ``payload`` (or what ``payload(received)`` returns)
        as one frame of ``framing``, else of the server's; ``chunk`` and
        ``interval`` as for :meth:`send_bytes`."""
        __tracebackhide__ = True
        framing = self._framing(framing)
        self._declare(SendFrame(payload, framing, chunk, interval))

    # -- for subclasses -----------------------------------------------------------------

    def _timeout(self, value: float | None, method: str) -> float:
        __tracebackhide__ = True
        if value is None:  # the common case, without building the argument's name
            return self.timeout
        return as_timeout(value, f"{method}() argument 'timeout'", self.timeout)

    def _framing(self, framing: FramingLike | None) -> FramingLike:
        """The framing a step or rule uses: its own, else the server's."""
        return self.framing if framing is None else framing

    _watches_connections = True
    """Whether ``expect_silence()`` watches for new connections too."""

    def _declare(self, step: Step) -> None:
        """Declare ``step``: where it goes is :meth:`_add`'s business."""
        __tracebackhide__ = True
        self._add(step)

    def _add(self, step: Step) -> None:
        """Declare ``step``, after every step declared before it."""
        raise NotImplementedError

    def _certificates(self) -> CertificateAuthority:
        """The CA whose server certificate TLS uses (the process's by default)."""
        return default_ca()


class Declared:
    """What was declared so far on the ``number``-th connection declared, for
    the steps declared after to be checked against.

    The server keeps it for the latest connection and the connection's
    handle shares it; the server keeps no handle, so neither refers back to
    the other.
    """

    __slots__ = ("ended", "number", "secured")

    def __init__(self, number: int) -> None:
        self.number = number
        self.ended: str | None = None
        """The step that closed the connection, once declared."""
        self.secured = False
        """Whether ``start_tls()`` was declared on it."""

    def check_tls(self, step: Step) -> None:
        """Raise ``ValueError`` if ``step`` starts TLS a second time."""
        __tracebackhide__ = True
        if step.secures and self.secured:
            raise ValueError(f"start_tls() twice on connection #{self.number}")

    def declared(self, step: Step) -> None:
        """``step`` was declared on the connection."""
        if step.closes:
            self.ended = str(step)
        if step.secures:
            self.secured = True


class ServerMethods(StepMethods):
    """The methods of a server: the step methods, which apply to the
    connection of the latest ``expect_connect()``, and ``expect_connect()``
    and the rules, which are the server's."""

    _latest: Declared | None = None

    def expect_connect(self, timeout: float | None = None) -> ConnectionMethods:
        """The client connects within ``timeout`` seconds; returns the
        connection, to declare its own steps on. Declared while earlier
        connections are open (no close declared on them yet), it is one more
        connection open at the same time: the n-th the client opens is the
        n-th declared."""
        __tracebackhide__ = True
        self._declare(ExpectConnect(self._timeout(timeout, "expect_connect")))
        latest = self._latest
        self._latest = Declared(1 if latest is None else latest.number + 1)
        return self._connection(self._latest)

    # -- rules ----------------------------------------------------------------------

    def on_line(
        self,
        match: Match,
        reply: RuleReply | None = None,
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
        reply: RuleReply | None = None,
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

    def _declare(self, step: Step) -> None:
        __tracebackhide__ = True
        latest = self._latest
        if latest is not None:
            if latest.ended is not None and step.needs_connection:
                raise ValueError(
                    f"{step} on the server goes to connection #{latest.number}, which "
                    f"ended with {latest.ended}: declare expect_connect() first"
                )
            latest.check_tls(step)
        self._add(step)
        if latest is not None:
            latest.declared(step)

    def _connection(self, declared: Declared) -> ConnectionMethods:
        """A handle of the connection ``declared`` is about."""
        raise NotImplementedError

    def _add_rule(self, rule: Rule) -> None:
        """Declare ``rule``."""
        raise NotImplementedError


class ConnectionMethods(StepMethods):
    """The step methods of one declared connection, from its
    ``expect_connect()`` on: steps on it run in order, beside the other
    connections'."""

    _watches_connections = False

    def __init__(self, declared: Declared) -> None:
        self._so_far = declared
        self.number = declared.number
        """1 for the first connection declared, 2 for the next..."""

    def _declare(self, step: Step) -> None:
        __tracebackhide__ = True
        so_far = self._so_far
        if so_far.ended is not None:
            raise ValueError(
                f"connection #{self.number} ended with {so_far.ended}: declare "
                "expect_connect() on the server for another connection"
            )
        so_far.check_tls(step)
        self._add(step)
        so_far.declared(step)
