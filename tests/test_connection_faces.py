"""Several connections and faults in every face, end to end, with real clients:
pytest-twisted, asyncio and plain tests (pytester, on this run's reactor).

The unit tests of the core (tests/unit/test_connections.py) check the
semantics; these check each face offers them over real sockets, and that no
connection goes unverified at teardown.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

COMMON = """
import asyncio
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol


class Client(Protocol):
    def __init__(self):
        self.closed = Deferred()

    def connectionLost(self, reason):
        self.closed.callback(None)


def twisted_connect(port):
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)
    return connectProtocol(endpoint, Client())


def plain_connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)
"""

TWO_WHERE_ONE = """
@pytest_twisted.ensureDeferred
async def test_twisted_two_where_one(tcpserver):
    tcpserver.expect_connect()
    first = await twisted_connect(tcpserver.service_port)
    second = await twisted_connect(tcpserver.service_port)
    first.transport.loseConnection()
    second.transport.loseConnection()
    await first.closed
    await second.closed


@pytest.mark.asyncio
async def test_asyncio_two_where_one(tcpserver):
    tcpserver.expect_connect()
    port = tcpserver.service_port
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    for _, writer in streams:
        writer.close()
        await writer.wait_closed()


def test_plain_two_where_one(tcpserver):
    tcpserver.expect_connect()
    first = plain_connect(tcpserver.service_port)
    second = plain_connect(tcpserver.service_port)
    first.close()
    second.close()
"""

ONE_AT_A_TIME = (
    "Expected one connection at a time, but the client opened a second one while the "
    "first was open"
)


def write(path: Path, **files: str) -> None:
    for name, source in files.items():
        (path / f"{name}.py").write_text(COMMON + textwrap.dedent(source))


@pytest.fixture
def two_where_one(run_once):
    return run_once("two where one", lambda path: write(path, test_two=TWO_WHERE_ONE))


@pytest.mark.parametrize("face", ["twisted", "asyncio", "plain"])
def test_a_second_connection_closed_before_teardown_does_not_pass(two_where_one, face):
    """Both connections close before teardown verifies: the second one, held
    back (or still in the kernel's accept queue), must still count."""
    name = f"test_{face}_two_where_one"
    words = two_where_one.words[two_where_one.node(name)]
    assert "PASSED" not in words or "ERROR" in words
    text = "\n".join(
        two_where_one.sections.get(name, [])
        + two_where_one.sections.get(f"ERROR at teardown of {name}", [])
    )
    assert (
        ONE_AT_A_TIME in text or "Expected nothing more, but the client connected" in text
    )


POOLS = """
@pytest.mark.asyncio
async def test_asyncio_pool(tcpserver):
    connections = [tcpserver.expect_connect() for _ in range(2)]
    port = tcpserver.service_port
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    for connection in connections:
        await connection.join()  # each connection's join: its expect_connect is done
    for number, connection in enumerate(connections, 1):
        connection.expect_line(b"who")
        connection.send_line(b"%d" % number)
        connection.expect_disconnect()
    for reader, writer in reversed(streams):
        writer.write(b"who\\r\\n")
    replies = [await reader.readline() for reader, _ in streams]
    for _, writer in streams:
        writer.close()
        await writer.wait_closed()
    await tcpserver.join()
    assert replies == [b"1\\r\\n", b"2\\r\\n"]


def test_plain_pool(tcpserver):
    connections = [tcpserver.expect_connect() for _ in range(2)]
    for number, connection in enumerate(connections, 1):
        connection.expect_line(b"who")
        connection.send_line(b"%d" % number)
    sockets = [plain_connect(tcpserver.service_port) for _ in range(2)]
    sockets[1].sendall(b"who\\r\\n")
    connections[1].join()  # the second is done, the first still waits
    assert sockets[1].recv(10) == b"2\\r\\n"
    sockets[0].sendall(b"who\\r\\n")
    assert sockets[0].recv(10) == b"1\\r\\n"
    for s in sockets:
        s.close()
    tcpserver.join()


def test_plain_reset(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"GET")
    tcpserver.reset()
    with plain_connect(tcpserver.service_port) as s:
        s.sendall(b"GET\\r\\n")
        with pytest.raises(ConnectionResetError):
            s.recv(10)
    tcpserver.join()


def test_plain_shutdown_write(tcpserver):
    tcpserver.expect_connect()
    tcpserver.send_line(b"that is all")
    tcpserver.shutdown_write()
    tcpserver.expect_line(b"thanks")
    tcpserver.expect_disconnect()
    with plain_connect(tcpserver.service_port) as s:
        data = b""
        while chunk := s.recv(100):  # until the server's FIN
            data += chunk
        s.sendall(b"thanks\\r\\n")  # the client can still write
    tcpserver.join()
    assert data == b"that is all\\r\\n"


def test_plain_step_on_an_ended_connection(tcpserver):
    connection = tcpserver.expect_connect()
    connection.disconnect()
    with pytest.raises(ValueError, match="connection #1 ended with disconnect"):
        connection.send_line(b"late")
    with plain_connect(tcpserver.service_port) as s:
        assert s.recv(10) == b""
    tcpserver.join()
"""


def test_pools_and_faults_in_the_asyncio_and_plain_faces(run_once):
    report = run_once("pools", lambda path: write(path, test_pools=POOLS))
    report.result.assert_outcomes(passed=5)


AFTER_A_JOIN = """
@pytest_twisted.ensureDeferred
async def test_twisted_fails_after_a_join(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"A")
    client = await twisted_connect(tcpserver.service_port)
    client.transport.write(b"A\\r\\n")
    await tcpserver.join()  # passes
    tcpserver.expect_line(b"B")
    client.transport.write(b"C\\r\\n")  # the script fails: the server hangs up
    await client.closed


@pytest.mark.asyncio
async def test_asyncio_fails_after_a_join(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"A")
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(b"A\\r\\n")
    await tcpserver.join()
    tcpserver.expect_line(b"B")
    writer.write(b"C\\r\\n")
    assert await reader.read() == b""  # hung up on
    writer.close()
    await writer.wait_closed()


def test_plain_fails_after_a_join(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"A")
    with plain_connect(tcpserver.service_port) as s:
        s.sendall(b"A\\r\\n")
        tcpserver.join()
        tcpserver.expect_line(b"B")
        s.sendall(b"C\\r\\n")
        assert s.recv(10) == b""
"""


@pytest.mark.parametrize("face", ["twisted", "asyncio", "plain"])
def test_a_failure_after_a_join_that_passed_is_reported_at_teardown(run_once, face):
    report = run_once("after a join", lambda path: write(path, test_join=AFTER_A_JOIN))
    name = f"test_{face}_fails_after_a_join"
    assert report.outcome(name) == "error"
    section = report.section(name, "teardown")
    assert "Expected a line b'B' but received b'C'" in section
    assert not report.internals(name, "teardown")


RESET_AFTER_SEND = """
def test_plain_partial_reply_then_reset(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"GET")
    tcpserver.send_bytes(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\npartial")
    tcpserver.reset()
    with plain_connect(tcpserver.service_port) as s:
        s.sendall(b"GET\\r\\n")
        received = b""
        with pytest.raises(ConnectionResetError):
            while chunk := s.recv(100):
                received += chunk
        assert received.endswith(b"partial")
    tcpserver.join()
"""


def test_what_was_sent_before_a_reset_reaches_the_client(run_once):
    report = run_once("reset", lambda path: write(path, test_reset=RESET_AFTER_SEND))
    report.result.assert_outcomes(passed=1)
