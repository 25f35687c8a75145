"""A soak run: a thousand tests of every face in one pytest session leave no
descriptor and no thread behind; and the same tests pass in a process with more
than 1024 files open.

The session runs trial tests first (trial runs the global reactor itself, which
it cannot do once pytest-twisted runs it), then plain, pytest-twisted and asyncio
tests in turn. What each face starts once per process (the reactor thread of
plain tests) is started by its first test, so the count to compare with is the
one after the first test of every face.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

COUNT = 1000
FACES = ("trial", "plain", "twisted", "asyncio")

CONFTEST = f"""
import os
import threading

COUNTS = []  # (face, descriptors, threads) after each test


def pytest_runtest_logfinish(nodeid, location):
    face = next(face for face in {FACES!r} if f"_{{face}}" in nodeid)
    COUNTS.append((face, len(os.listdir("/proc/self/fd")), threading.active_count()))


def pytest_terminal_summary(terminalreporter):
    for face, fds, threads in COUNTS:
        line = f"after {{face}}: {{fds}} descriptors, {{threads}} threads"
        terminalreporter.write_line(line)
"""

TESTS = """
import asyncio
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol

from pytest_tcpclient.trial import TCPServerTestCase

COUNT = {rounds}


def declare(server):
    server.expect_connect()
    server.expect_bytes(b"hello")
    server.send_bytes(b"hello")
    server.expect_disconnect()


class Hello(Protocol):
    def __init__(self):
        self.closed = Deferred()
        self.received = b""

    def connectionMade(self):
        self.transport.write(b"hello")

    def dataReceived(self, data):
        self.received += data
        if self.received == b"hello":
            self.transport.loseConnection()

    def connectionLost(self, reason):
        self.closed.callback(self.received)


async def twisted_hello(server):
    declare(server)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.service_port, timeout=5)
    client = await connectProtocol(endpoint, Hello())
    assert await client.closed == b"hello"
    await server.join()


class TrialTests(TCPServerTestCase):
    pass


for n in range(COUNT):
    setattr(TrialTests, f"test_{{n:04d}}_trial", lambda self: twisted_hello(self.tcpserver))


def plain(tcpserver):
    declare(tcpserver)
    with socket.create_connection(("127.0.0.1", tcpserver.service_port), timeout=5) as s:
        s.sendall(b"hello")
        assert s.recv(5) == b"hello"
    tcpserver.join()


@pytest_twisted.ensureDeferred
async def twisted(tcpserver):
    await twisted_hello(tcpserver)


@pytest.mark.asyncio
async def asyncio_(tcpserver):
    declare(tcpserver)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(b"hello")
    assert await reader.readexactly(5) == b"hello"
    writer.close()
    await writer.wait_closed()
    await tcpserver.join()


for n in range(COUNT):  # in turn: one of each face, then the next round
    for face, test in (("plain", plain), ("twisted", twisted), ("asyncio", asyncio_)):
        globals()[f"test_{{n:04d}}_{{face}}"] = test
del test
"""

AFTER = re.compile(r"after (\w+): (\d+) descriptors, (\d+) threads")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd")
def test_a_thousand_tests_of_every_face_leave_no_descriptor_and_no_thread(run_once):
    rounds = COUNT // len(FACES)

    def prepare(path: Path) -> None:
        (path / "conftest.py").write_text(CONFTEST)
        (path / "test_soak.py").write_text(TESTS.format(rounds=rounds))

    report = run_once(
        "soak", prepare, "-q", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    report.result.assert_outcomes(passed=COUNT)
    counts = [
        (m[1], int(m[2]), int(m[3]))
        for line in report.result.stdout.lines
        if (m := AFTER.fullmatch(line))
    ]
    assert [face for face, *_ in counts] == ["trial"] * rounds + list(FACES[1:]) * rounds
    trial = [resources for face, *resources in counts if face == "trial"]
    assert trial[-1] == trial[0], "the trial tests left something behind"
    first_of_every_face = counts[rounds + len(FACES) - 2][1:]
    print(
        f"after the first test of every face: {first_of_every_face}; at the end: "
        f"{counts[-1][1:]}"
    )
    assert counts[-1][1:] == first_of_every_face


MANY_FILES = """
import os
import socket

import pytest


@pytest.fixture(autouse=True)
def many_files_open():
    # What the test opens comes after these: from FD_SETSIZE (1024) on.
    files = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    with socket.socket() as probe:
        assert probe.fileno() > 1024
    yield
    for fd in files:
        os.close(fd)
"""


def test_servers_run_in_a_process_with_more_than_1024_files_open(run_once):
    """Descriptors from FD_SETSIZE on, which ``select()`` cannot take: one
    test of every face."""
    resource = pytest.importorskip("resource")
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
        pytest.skip("this process may not open 1200 descriptors")

    def prepare(path: Path) -> None:
        (path / "conftest.py").write_text(MANY_FILES)
        (path / "test_soak.py").write_text(TESTS.format(rounds=1))

    report = run_once(
        "many files", prepare, "-o", "asyncio_default_fixture_loop_scope=function"
    )
    report.result.assert_outcomes(passed=len(FACES))
