"""pytest run in-process inside this run: pytester's ``runpytest()`` and ``inline_run()``.

This suite runs under pytest-twisted, so each test here is the outer test of
a session whose reactor runs; the sessions it starts run on that reactor (a
process has one), on this run's ``--reactor``, which they also inherit when
they do not ask for one. They run tests of every face, each with a scripted
server and its own kind of client, again and again; after each, this run's
reactor must still turn. The tests at the end of the module are the faces
once more, in this session: run alone, the module runs them after the others.
"""

from __future__ import annotations

import gc
import os
import re
import socket

import pytest
import pytest_twisted
from conftest import Report
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater

from pytest_tcpclient.trial import TCPServerTestCase

WAIT = 5  # seconds any wait of a test may take before it counts as hung

FACES = f"""
import asyncio
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol

from pytest_tcpclient.trial import TCPServerTestCase

SENT = b"ping"  # what every client sends; the script expects b"ping"
WAIT = {WAIT}


class Client(Protocol):
    def __init__(self):
        self.received = b""
        self.closed = Deferred()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed.callback(None)


def script(server):
    server.expect_connect()
    server.expect_bytes(b"ping")
    server.send_bytes(b"pong")
    server.disconnect()


def connect(port):
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=WAIT)
    return connectProtocol(endpoint, Client())


@pytest_twisted.ensureDeferred
async def test_twisted(tcpserver):
    script(tcpserver)
    client = await connect(tcpserver.service_port)
    client.transport.write(SENT)
    await client.closed.addTimeout(WAIT, reactor)
    await tcpserver.join()
    assert client.received == b"pong"


@pytest.mark.asyncio
async def test_asyncio(tcpserver):
    script(tcpserver)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(SENT)
    received = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    await writer.wait_closed()
    await tcpserver.join()
    assert received == b"pong"


def test_blocking(tcpserver):
    script(tcpserver)
    address = ("127.0.0.1", tcpserver.service_port)
    with socket.create_connection(address, timeout=WAIT) as client:
        client.sendall(SENT)
        received = client.makefile("rb").read()
    tcpserver.join()
    assert received == b"pong"


class TrialTests(TCPServerTestCase):
    @inlineCallbacks
    def test_trial(self):
        script(self.tcpserver)
        client = yield connect(self.tcpserver.service_port)
        client.transport.write(SENT)
        yield client.closed.addTimeout(WAIT, reactor)
        yield self.tcpserver.join()
        self.assertEqual(client.received, b"pong")
"""
"""One test of each face, each with a scripted server and a client of its kind."""

NAMES = {"test_twisted", "test_asyncio", "test_blocking", "test_trial"}
JOINS = {
    "test_twisted": ">       await tcpserver.join()",
    "test_asyncio": ">       await tcpserver.join()",
    "test_blocking": ">       tcpserver.join()",
    "test_trial": ">       yield self.tcpserver.join()",
}
"""The line each test's failure report points at."""
DIAGNOSTIC = "Expected b'ping' but received b'PING' (first difference at offset 0)"
OTHER = {"default": "asyncio", "asyncio": "default"}
"""The reactor that is not this run's."""


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def write_faces(pytester: pytest.Pytester, sent: bytes = b"ping") -> None:
    """The tests of :data:`FACES`, whose clients send ``sent``."""
    pytester.makeini(INI)
    pytester.makepyfile(test_faces=FACES.replace('SENT = b"ping"', f"SENT = {sent!r}"))


def write_bare(pytester: pytest.Pytester, ini: str = "") -> None:
    """A test that does nothing; ``ini``, more lines of the ini file."""
    pytester.makeini(INI + ini)
    pytester.makepyfile(test_bare="def test_x(): pass")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest, in-process (pytester's default), with ``-rA``."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rA", *args)


def assert_the_reactor_turns() -> None:
    """This run's reactor still runs: a call scheduled on it is made."""
    assert pytest_twisted.blockon(deferLater(reactor, 0, lambda: "turned")) == "turned"


def passed(reprec: pytest.HookRecorder) -> set[str]:
    """The names of the tests that passed in an ``inline_run()``."""
    reports = reprec.getreports("pytest_runtest_logreport")
    return {r.nodeid.split("::")[-1] for r in reports if r.when == "call" and r.passed}


# -- in-process runs, again and again ------------------------------------------------


def test_a_bare_test_runs_twice(pytester: pytest.Pytester):
    write_bare(pytester)
    for _ in range(2):
        pytester.runpytest().assert_outcomes(passed=1)  # on this run's reactor
        assert_the_reactor_turns()


def test_runpytest_runs_every_face_twice(pytester: pytest.Pytester, reactor_name: str):
    write_faces(pytester)
    for _ in range(2):
        result = run(pytester, f"--reactor={reactor_name}")
        result.assert_outcomes(passed=4)
        assert {node.split("::")[-1] for node in Report(result).words} == NAMES
        assert_the_reactor_turns()


def test_inline_run_runs_every_face_twice(pytester: pytest.Pytester, reactor_name: str):
    write_faces(pytester)
    for _ in range(2):
        reprec = pytester.inline_run(f"--reactor={reactor_name}", "-p", "no:cacheprovider")
        reprec.assertoutcome(passed=4)
        assert passed(reprec) == NAMES
        assert_the_reactor_turns()


def test_failing_faces_report_their_line_and_the_next_run_passes(
    pytester: pytest.Pytester, reactor_name: str
):
    write_faces(pytester, sent=b"PING")
    result = run(pytester, f"--reactor={reactor_name}")
    result.assert_outcomes(failed=4)
    report = Report(result)
    for name, join in JOINS.items():
        assert report.outcome(name) == "failed"
        under = re.sub(r"^E\s+", "", report.failure_under(name, join))
        trial = "twisted.trial.unittest.FailTest: " if name == "test_trial" else ""
        assert under == trial + DIAGNOSTIC, name
        assert report.internals(name) == []
    assert_the_reactor_turns()

    write_faces(pytester)
    run(pytester, f"--reactor={reactor_name}").assert_outcomes(passed=4)


def test_nested_runs_leak_no_file_descriptor(pytester: pytest.Pytester):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counts the file descriptors in /proc/self/fd")
    write_bare(pytester)
    pytester.runpytest().assert_outcomes(passed=1)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    runs = 4
    for _ in range(runs):
        pytester.runpytest().assert_outcomes(passed=1)
    gc.collect()
    # a nested session that installed a reactor again would leak 2 or 3 a run
    assert len(os.listdir("/proc/self/fd")) - before < runs


# -- what a nested run cannot do --------------------------------------------------------


@pytest.mark.parametrize("where", ["command line", "ini file"])
def test_another_reactor_is_a_usage_error(
    pytester: pytest.Pytester, reactor_name: str, where: str
):
    other = OTHER[reactor_name]
    if where == "ini file":
        write_bare(pytester, f"addopts = --reactor={other}\n")
        result = pytester.runpytest()
    else:
        write_bare(pytester)
        result = pytester.runpytest(f"--reactor={other}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    asked = f"ERROR: --reactor={other} was asked for, *"
    result.stderr.fnmatch_lines([f"{asked}whose reactor is --reactor={reactor_name}*"])
    assert_the_reactor_turns()
    # on this run's reactor, it runs (the command line wins over the ini file)
    pytester.runpytest(f"--reactor={reactor_name}").assert_outcomes(passed=1)


@pytest_twisted.ensureDeferred
async def test_a_twisted_test_running_pytest_gets_a_usage_error(pytester: pytest.Pytester):
    # it runs in the reactor's greenlet: the reactor cannot turn until it returns
    write_bare(pytester)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest runs in-process inside a test that *"])
    assert await deferLater(reactor, 0, lambda: "turned") == "turned"


@pytest.mark.asyncio
async def test_an_asyncio_test_runs_pytest(pytester: pytest.Pytester, reactor_name: str):
    # not inside a running loop (this test's): an asyncio test, which
    # pytest-asyncio refuses to run there, and a blocking one, which the plugin
    # refuses to let block it
    write_faces(pytester)
    result = run(pytester, f"--reactor={reactor_name}", "-k", "twisted or trial")
    result.assert_outcomes(passed=2, deselected=2)
    assert_the_reactor_turns()


# -- the faces in this session, after the nested runs --------------------------------------


def script(server) -> None:
    server.expect_connect()
    server.expect_bytes(b"ping")
    server.send_bytes(b"pong")
    server.disconnect()


class Client(Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.closed: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: object) -> None:
        self.closed.callback(None)


def connect(port: int) -> Deferred[Client]:
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=WAIT)
    return connectProtocol(endpoint, Client())


@pytest_twisted.ensureDeferred
async def test_after_twisted(tcpserver):
    script(tcpserver)
    client = await connect(tcpserver.service_port)
    client.transport.write(b"ping")
    await client.closed.addTimeout(WAIT, reactor)
    await tcpserver.join()
    assert client.received == b"pong"


@pytest.mark.asyncio
async def test_after_asyncio(tcpserver):
    import asyncio

    script(tcpserver)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(b"ping")
    received = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    await writer.wait_closed()
    await tcpserver.join()
    assert received == b"pong"


def test_after_blocking(tcpserver):
    script(tcpserver)
    address = ("127.0.0.1", tcpserver.service_port)
    with socket.create_connection(address, timeout=WAIT) as client:
        client.sendall(b"ping")
        received = client.makefile("rb").read()
    tcpserver.join()
    assert received == b"pong"


class AfterTrialTests(TCPServerTestCase):
    @inlineCallbacks
    def test_after_trial(self):
        script(self.tcpserver)
        client = yield connect(self.tcpserver.service_port)
        client.transport.write(b"ping")
        yield client.closed.addTimeout(WAIT, reactor)
        yield self.tcpserver.join()
        self.assertEqual(client.received, b"pong")
