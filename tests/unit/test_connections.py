"""Unit tests of several connections and of faults, on a MemoryReactorClock.

Clients are the server's protocols on StringTransports, fed by hand; time
passes only by ``reactor.advance``: timeouts, pauses, intervals and silences
are checked without sleeping.
"""

from __future__ import annotations

import math
import re

import pytest
from outcomes import PENDING, failure_of, outcome
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from pytest_tcpclient.core import ScriptedServer, ServerStopped
from pytest_tcpclient.core.script import Abort, HalfClose, Script, Write
from pytest_tcpclient.core.steps import ExpectConnect, SendBytes


class Transport(StringTransport):
    """A StringTransport that reports an abort or a close to its protocol, and
    keeps what a fault did."""

    def __init__(self):
        super().__init__()
        self.aborted = False
        self.write_closed = False
        self.writes = []
        self.nodelay = False

    def write(self, data):
        self.writes.append(data)
        super().write(data)

    flushed = 0  # how many bytes written were handed to the kernel

    def doWrite(self):
        self.flushed = len(self.value())

    def setTcpNoDelay(self, enabled):
        self.nodelay = enabled

    def abortConnection(self):
        self.aborted = True
        self.lost = self.value()[self.flushed :]  # what the abort threw away
        super().abortConnection()
        self.protocol.connectionLost(Failure(ConnectionAborted()))

    def loseWriteConnection(self):
        self.write_closed = True


class Client:
    def __init__(self, reactor, index=0):
        self.protocol = reactor.tcpServers[index][1].buildProtocol(None)
        self.transport = Transport()
        self.transport.protocol = self.protocol
        self.protocol.makeConnection(self.transport)

    def send(self, *segments):
        for segment in segments:
            self.protocol.dataReceived(segment)

    def close(self):
        self.protocol.connectionLost(Failure(ConnectionDone()))

    def reset(self):
        self.protocol.connectionLost(Failure(ConnectionLost()))

    @property
    def received(self):
        return self.transport.value()


@pytest.fixture
def reactor():
    return MemoryReactorClock()


@pytest.fixture
def server(reactor):
    return ScriptedServer(reactor)


@pytest.fixture
def connect(reactor, server):
    return lambda: Client(reactor)


# -- several connections at once --------------------------------------------------------


def test_connections_declared_while_others_are_open_run_side_by_side(server, connect):
    first = server.expect_connect()
    second = server.expect_connect()
    first.expect_bytes(b"one")
    first.send_bytes(b"1")
    second.expect_bytes(b"two")
    second.send_bytes(b"2")
    a, b = connect(), connect()
    b.send(b"two")  # the second connection first: they are independent
    assert (a.received, b.received) == (b"", b"2")
    assert outcome(second.join()) is None
    assert outcome(first.join()) is PENDING
    joined = server.join()
    a.send(b"one")
    assert a.received == b"1"
    assert outcome(joined) is None


def test_a_computed_reply_gets_the_message_of_its_own_connection(server, connect, reactor):
    connections = server.expect_connect(), server.expect_connect()
    for connection in connections:
        connection.expect_line(re.compile(rb"GET (?P<key>\w+)"))
        connection.pause(0.1)
        connection.send_line(lambda received: b"VALUE " + received["key"])
    a, b = connect(), connect()
    a.send(b"GET a\r\n")
    b.send(b"GET b\r\n")  # the latest message of the server, not of the first
    reactor.advance(0.1)
    assert (a.received, b.received) == (b"VALUE a\r\n", b"VALUE b\r\n")
    assert [m.data for m in server.received] == [b"GET a", b"GET b"]


def test_join_waits_until_a_connection_held_back_is_decided(server, connect, reactor):
    server.expect_connect()
    server.expect_bytes(b"hi")
    first = connect()
    connect()  # while the first is open: a reconnect, or one too many?
    first.send(b"hi")
    joined = server.join()
    assert not joined.called
    reactor.advance(0)  # quiet turns: one too many
    assert failure_of(joined).summary.startswith("Expected one connection at a time")


def test_the_nth_connection_accepted_is_the_nth_declared(server, connect):
    first = server.expect_connect()
    second = server.expect_connect()
    clients = [connect(), connect()]
    first.send_bytes(b"to the first")
    second.send_bytes(b"to the second")
    assert [c.received for c in clients] == [b"to the first", b"to the second"]


def test_steps_on_the_server_go_to_the_latest_connection(server, connect):
    first = server.expect_connect()
    server.expect_connect()
    server.send_bytes(b"latest")
    first.send_bytes(b"first")
    a, b = connect(), connect()
    assert (a.received, b.received) == (b"first", b"latest")


def test_a_connection_beyond_those_declared_fails(reactor, server, connect):
    server.expect_connect()
    server.expect_connect()
    server.expect_bytes(b"x")
    connect(), connect()
    third = connect()  # held a reactor turn: is it a reconnect?
    reactor.advance(0)
    reactor.advance(0)
    failure = failure_of(server.join())
    assert failure.summary == (
        "Expected 2 connections, but the client opened a third while 2 were open"
    )
    assert third.transport.disconnecting


def test_once_two_connections_are_declared_the_transcript_names_them(server, connect):
    first = server.expect_connect()
    second = server.expect_connect()
    first.expect_bytes(b"a")
    second.expect_bytes(b"b")
    a = connect()
    a.send(b"a")
    b = connect()
    b.send(b"x")
    transcript = failure_of(server.join()).transcript
    assert transcript == [
        "#1 client connected",
        "#1 client sent b'a'",
        "#2 client connected",
        "#2 client sent b'x'",
        "#2 failed at expect_bytes(b'b')",
    ]


def test_a_declared_connection_that_never_comes_is_named(server, connect, reactor):
    server.expect_connect()
    server.expect_connect()
    connect()
    reactor.advance(1.0)
    assert failure_of(server.join()).transcript == [
        "#1 client connected",
        "#2 failed at expect_connect()",
    ]


def test_a_pooled_connection_idle_while_another_works_is_not_timed(
    server, connect, reactor
):
    fast, slow = server.expect_connect(), server.expect_connect()
    fast.expect_line(b"A")
    fast.send_line(b"a")
    slow.expect_line(b"B")
    slow.pause(1.5)  # longer than the idle timeout (the server's, 1 s)
    slow.send_line(b"b")
    a, b = connect(), connect()
    a.send(b"A\r\n")
    b.send(b"B\r\n")
    reactor.advance(1.5)
    assert outcome(server.join()) is None
    assert b.received == b"b\r\n"
    reactor.advance(0.99)  # now every step is done: both are timed from here
    assert server._factory.script.failure is None
    reactor.advance(0.01)
    failure = failure_of(server.join())
    assert failure.summary == (
        "Timed out waiting for the client to close the connection after the last step"
    )


@pytest.fixture
def replaced(server):
    """Connections #1 and #2 at once, then #3 declared after #1's close."""
    first = server.expect_connect()
    server.expect_connect()
    first.expect_disconnect()
    return server.expect_connect()  # beside #2, once #1 is closed


def test_a_connection_declared_after_a_close_replaces_that_connection(
    server, replaced, connect, reactor
):
    connect(), connect(), connect()  # three at once, #1 still open
    reactor.advance(0.5)
    failure = failure_of(server.join())
    assert failure.summary == (
        "Expected 2 connections, but the client opened a third while 2 were open"
    )


def test_a_connection_declared_after_a_close_may_open_once_it_closed(replaced, connect):
    replaced.send_bytes(b"third")
    first, _ = connect(), connect()
    first.close()
    assert connect().received == b"third"
    assert outcome(replaced.join()) is None


def test_connections_opened_at_once_but_declared_one_after_another_get_a_hint(
    server, connect, reactor
):
    for _ in range(2):
        connection = server.expect_connect()
        connection.expect_disconnect()
    connect(), connect()
    reactor.advance(0.5)
    failure = failure_of(server.join())
    assert failure.summary.startswith("Expected one connection at a time")
    assert failure.details == [
        "A connection declared after the close of the one before it "
        "(expect_disconnect(), disconnect(), reset()) follows it; for connections "
        "open at the same time, declare their expect_connect() before their closes."
    ]


def test_a_step_for_a_connection_on_the_server_after_its_close_is_refused(server):
    server.expect_connect()
    server.expect_disconnect()
    with pytest.raises(ValueError, match=r"send_bytes\(b'hi'\) on the server goes to"):
        server.send_bytes(b"hi")
    server.pause(0.1)  # these need no connection: a back-off, a reconnect
    server.expect_silence(0.1)
    server.expect_connect()


def test_a_connection_declared_after_the_others_closed_starts_after_their_steps(
    server, connect
):
    server.expect_connect()
    server.expect_bytes(b"first")
    server.disconnect()
    server.expect_connect()
    server.send_bytes(b"welcome back")
    a = connect()
    assert a.received == b""
    a.send(b"first")
    b = connect()
    assert b.received == b"welcome back"


def test_a_step_on_a_connection_that_ended_is_refused_at_the_call(server):
    connection = server.expect_connect()
    connection.expect_disconnect()
    with pytest.raises(ValueError, match=r"connection #1 ended with expect_disconnect\(\)"):
        connection.send_bytes(b"late")
    connection = server.expect_connect()
    server.reset()  # on the server: it ends the latest connection
    with pytest.raises(ValueError, match=r"connection #2 ended with reset\(\)"):
        connection.expect_bytes(b"x")


def test_a_connection_joined_before_anything_happens_waits(server, connect):
    connection = server.expect_connect()
    joined = connection.join()
    assert outcome(joined) is PENDING
    connect()
    assert outcome(joined) is None
    assert repr(connection) == f"<Connection #1 of 127.0.0.1:{server.service_port}>"


def test_a_connection_frames_with_the_servers_framing(reactor):
    from pytest_tcpclient.framing import Netstring

    server = ScriptedServer(reactor, framing=Netstring())
    connection = server.expect_connect()
    assert connection.framing == Netstring()
    connection.expect_frame(b"hi")
    Client(reactor).send(b"2:hi,")
    assert outcome(connection.join()) is None


def test_a_connection_handle_has_no_expect_connect(server):
    assert not hasattr(server.expect_connect(), "expect_connect")


# -- faults -------------------------------------------------------------------------


def test_reset_aborts_the_connection_once_what_was_sent_is_out(server, connect):
    server.expect_connect()
    server.send_bytes(b"bye")
    server.reset()
    client = connect()
    assert client.transport.aborted
    assert client.transport.lost == b""  # b"bye" went out before the reset
    assert outcome(server.join()) is None
    assert server._factory.script.transcript.lines()[-1] == "server reset the connection"


def test_reset_is_an_abort_action():
    script = Script()
    script.add(ExpectConnect(1.0))
    script.connection_made("c")
    from pytest_tcpclient.core.steps import Reset

    assert script.add(Reset()) == [Abort("c")]


def test_shutdown_write_half_closes_and_later_expect_steps_still_work(server, connect):
    server.expect_connect()
    server.send_bytes(b"all of it")
    server.shutdown_write()
    server.expect_bytes(b"thanks")
    server.expect_disconnect()
    client = connect()
    assert client.transport.write_closed
    client.send(b"thanks")
    client.close()
    assert outcome(server.join()) is None


def test_sending_after_shutdown_write_fails(server, connect):
    server.expect_connect()
    server.shutdown_write()
    server.send_bytes(b"more")
    connect()
    failure = failure_of(server.join())
    assert failure.summary == "Cannot send after shutdown_write(): the server half-closed"


def test_half_close_is_an_action():
    script = Script()
    script.add(ExpectConnect(1.0))
    script.connection_made("c")
    from pytest_tcpclient.core.steps import ShutdownWrite

    assert script.add(ShutdownWrite()) == [HalfClose("c")]


def test_pause_waits_before_the_next_step_and_counts_toward_no_timeout(
    reactor, server, connect
):
    server.expect_connect()
    server.pause(0.5)
    server.send_bytes(b"late")
    server.expect_bytes(b"ok", timeout=1)
    client = connect()
    reactor.advance(0.49)
    assert client.received == b""
    reactor.advance(0.01)
    assert client.received == b"late"
    reactor.advance(0.99)  # the expect step's second started after the pause
    assert server._factory.script.failure is None
    reactor.advance(0.01)
    assert failure_of(server.join()).summary == "Timed out waiting for b'ok'"


def test_a_send_in_chunks_writes_each_as_a_segment_of_its_own(reactor, server, connect):
    server.expect_connect()
    server.send_frame(b"hello", chunk=1)
    client = connect()
    assert client.transport.writes == [
        b"\x00",
        b"\x00",
        b"\x00",
        b"\x05",
        *(bytes([c]) for c in b"hello"),
    ]
    assert client.transport.nodelay


def test_a_send_with_an_interval_waits_between_the_chunks(reactor, server, connect):
    server.expect_connect()
    server.send_line(b"abcd", chunk=2, interval=0.1)
    server.expect_bytes(b"ok", timeout=1)
    client = connect()
    assert client.received == b"ab"
    reactor.advance(0.1)
    assert client.received == b"abcd"
    reactor.advance(0.1)
    assert client.received == b"abcd\r\n"
    reactor.advance(0.99)  # the intervals count toward no timeout
    assert server._factory.script.failure is None
    reactor.advance(0.01)
    assert failure_of(server.join()).summary == "Timed out waiting for b'ok'"


def test_segments_are_write_actions_marked_as_segments():
    script = Script()
    script.add(ExpectConnect(1.0))
    script.connection_made("c")
    assert script.add(SendBytes(b"abc", chunk=2)) == [
        Write("c", b"ab", segment=True),
        Write("c", b"c", segment=True),
    ]


def test_silence_passes_when_the_client_waits(reactor, server, connect):
    server.expect_connect()
    server.reset()
    server.expect_silence(0.4)
    server.expect_connect()
    connect()
    reactor.advance(0.4)
    connect()
    assert outcome(server.join()) is None


@pytest.mark.parametrize(
    ("act", "summary"),
    [
        (
            lambda reactor, client: Client(reactor),
            "Expected silence for 0.4 s, but the client connected again after 0.1 s",
        ),
    ],
)
def test_silence_fails_when_the_client_comes_back_too_soon(
    reactor, server, connect, act, summary
):
    server.expect_connect()
    server.reset()
    server.expect_silence(0.4)
    server.expect_connect()
    client = connect()
    reactor.advance(0.1)
    act(reactor, client)
    assert failure_of(server.join()).summary == summary


@pytest.mark.parametrize(
    ("act", "what"),
    [
        (lambda client: client.send(b"ping"), "the client sent b'ping'"),
        (lambda client: client.close(), "the client closed the connection"),
        (lambda client: client.reset(), "the client reset the connection"),
    ],
)
def test_silence_on_a_connection_fails_when_the_client_speaks(
    reactor, server, connect, act, what
):
    connection = server.expect_connect()
    connection.expect_silence(1)
    client = connect()
    reactor.advance(0.25)
    act(client)
    failure = failure_of(server.join())
    assert failure.summary == f"Expected silence for 1 s, but {what} after 0.2 s"


def test_silence_on_a_connection_does_not_watch_new_connections(reactor, server, connect):
    first = server.expect_connect()
    server.expect_connect()
    first.expect_silence(0.5)
    connect()
    reactor.advance(0.1)
    connect()
    reactor.advance(0.4)
    assert outcome(first.join()) is None


def test_a_stop_during_an_interval_names_the_send_with_its_pieces(server, connect):
    server.expect_connect()
    server.send_line(b"abcd", chunk=2, interval=0.1)
    connect()
    server.close()
    assert server._factory.script.failure.summary == (
        "The server stopped before send_line(b'abcd', chunk=2, interval=0.1) was done"
    )


# -- held connections ----------------------------------------------------------------------


def test_two_connections_held_back_at_once_are_each_decided(reactor, server, connect):
    server.expect_connect()
    server.expect_bytes(b"hi")
    clients = [connect(), connect(), connect()]  # two held: reconnects, or too many?
    reactor.advance(0)
    reactor.advance(0)  # a quiet turn: too many
    assert failure_of(server.join()).summary == (
        "Expected one connection at a time, "
        "but the client opened a second one while the first was open"
    )
    assert [client.transport.disconnecting for client in clients] == [True] * 3


def test_a_connection_held_back_that_closes_is_decided_at_its_close(server, connect):
    server.expect_connect()
    server.expect_bytes(b"hi")
    first, second = connect(), connect()  # the second one is held
    second.close()  # while the first was open: one too many
    assert failure_of(server.join()).summary.startswith("Expected one connection at a time")
    assert first.transport.disconnecting


# -- held connections at teardown ---------------------------------------------------------


def test_teardown_decides_a_held_connection_before_the_end(reactor, server, connect):
    """A second connection the driver holds (is it a reconnect?) counts."""
    server.expect_connect()
    server.expect_bytes(b"x")
    connect()
    reactor.tcpServers[0][1].buildProtocol(None).makeConnection(Transport())  # held
    verified = server.verify()
    assert not verified.called  # decided after a quiet reactor turn
    reactor.advance(0)
    reactor.advance(0)
    assert failure_of(verified).summary.startswith("Expected one connection at a time")


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exception", "message"),
    [
        (lambda s: s.pause(-1), ValueError, "pause() argument 'seconds'"),
        (lambda s: s.pause(math.inf), ValueError, "pause() argument 'seconds'"),
        (lambda s: s.pause("1"), TypeError, "pause() argument 'seconds'"),
        (
            lambda s: s.pause(None),
            TypeError,
            "pause() argument 'seconds' must be a number of seconds, not NoneType",
        ),
        (lambda s: s.expect_silence(math.nan), ValueError, "expect_silence() argument"),
        (lambda s: s.send_bytes(b"x", chunk=0), ValueError, "'chunk' must be 1 or more"),
        (lambda s: s.send_line(b"x", chunk=1.5), TypeError, "'chunk' must be an int"),
        (lambda s: s.send_frame(b"x", interval=-0.1), ValueError, "argument 'interval'"),
    ],
)
def test_bad_fault_arguments_are_refused_at_the_call(server, call, exception, message):
    with pytest.raises(exception, match=re.escape(message)):
        call(server)
    server.expect_connect()  # still usable


def test_a_step_on_a_connection_of_a_stopped_server_raises_server_stopped(server):
    connection = server.expect_connect()
    server.close()
    with pytest.raises(ServerStopped):
        connection.send_bytes(b"x")
