"""Per-test overhead: pytest runs of generated test files, in subprocesses.

Each file holds ``n`` copies of one test:

- ``nothing``: a test of the same style with an empty body (the baseline);
- ``raw``: connect, hello, disconnect against a hand-written server made by a
  fixture, as a user would write without the plugin (for blocking clients, a
  listening socket and a thread that serves it);
- ``plugin``: the same conversation against the ``tcpserver`` fixture.

A ``conftest.py`` in the directory times ``pytest_runtestloop`` (every test's
setup, call and teardown; not interpreter start-up or collection) and writes
the wall-clock and CPU seconds to the file named by ``BENCH_TIMING``. The
directory has its own ``pytest.ini``, so the project's configuration does not
apply.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CONFTEST = """
import os
import time

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return (yield)
    finally:
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with open(os.environ["BENCH_TIMING"], "w") as file:
            file.write(f"{wall!r} {cpu!r}")
"""

PYTEST_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""

TWISTED_HEADER = """
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol


class Client(Protocol):
    def __init__(self):
        self.received = b""
        self.reply = Deferred()
        self.lost = Deferred()

    def dataReceived(self, data):
        self.received += data
        if len(self.received) == 5:
            self.reply.callback(self.received)

    def connectionLost(self, reason):
        self.lost.callback(None)


class RawServer(Protocol):
    def connectionMade(self):
        self.received = b""

    def dataReceived(self, data):
        self.received += data
        if self.received == b"hello":
            self.transport.write(b"hello")

    def connectionLost(self, reason):
        self.factory.done.callback(self.received)


@pytest.fixture
def rawserver():
    factory = Factory.forProtocol(RawServer)
    factory.done = Deferred()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    yield port.getHost().port, factory.done
    pytest_twisted.blockon(port.stopListening())


def connect(port):
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    return connectProtocol(endpoint, Client())
"""

TWISTED_TESTS = {
    "nothing": """
@pytest_twisted.inlineCallbacks
def test_{i}():
    yield None
""",
    "raw": """
@pytest_twisted.inlineCallbacks
def test_{i}(rawserver):
    port, done = rawserver
    client = yield connect(port)
    client.transport.write(b"hello")
    assert (yield client.reply) == b"hello"
    client.transport.loseConnection()
    yield client.lost
    assert (yield done) == b"hello"
""",
    "plugin": """
@pytest_twisted.inlineCallbacks
def test_{i}(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"hello")
    tcpserver.send_bytes(b"hello")
    tcpserver.expect_disconnect()
    client = yield connect(tcpserver.service_port)
    client.transport.write(b"hello")
    assert (yield client.reply) == b"hello"
    client.transport.loseConnection()
    yield client.lost
    yield tcpserver.join()
""",
}

ASYNCIO_HEADER = """
import asyncio

import pytest
import pytest_asyncio


@pytest_asyncio.fixture
async def rawserver():
    done = asyncio.get_running_loop().create_future()

    async def handle(reader, writer):
        hello = await reader.readexactly(5)
        writer.write(hello)
        rest = await reader.read()
        writer.close()
        await writer.wait_closed()
        done.set_result(hello + rest)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], done
    server.close()
    await server.wait_closed()
"""

ASYNCIO_TESTS = {
    "nothing": """
@pytest.mark.asyncio
async def test_{i}():
    pass
""",
    "raw": """
@pytest.mark.asyncio
async def test_{i}(rawserver):
    port, done = rawserver
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello")
    assert await reader.readexactly(5) == b"hello"
    writer.close()
    await writer.wait_closed()
    assert await done == b"hello"
""",
    "plugin": """
@pytest.mark.asyncio
async def test_{i}(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"hello")
    tcpserver.send_bytes(b"hello")
    tcpserver.expect_disconnect()
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(b"hello")
    assert await reader.readexactly(5) == b"hello"
    writer.close()
    await writer.wait_closed()
    await tcpserver.join()
""",
}

SYNC_HEADER = """
import socket
import threading

import pytest


def recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock):
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


@pytest.fixture
def rawserver():
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        connection, _ = listener.accept()
        with connection:
            hello = recv_exactly(connection, 5)
            connection.sendall(hello)
            received.append(hello + recv_all(connection))

    thread = threading.Thread(target=serve)
    thread.start()
    yield listener.getsockname()[1], received
    thread.join(5)
    listener.close()
    assert received == [b"hello"]
"""

SYNC_TESTS = {
    "nothing": """
def test_{i}():
    pass
""",
    "raw": """
def test_{i}(rawserver):
    port, received = rawserver
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"hello")
        assert recv_exactly(client, 5) == b"hello"
""",
    "plugin": """
def test_{i}(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"hello")
    tcpserver.send_bytes(b"hello")
    tcpserver.expect_disconnect()
    with socket.create_connection(("127.0.0.1", tcpserver.service_port)) as client:
        client.sendall(b"hello")
        assert recv_exactly(client, 5) == b"hello"
    tcpserver.join()
""",
}

STYLES = {
    "twisted": (TWISTED_HEADER, TWISTED_TESTS),
    "asyncio": (ASYNCIO_HEADER, ASYNCIO_TESTS),
    "sync": (SYNC_HEADER, SYNC_TESTS),
}
VARIANTS = ("nothing", "raw", "plugin")
PYTEST_DEADLINE = 600.0


class Suites:
    """Generated test files in a temporary directory; :meth:`run` times one."""

    def __init__(self, tests: int) -> None:
        self.tests = tests
        self._tmp = tempfile.TemporaryDirectory(prefix="tcpclient-bench-")
        self.path = Path(self._tmp.name)
        (self.path / "conftest.py").write_text(CONFTEST)
        (self.path / "pytest.ini").write_text(PYTEST_INI)
        for style, (header, bodies) in STYLES.items():
            for variant, body in bodies.items():
                source = header + "".join(body.format(i=i) for i in range(tests))
                (self.path / f"test_{style}_{variant}.py").write_text(source)

    def close(self) -> None:
        self._tmp.cleanup()

    def run(
        self,
        style: str,
        variant: str,
        plugin_enabled: bool = True,
        python: Path | None = None,
    ) -> list[float]:
        """Wall-clock and CPU seconds pytest spends running the tests of the file
        of ``style`` and ``variant``; with ``python``, another environment's
        (the original's: no pytest-twisted there)."""
        timing = self.path / "timing"
        timing.unlink(missing_ok=True)
        command = [
            str(python or sys.executable),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"test_{style}_{variant}.py",
        ]
        if python is None:
            command.insert(-1, "--reactor=default")
        if not plugin_enabled:
            command[4:4] = ["-p", "no:tcpclient"]
        env = {
            **os.environ,
            "BENCH_TIMING": str(timing),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        result = subprocess.run(
            command,
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=PYTEST_DEADLINE,
            check=False,
        )
        if result.returncode != 0 or f"{self.tests} passed" not in result.stdout:
            raise RuntimeError(
                f"pytest failed on {style}/{variant} (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return [float(seconds) for seconds in timing.read_text().split()]
