"""Unit tests of ScriptedServer and ServerGroup on a MemoryReactorClock.

No sockets and no real time: a client is the server's protocol on a
StringTransport, fed by hand, and time passes only by ``reactor.advance``.
"""

from __future__ import annotations

import gc
import math
import os
import socket
import weakref

import pytest
from outcomes import PENDING, failure_of, outcome
from twisted.internet.defer import ensureDeferred, inlineCallbacks
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from pytest_tcpclient.core import (
    ScriptedServer,
    ScriptFailure,
    ServerGroup,
    ServerStopped,
)
from pytest_tcpclient.core.arguments import as_bytes


class Reactor(MemoryReactorClock):
    """A MemoryReactorClock that records which ports stopped listening."""

    def __init__(self):
        super().__init__()
        self.stopped_ports = []

    def listenTCP(self, port, factory, backlog=50, interface=""):
        listening = super().listenTCP(port, factory, backlog, interface)
        listening.stopListening = lambda: self.stopped_ports.append(listening)
        return listening


class Transport(StringTransport):
    """A StringTransport that, like a reactor, reports an abort to its protocol."""

    def abortConnection(self):
        super().abortConnection()
        self.protocol.connectionLost(Failure(ConnectionAborted()))


class Client:
    """One client connection to the ``index``-th server the reactor listens for."""

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
        """What the server wrote to this client."""
        return self.transport.value()

    @property
    def closed_by_server(self):
        return self.transport.disconnecting


@pytest.fixture
def reactor():
    return Reactor()


@pytest.fixture
def server(reactor):
    return ScriptedServer(reactor)


@pytest.fixture
def connect(reactor, server):
    """Connect a client to the server; the argument picks another server."""
    return lambda index=0: Client(reactor, index)


# -- listening -------------------------------------------------------------------


def test_listens_on_loopback_on_a_port_the_kernel_picks(reactor, server):
    [(port, _, _, interface)] = reactor.tcpServers
    assert (port, interface) == (0, "127.0.0.1")
    assert server.host == "127.0.0.1"
    assert server.service_port == 0  # what MemoryReactor's port reports


def test_a_server_given_a_listening_socket_serves_it(reactor):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = ScriptedServer(reactor, listener=listener)
        [(fileno, family, factory)] = reactor.adoptedPorts
        assert (fileno, family) == (listener.fileno(), socket.AF_INET)
    assert factory is server._factory
    assert reactor.tcpServers == []  # no port of its own
    assert server.service_port == 1234  # what MemoryReactor's adopted port reports


def test_repr_tells_the_state_and_the_progress(server, connect):
    server.expect_connect()
    server.expect_bytes(b"hi")
    connect()
    assert repr(server) == "<ScriptedServer 127.0.0.1:0 listening, 1/2 steps done>"
    server.close()
    assert repr(server) == "<ScriptedServer 127.0.0.1:0 stopped, 1/2 steps done>"


# -- join ------------------------------------------------------------------------


def test_join_fires_once_every_declared_step_is_done(server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello, server!")
    server.send_bytes(b"Hello, client!")
    server.expect_disconnect()
    done = server.join()
    client = connect()
    client.send(b"Hello, server!")
    assert client.received == b"Hello, client!"
    assert not done.called
    client.close()
    assert outcome(done) is None


def test_steps_declared_after_the_client_acted_run_at_once(server, connect):
    client = connect()
    client.send(b"Hello, ", b"server!")
    server.expect_connect()
    server.expect_bytes(b"Hello, server!")
    server.send_bytes(b"Hello, client!")
    assert client.received == b"Hello, client!"
    assert outcome(server.join()) is None


def test_join_with_nothing_declared_fires_at_once(server):
    assert outcome(server.join()) is None


def test_join_can_be_called_again_with_steps_declared_in_between(server, connect):
    server.expect_connect()
    first = server.join()
    client = connect()
    assert outcome(first) is None
    server.expect_frame(b"ping")
    server.send_frame(b"pong")
    second = server.join()
    assert outcome(second) is PENDING
    client.send(b"\x00\x00\x00\x04ping")
    assert outcome(second) is None
    assert client.received == b"\x00\x00\x00\x04pong"
    server.disconnect()
    assert outcome(server.join()) is None
    assert client.closed_by_server


def test_join_errbacks_with_the_script_failure(server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    done = server.join()
    connect().send(b"Help!")
    failure = failure_of(done)
    assert failure.summary == (
        "Expected b'Hello' but received b'Help!' (first difference at offset 3)"
    )


def test_every_pending_join_errbacks(server, connect):
    server.expect_connect()
    first = server.join()
    server.expect_bytes(b"Hello")
    second = server.join()
    connect().send(b"x")
    assert outcome(first) is None
    assert failure_of(second).summary.startswith("Expected b'Hello'")
    assert failure_of(server.join()).summary.startswith("Expected b'Hello'")


@pytest.mark.parametrize(
    "take",
    [
        lambda joined, seen: joined.addCallbacks(seen.append, seen.append),
        lambda joined, seen: joined.addCallback(seen.append).addErrback(seen.append),
        lambda joined, seen: joined.addErrback(seen.append),
        lambda joined, seen: joined.addBoth(seen.append),
    ],
    ids=["addCallbacks", "addCallback", "addErrback", "addBoth"],
)
def test_a_failure_taken_with_callbacks_is_not_reported_again(server, connect, take):
    server.expect_connect()
    server.expect_bytes(b"hi")
    seen = []
    take(server.join(), seen)
    connect().send(b"ho")
    assert seen[0].value.summary.startswith("Expected b'hi'")
    assert outcome(server.verify()) is None


def test_failing_with_turns_a_script_failure_into_the_layers_exception(server, connect):
    from twisted.internet.defer import fail

    from pytest_tcpclient.core.server import failing_with

    server.expect_connect()
    server.expect_bytes(b"hi")
    joined = server.join().addErrback(failing_with, RuntimeError)
    connect().send(b"ho")
    failure = outcome(joined)
    assert failure.check(RuntimeError)
    assert str(failure.value) == str(server._factory.script.failure)
    other = fail(ValueError("not a script's")).addErrback(failing_with, RuntimeError)
    assert outcome(other).check(ValueError)  # passes through
    other.addErrback(lambda _: None)


# -- time ---------------------------------------------------------------------------


def test_expect_bytes_times_out_with_the_seed_message(reactor, server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello, world!")
    server.expect_disconnect()
    done = server.join()
    client = connect()
    reactor.advance(0.9)
    assert not done.called
    reactor.advance(0.2)
    assert failure_of(done).summary == "Timed out waiting for b'Hello, world!'"
    assert client.closed_by_server


def test_the_timeout_counts_from_when_the_step_becomes_current(reactor, server, connect):
    """A step declared early whose predecessor takes 0.9 s still gets its full second."""
    server.expect_connect()
    server.expect_bytes(b"ping")
    done = server.join()
    reactor.advance(0.9)
    connect()
    reactor.advance(0.9)  # 1.8 s after it was declared
    assert not done.called
    reactor.advance(0.2)
    assert failure_of(done).summary == "Timed out waiting for b'ping'"


def test_bytes_trickling_in_do_not_extend_the_timeout(reactor, server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    done = server.join()
    client = connect()
    for byte in b"Hell":
        reactor.advance(0.2)
        client.send(bytes([byte]))
    reactor.advance(0.3)
    assert failure_of(done).details == ["Received only b'Hell'"]


@pytest.mark.parametrize(
    ("connected", "declare", "summary"),
    [
        pytest.param(
            False,
            lambda server: server.expect_connect(timeout=5),
            "Timed out waiting for a connection",
            id="expect_connect",
        ),
        pytest.param(
            True,
            lambda server: server.expect_bytes(b"hi", timeout=5),
            "Timed out waiting for b'hi'",
            id="expect_bytes",
        ),
        pytest.param(
            True,
            lambda server: server.expect_frame(b"hi", timeout=5),
            "Timed out waiting for frame b'hi'",
            id="expect_frame",
        ),
        pytest.param(
            True,
            lambda server: server.expect_disconnect(timeout=5),
            "Timed out waiting for the client to close the connection",
            id="expect_disconnect",
        ),
    ],
)
def test_each_step_takes_its_own_timeout(
    reactor, server, connect, connected, declare, summary
):
    if connected:
        server.expect_connect(timeout=0.5)
        connect()
    declare(server)
    done = server.join()
    reactor.advance(4.9)
    assert not done.called
    reactor.advance(0.2)
    assert failure_of(done).summary == summary


@pytest.mark.parametrize(
    ("arguments", "timeout"),
    [
        pytest.param({"timeout": 3}, 3, id="3 s"),
        pytest.param({"timeout": 0.25}, 0.25, id="0.25 s"),
        pytest.param({}, 1, id="default"),
        pytest.param({"timeout": None}, 1, id="None is the default"),
    ],
)
def test_the_server_timeout_is_the_default_of_every_step(reactor, arguments, timeout):
    server = ScriptedServer(reactor, **arguments)
    server.expect_connect()
    done = server.join()
    reactor.advance(timeout * 0.9)
    assert not done.called
    reactor.advance(timeout * 0.2)
    assert failure_of(done).summary == "Timed out waiting for a connection"
    assert server.timeout == timeout


# -- segmentation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "segments", "replies"),
    [
        pytest.param(
            "bytes",
            [bytes([byte]) for byte in b"Hello, server!"],
            b"12",
            id="bytes one at a time",
        ),
        pytest.param(
            "bytes",
            [b"Hello, server!"],
            b"12",
            id="two steps' worth of bytes in one segment",
        ),
        pytest.param(
            "frame",
            [b"\x00\x00", b"\x00\x07Hello, \x00\x00\x00", b"\x07server!"],
            b"\x00\x00\x00\x011\x00\x00\x00\x012",
            id="frame headers split",
        ),
        pytest.param(
            "frame",
            [b"\x00\x00\x00\x07Hello, \x00\x00\x00\x07server!"],
            b"\x00\x00\x00\x011\x00\x00\x00\x012",
            id="two frames in one segment",
        ),
    ],
)
def test_expectations_match_however_the_bytes_arrive(
    server, connect, kind, segments, replies
):
    expect, send = getattr(server, f"expect_{kind}"), getattr(server, f"send_{kind}")
    server.expect_connect()
    expect(b"Hello, ")
    send(b"1")
    expect(b"server!")
    send(b"2")
    done = server.join()
    client = connect()
    client.send(*segments)
    assert client.received == replies
    assert outcome(done) is None


# -- failing fast ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("act", "summary"),
    [
        pytest.param(
            lambda client, connect: client.send(b"Hel", b"p!"),
            "Expected b'Hello' but received b'Help!' (first difference at offset 3)",
            id="wrong bytes",
        ),
        pytest.param(
            lambda client, connect: (client.send(b"He"), client.close()),
            "Expected b'Hello' but the client closed the connection after b'He'",
            id="closed early",
        ),
        pytest.param(
            lambda client, connect: (client.send(b"He"), client.reset()),
            "Expected b'Hello' but the connection was reset after b'He'",
            id="reset",
        ),
    ],
)
def test_a_failure_is_reported_at_once_and_stops_the_script(
    reactor, server, connect, act, summary
):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    server.send_bytes(b"never sent")
    done = server.join()
    client = connect()
    act(client, connect)
    assert failure_of(done).summary == summary  # without advancing the clock
    assert reactor.getDelayedCalls() == []
    assert client.received == b""


@pytest.mark.parametrize(
    ("act", "summary"),
    [
        pytest.param(
            lambda client: client.send(b"extra"),
            "Expected the client to close the connection, but it sent b'extra'",
            id="bytes",
        ),
        pytest.param(
            lambda client: client.reset(),
            "Expected the client to close the connection, but the connection was reset",
            id="reset",
        ),
    ],
)
def test_expect_disconnect_fails_at_once(reactor, server, connect, act, summary):
    server.expect_connect()
    server.expect_disconnect()
    done = server.join()
    act(connect())
    assert failure_of(done).summary == summary
    assert reactor.getDelayedCalls() == []


@pytest.mark.parametrize(
    ("close", "summary"),
    [
        pytest.param(
            Client.close,
            "Expected the client to close the connection cleanly, but it left the reply "
            "unread",
            id="closed",
        ),
        pytest.param(
            Client.reset,
            "Expected the client to close the connection cleanly, but it left the reply "
            "unread (the connection was reset)",
            id="reset",
        ),
    ],
)
def test_expect_disconnect_fails_when_the_client_check_finds_a_problem(
    reactor, close, summary
):
    checked = []

    def client_check(peer, sent):
        checked.append((peer, sent))
        return "it left the reply unread"

    server = ScriptedServer(reactor, client_check=client_check)
    server.expect_connect()
    server.send_bytes(b"hello")
    server.expect_disconnect()
    client = Client(reactor)
    close(client)
    assert failure_of(server.join()).summary == summary
    assert checked == [(client.transport.getPeer(), 5)]


def test_a_second_connection_fails_once_the_first_is_quiet_and_closes_both(
    reactor, server, connect
):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    done = server.join()
    first = connect()
    second = connect()
    assert not done.called  # the first may be closing in this same turn
    reactor.advance(0)  # turns pass with nothing from the first; no time passes
    summary = failure_of(done).summary
    assert summary == (
        "Expected one connection at a time, "
        "but the client opened a second one while the first was open"
    )
    assert first.closed_by_server
    assert second.closed_by_server
    assert reactor.getDelayedCalls() == []


def test_a_reconnect_seen_before_the_close_in_one_turn_is_accepted(
    reactor, server, connect
):
    server.expect_connect()
    server.expect_bytes(b"a")
    server.expect_disconnect()
    server.expect_connect()
    server.expect_bytes(b"b")
    first = connect()
    first.send(b"a")
    second = connect()  # the reactor saw the accept first...
    second.send(b"b")  # ...and even bytes on it, held until it is admitted
    first.close()  # ...then the close of the first, in the same turn
    reactor.advance(0)
    assert outcome(server.join()) is None


def test_a_connection_after_a_failure_is_closed_at_once(server, connect):
    server.send_bytes(b"hi")
    late = connect()
    assert late.closed_by_server
    assert late.received == b""


@pytest.mark.parametrize(
    ("declare", "step"),
    [
        (lambda server: server.send_bytes(b"hi"), "send_bytes(b'hi')"),
        (lambda server: server.shutdown_write(), "shutdown_write()"),
    ],
)
def test_a_step_needing_a_connection_when_none_was_made(server, declare, step):
    declare(server)
    assert failure_of(server.join()).summary == (
        f"{step} needs a connection, but none was made (declare expect_connect() before it)"
    )


def test_a_megabyte_payload_is_abbreviated_in_the_failure(server, connect):
    payload = bytes(1 << 20)
    server.expect_connect()
    server.send_bytes(payload)
    server.expect_bytes(payload)
    done = server.join()
    connect().send(b"\x01" * (1 << 20))
    failure = failure_of(done)
    assert len(str(failure)) < 2000  # whole, the payloads would take megabytes
    assert failure.transcript[1].endswith("(1048576 bytes)")


def test_what_the_script_does_on_a_connection_the_client_closed_goes_nowhere(
    server, connect
):
    """The driver forgets a connection once it is closed (the script names it
    by number): a reply and a close declared after the client's close do
    nothing, as they would on a closed Twisted transport."""
    server.expect_connect()
    client = connect()
    client.close()
    server.send_bytes(b"late")
    server.disconnect()
    assert client.received == b""
    assert not client.closed_by_server
    assert outcome(server.join()) is None


def test_a_closed_server_is_freed_by_reference_counts(reactor):
    """No reference cycle holds a finished server, its script (the steps, what
    they matched), its connections' handles or their protocols: they go with
    the last reference, not at a later full collection of the garbage
    collector, which would walk them first."""
    server = ScriptedServer(reactor)
    connection = server.expect_connect()
    connection.expect_bytes(b"hi")
    connection.send_bytes(b"yo")
    connection.expect_disconnect()
    protocol = reactor.tcpServers[0][1].buildProtocol(None)
    protocol.makeConnection(StringTransport())
    protocol.dataReceived(b"hi")
    protocol.connectionLost(Failure(ConnectionDone()))
    assert outcome(server.join()) is None
    assert outcome(server.close()) is None
    factory = server._factory
    alive = [weakref.ref(each) for each in (server, factory.script, connection, protocol)]
    reactor.tcpServers.clear()
    gc.disable()
    try:
        del server, factory, connection, protocol
        assert [each() for each in alive] == [None] * len(alive)
    finally:
        gc.enable()


# -- verify ---------------------------------------------------------------------------


def test_a_server_with_nothing_declared_and_no_connection_verifies_clean(server):
    assert outcome(server.verify()) is None


def test_a_connection_to_a_server_with_nothing_declared_fails_verify(server, connect):
    connect()
    failure = failure_of(server.verify())
    assert failure.summary == "Expected no connection, but a client connected"


def test_verify_first_accepts_a_connection_waiting_in_the_kernels_queue(reactor, server):
    """A client that connected just before teardown is not left unverified."""
    waiting = []
    server._port.doRead = lambda: waiting.append(Client(reactor))  # the reactor's accept
    verified = server.verify()
    assert len(waiting) == 1
    assert failure_of(verified).summary == "Expected no connection, but a client connected"


def test_only_a_readable_listening_socket_is_accepted_from(server):
    """A port with a descriptor is asked first whether a connection waits: an
    accept() that finds nothing costs ten times as much."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    server._port.doRead = lambda: accepted.append(True)
    server._port.fileno = listener.fileno
    try:
        server._accept_waiting()
        assert accepted == []  # nothing waits
        with socket.create_connection(listener.getsockname()):
            server._accept_waiting()
        assert accepted == [True]
    finally:
        listener.close()


def test_a_port_closed_already_is_not_accepted_from(server):
    """Twisted's closed port has descriptor -1 (the reactor's shutdown closes
    every port): verify() then has no connection to accept."""
    accepted = []
    server._port.doRead = lambda: accepted.append(True)
    server._port.fileno = lambda: -1
    assert outcome(server.verify()) is None
    assert accepted == []


def test_a_listening_descriptor_above_fd_setsize_is_asked_too(server):
    """A process with more than 1024 descriptors open (FD_SETSIZE, which
    ``select()`` cannot go past) still verifies its servers."""
    fcntl = pytest.importorskip("fcntl")
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        high = fcntl.fcntl(listener.fileno(), fcntl.F_DUPFD, 1024)
    except OSError:  # pragma: no cover - a soft limit of 1024 descriptors
        listener.close()
        pytest.skip("this process may not open a descriptor above 1024")
    accepted = []
    server._port.doRead = lambda: accepted.append(True)
    server._port.fileno = lambda: high
    try:
        server._accept_waiting()
        assert accepted == []
        with socket.create_connection(listener.getsockname()):
            server._accept_waiting()
        assert accepted == [True]
    finally:
        os.close(high)
        listener.close()


def test_verify_expects_the_client_to_close_a_connection_left_open(server, connect):
    server.expect_connect()
    client = connect()
    verified = server.verify()
    assert not verified.called
    client.close()
    assert outcome(verified) is None


def test_the_implicit_expect_disconnect_times_out(reactor, server, connect):
    server.expect_connect()
    connect()
    verified = server.verify()
    reactor.advance(1.1)
    failure = failure_of(verified)
    assert failure.summary == "Timed out waiting for the client to close the connection"
    # It says that teardown declared the step, and why.
    assert failure.details == [
        "The test left the connection open, so teardown expects the client to close "
        "it: close the client before the test ends, or declare disconnect()."
    ]
    assert failure.transcript[-1] == "failed at expect_disconnect() (added at teardown)"


@pytest.mark.parametrize(
    "close",
    [
        pytest.param(lambda server, client: server.disconnect(), id="by the server"),
        pytest.param(
            lambda server, client: (client.close(), server.expect_disconnect()),
            id="by the client",
        ),
    ],
)
def test_verify_adds_no_expect_disconnect_once_the_connection_is_closed(
    server, connect, close
):
    server.expect_connect()
    client = connect()
    close(server, client)
    assert outcome(server.verify()) is None


def test_verify_fails_when_the_client_connects_again(server, connect):
    server.expect_connect()
    server.expect_disconnect()
    connect().close()
    connect()
    assert failure_of(server.verify()).summary == (
        "Expected nothing more, but the client connected again"
    )


def test_verify_reports_a_failure_join_did_not(server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    connect().send(b"x")
    assert failure_of(server.verify()).summary.startswith("Expected b'Hello'")
    assert outcome(server.verify()) is None  # reported once


def test_verify_reports_a_failure_whose_join_nobody_awaited(server, connect):
    server.expect_connect()
    server.expect_bytes(b"hello")
    unawaited = server.join()  # the test forgot to await or yield it
    connect().send(b"HELLO")
    assert failure_of(server.verify()).summary.startswith("Expected b'hello'")
    assert outcome(unawaited) is None  # silenced: teardown reported it


@pytest.mark.parametrize("style", ["yield", "await"])
def test_a_failure_a_coroutine_took_from_join_is_not_reported_again(server, connect, style):
    """As a pytest-twisted or trial test does: the failure goes up through it."""
    server.expect_connect()
    server.expect_bytes(b"hi")

    @inlineCallbacks
    def yielding():
        yield server.join()

    async def awaiting():
        await server.join()

    test = yielding() if style == "yield" else ensureDeferred(awaiting())
    connect().send(b"ho")
    assert failure_of(test).summary.startswith("Expected b'hi'")
    assert outcome(server.verify()) is None


def test_verify_does_not_report_again_what_join_reported(server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    done = server.join()
    connect().send(b"x")
    failure_of(done)
    assert outcome(server.verify()) is None


def test_verify_after_a_failed_test_waits_for_nothing(server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    assert outcome(server.verify(test_failed=True)) is None


def test_verify_after_a_failed_test_still_reports_a_failure(server, connect):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    connect().send(b"x")
    assert failure_of(server.verify(test_failed=True)).summary.startswith("Expected")


# -- close ------------------------------------------------------------------------------


def test_close_stops_listening_aborts_connections_and_cancels_the_timer(
    reactor, server, connect
):
    server.expect_connect()
    server.expect_bytes(b"Hello")
    client = connect()
    assert len(reactor.getDelayedCalls()) == 1
    closed = server.close()
    assert outcome(closed) is None
    assert len(reactor.stopped_ports) == 1
    assert client.transport.disconnected  # aborted
    assert reactor.getDelayedCalls() == []
    assert server.stopped


def test_close_cancels_the_timer_of_a_step_waiting_for_a_connection(reactor, server):
    server.expect_connect()
    assert len(reactor.getDelayedCalls()) == 1
    assert outcome(server.close()) is None
    assert reactor.getDelayedCalls() == []


def test_close_waits_for_the_connections_to_go(reactor, server):
    server.expect_connect()
    client = Client(reactor)
    client.transport.abortConnection = lambda: None  # the reactor has not reported yet
    closed = server.close()
    assert not closed.called
    client.protocol.connectionLost(Failure(ConnectionAborted()))
    assert outcome(closed) is None


def test_the_next_step_moves_the_timer_and_counts_from_its_own_start(
    reactor, server, connect
):
    server.expect_connect()
    server.expect_bytes(b"a")
    server.expect_bytes(b"b", timeout=2)
    client = connect()
    [timer] = reactor.getDelayedCalls()
    reactor.advance(0.5)
    client.send(b"a")
    assert reactor.getDelayedCalls() == [timer]  # moved, not a new one
    reactor.advance(1.9)
    assert server._factory.script.failure is None
    reactor.advance(0.1)
    assert failure_of(server.join()).summary == "Timed out waiting for b'b'"


def test_a_step_timer_runs_out_in_order_with_what_else_is_due(reactor, server, connect):
    """A clock that jumps past the deadline runs what was due before it first:
    here, the client's late send (found by review, against a timer that was
    kept at its first deadline rather than moved)."""
    server.expect_connect()
    server.expect_bytes(b"a", timeout=1)
    server.expect_bytes(b"b", timeout=2)
    client = connect()
    reactor.advance(0.5)
    client.send(b"a")  # b's deadline: 2.5
    reactor.callLater(1.5, client.send, b"b")  # at 2.0
    reactor.advance(2.5)
    assert outcome(server.join()) is None


def test_an_idle_script_hangs_up_after_the_server_timeout(reactor, connect):
    server = ScriptedServer(reactor, timeout=0.5)
    server.expect_connect()
    server.expect_bytes(b"HELLO")
    client = connect(1)  # the fixture's server is the first
    client.send(b"HELLO")  # and waits for a reply nobody declared
    reactor.advance(0.4)
    assert not client.closed_by_server
    reactor.advance(0.1)
    assert client.closed_by_server
    assert failure_of(server.join()).summary == (
        "Timed out waiting for the client to close the connection after the last step"
    )
    assert reactor.getDelayedCalls() == []


def test_time_left_bounds_when_every_join_fires(reactor, server, connect):
    server.expect_connect(timeout=2)
    server.expect_bytes(b"a", timeout=3)
    server.send_bytes(b"b")  # takes no time
    server.expect_disconnect(timeout=0.5)
    assert server.time_left == 5.5
    connect().send(b"a")
    assert server.time_left == 0.5  # only the steps not done yet
    joined = server.join()
    reactor.advance(0.5)
    assert failure_of(joined).summary.startswith("Timed out")


def test_time_left_of_a_server_with_nothing_to_wait_for_is_zero(server):
    assert server.time_left == 0
    server.expect_connect()
    server.close()
    assert server.time_left == 0  # the step failed: nothing is left


def test_a_script_failure_is_an_assertion_error():
    """So runners that know nothing of this package count it as a failure."""
    assert issubclass(ScriptFailure, AssertionError)


def test_close_fails_a_pending_join_instead_of_leaving_it_forever(server):
    server.expect_connect()
    waiting = []
    server.join().addErrback(waiting.append)  # a test awaiting it
    unawaited = server.join()
    server.close()
    summary = waiting[0].value.summary
    assert summary == "The server stopped before expect_connect() was done"
    assert outcome(unawaited) is None  # no "Unhandled error in Deferred" later


def test_close_reports_the_pending_step_not_the_abort_it_causes(server, connect):
    server.expect_connect()
    server.expect_bytes(b"x")
    connect()
    assert outcome(server.close()) is None
    failure = server._factory.script.failure
    assert failure.summary == "The server stopped before expect_bytes(b'x') was done"


def test_a_reconnect_while_disconnect_flushes_is_not_a_second_connection(
    reactor, server, connect
):
    server.expect_connect()
    server.disconnect()
    server.expect_connect()
    first = connect()
    assert first.closed_by_server  # closing, but its connectionLost has not come yet
    connect()
    reactor.advance(0)  # and it has not come by the next turn either
    assert outcome(server.join()) is None
    first.close()
    assert server._factory.script.failure is None


def test_cancelling_a_timer_that_already_ran_does_nothing(reactor, server):
    from pytest_tcpclient.core.script import CancelTimer, StartTimer

    factory = server._factory
    factory.perform([StartTimer(1.0, 0)])
    reactor.advance(1.0)  # it runs, for the script's conversation 0
    factory.perform([CancelTimer(0)])
    assert reactor.getDelayedCalls() == []
    assert factory.script.failure is None


def test_close_during_a_pause_names_the_pause(server, connect):
    server.expect_connect()
    server.pause(0.5)
    connect()
    server.close()
    assert server._factory.script.failure.summary == (
        "The server stopped before pause(0.5) was done"
    )


def test_close_twice_stops_listening_once(reactor, server):
    assert outcome(server.close()) is None
    assert outcome(server.close()) is None
    assert len(reactor.stopped_ports) == 1


def test_a_stopped_server_refuses_steps(server):
    server.close()
    with pytest.raises(
        ServerStopped, match=r"cannot declare expect_connect\(\): .* stopped"
    ):
        server.expect_connect()
    assert outcome(server.verify()) is None


# -- bad input ----------------------------------------------------------------------------

BYTES_METHODS = [
    ("expect_bytes", "data"),
    ("send_bytes", "data"),
    ("expect_frame", "match"),
    ("send_frame", "payload"),
]
TIMED_METHODS = [
    ("expect_connect", ()),
    ("expect_bytes", (b"x",)),
    ("expect_frame", (b"x",)),
    ("expect_disconnect", ()),
]


@pytest.mark.parametrize(("method", "argument"), BYTES_METHODS)
@pytest.mark.parametrize("value", ["text", 42, None, [104, 105]])
def test_data_that_is_not_bytes_is_a_type_error_naming_the_argument(
    server, method, argument, value
):
    with pytest.raises(
        TypeError, match=rf"^{method}\(\) argument '{argument}' must be bytes"
    ):
        getattr(server, method)(value)


@pytest.mark.parametrize(("method", "argument"), BYTES_METHODS[2:])
def test_a_payload_too_long_for_a_frame_is_a_value_error(
    server, method, argument, too_long_payload
):
    message = rf"^{method}\(\) argument '{argument}' is 4294967296 bytes long; the limit is"
    with pytest.raises(ValueError, match=message):
        getattr(server, method)(too_long_payload)


def test_the_length_limit_is_inclusive():
    assert as_bytes(b"abc", "payload", limit=3) == b"abc"
    with pytest.raises(ValueError, match=r"^payload is 4 bytes long; the limit is 3 "):
        as_bytes(b"abcd", "payload", limit=3)


@pytest.mark.parametrize(("method", "args"), TIMED_METHODS)
@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (True, TypeError),
        ("1", TypeError),
    ],
)
def test_a_bad_timeout_is_refused_at_the_call(server, method, args, timeout, error):
    with pytest.raises(error, match=rf"^{method}\(\) argument 'timeout' must be"):
        getattr(server, method)(*args, timeout=timeout)


@pytest.mark.parametrize(("timeout", "error"), [("1", TypeError), (-0.5, ValueError)])
def test_a_bad_server_timeout_is_refused(reactor, timeout, error):
    with pytest.raises(error, match=r"^ScriptedServer\(\) argument 'timeout' must be"):
        ScriptedServer(reactor, timeout=timeout)


def test_a_refused_call_leaves_the_server_usable(server, connect):
    server.expect_connect()
    with pytest.raises(TypeError):
        server.expect_bytes("Hello")
    with pytest.raises(ValueError):
        server.expect_bytes(b"Hello", timeout=-1)
    server.expect_bytes(b"Hello")
    done = server.join()
    connect().send(b"Hello")
    assert outcome(done) is None


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_data_is_accepted_and_copied(server, connect, kind):
    expected, reply = bytearray(b"ping"), bytearray(b"pong")
    server.expect_connect()
    server.expect_bytes(kind(expected))
    server.send_bytes(kind(reply))
    expected[:] = reply[:] = b"XXXX"
    client = connect()
    client.send(b"ping")
    assert client.received == b"pong"
    assert outcome(server.join()) is None


# -- ServerGroup ------------------------------------------------------------------------


@pytest.fixture
def group(reactor):
    return ServerGroup(reactor, timeout=2)


def test_a_group_makes_each_server_on_its_own_port(reactor, group):
    first, second = group.new(), group.new()
    assert group.servers == [first, second]
    [(_, one, _, _), (_, other, _, _)] = reactor.tcpServers
    assert one is not other
    assert first.timeout == second.timeout == 2


def test_a_group_makes_servers_of_the_class_given(reactor):
    class Special(ScriptedServer):
        pass

    assert isinstance(ServerGroup(reactor, server_class=Special).new(), Special)


def test_stop_verifies_every_server_before_closing(reactor, group):
    first, second = group.new(), group.new()
    first.expect_connect()
    second.expect_connect()
    clients = [Client(reactor, 0), Client(reactor, 1)]
    stopped = group.stop()
    assert not stopped.called  # waiting for the clients to close
    assert reactor.stopped_ports == []
    for client in clients:
        client.close()
    assert outcome(stopped) is None
    assert len(reactor.stopped_ports) == 2
    assert group.servers == []


def test_stop_closes_every_server_even_when_one_fails(reactor, group):
    failing, passing = group.new(), group.new()
    failing.expect_connect()
    failing.expect_bytes(b"Hello")
    Client(reactor, 0).send(b"x")
    passing.expect_connect()
    client = Client(reactor, 1)
    stopped = group.stop(test_failed=True)
    assert failure_of(stopped).summary.startswith("Expected b'Hello'")
    assert len(reactor.stopped_ports) == 2
    assert client.transport.disconnected
    assert reactor.getDelayedCalls() == []


def test_stop_combines_the_failures(reactor, group):
    first, second, third = group.new(), group.new(), group.new()
    first.send_bytes(b"a")
    second.expect_connect()
    third.send_bytes(b"c")
    reactor.advance(2.1)
    failure = failure_of(group.stop())
    assert failure.summary.startswith("send_bytes(b'a') needs a connection")
    assert failure.details == [
        f"Another server failed (port {second.service_port}): "
        "Timed out waiting for a connection",
        f"Another server failed (port {third.service_port}): "
        "send_bytes(b'c') needs a connection, but none was made "
        "(declare expect_connect() before it)",
    ]


def test_stop_reports_a_single_failure_as_it_is(reactor, group):
    group.new().send_bytes(b"a")
    group.new()
    failure = failure_of(group.stop())
    assert failure.details == []


def test_stop_can_stop_some_servers_only(reactor, group):
    first, second = group.new(), group.new()
    second.expect_connect()
    assert outcome(group.stop(servers=[first])) is None
    assert first.stopped
    assert not second.stopped
    assert group.servers == [second]


# -- messages, framings and rules on a server ---------------------------------------


def test_a_server_frames_with_its_framing_and_a_step_keeps_the_one_it_was_declared_with(
    reactor, connect
):
    from pytest_tcpclient.framing import LengthPrefixed, Netstring

    server = ScriptedServer(reactor, framing=Netstring())
    assert server.framing == Netstring()
    server.expect_connect()
    server.expect_frame(b"one")
    server.framing = LengthPrefixed(2)
    server.expect_frame(b"two")
    server.send_frame(b"ok", framing=Netstring())
    client = connect(1)
    client.send(b"3:one,", b"\x00\x03two")
    assert client.received == b"2:ok,"
    assert outcome(server.join()) is None
    assert [r.data for r in server.received] == [b"one", b"two"]


def test_the_default_framing_is_four_byte_big_endian_lengths(server):
    from pytest_tcpclient.framing import LengthPrefixed

    assert server.framing == LengthPrefixed(4, "big")
    server.framing = None
    assert server.framing == LengthPrefixed()
    with pytest.raises(TypeError, match="framing must be a framing"):
        server.framing = "lines"


def test_a_rule_counts_its_answers_and_teardown_checks_times(server, connect):
    server.expect_connect()
    rule = server.on_line(b"PING", b"PONG", times=2)
    client = connect()
    client.send(b"PING\r\n")
    assert (rule.count, client.received) == (1, b"PONG\r\n")
    client.close()
    summary = failure_of(server.verify()).summary
    assert summary == "Expected on_line(b'PING') to answer 2 times, but it answered 1 time"


def test_a_rule_declared_late_answers_what_waits_unread(server, connect):
    server.expect_connect()
    client = connect()
    client.send(b"4:ping,")
    from pytest_tcpclient.framing import Netstring

    rule = server.on_frame(b"ping", b"pong", framing=Netstring())
    assert (rule.count, client.received) == (1, b"4:pong,")
    assert repr(rule) == "<Rule on_frame(b'ping', framing=Netstring()): answered 1>"


def test_a_factory_makes_servers_with_a_framing(group):
    from pytest_tcpclient.core import ServerFactory
    from pytest_tcpclient.framing import Lines

    factory = ServerFactory(group)
    assert factory().framing != Lines()
    assert factory(framing=Lines()).framing == Lines()
    with pytest.raises(TypeError, match=r"tcpserver_factory\(\) argument 'framing'"):
        factory(framing=42)
    assert repr(factory) == "<ServerFactory: 2 servers made>"


def test_a_factory_stops_the_servers_it_made_through_its_report(reactor, group):
    from pytest_tcpclient.core import ServerFactory

    reported = []
    factory = ServerFactory(group, report=lambda stopped: reported.append(1) or stopped)
    made = factory()
    other = group.new()  # the group's, not the factory's
    assert outcome(factory.stop()) is None
    assert reported == [1]
    assert made.stopped
    assert not other.stopped
    assert outcome(factory.stop()) is None  # nothing left to stop
    assert reported == [1, 1]


def test_the_descriptor_twisted_reserves_is_closed_at_exit(monkeypatch):
    import os

    from twisted.internet import tcp

    from pytest_tcpclient.core.server import _close_reserved_descriptor

    reservation = tcp._FileDescriptorReservation(lambda: open(os.devnull))  # noqa: SIM115
    monkeypatch.setattr(tcp, "_reservedFD", reservation)
    _close_reserved_descriptor()  # nothing reserved: nothing to close
    reservation.reserve()  # as a port's first listen does
    reserved = reservation._fileDescriptor
    _close_reserved_descriptor()
    assert reserved.closed
    assert not reservation.available()


def test_settled_fires_once_all_have_with_each_failure_in_order_and_consumes_them():
    from twisted.internet.defer import Deferred

    from pytest_tcpclient.core.server import _settled

    first, second, third = Deferred(), Deferred(), Deferred()
    fired: list[object] = []
    _settled([first, second, third]).addBoth(fired.append)
    error = Failure(ValueError("second"))
    second.errback(error)
    third.callback("ignored")
    assert fired == []
    first.callback(None)
    assert fired == [[None, error, None]]
    assert outcome(second) is None  # consumed: nothing unhandled is logged
    assert outcome(_settled([])) == []
