"""Messages and rules in every face, end to end: pytest-twisted, asyncio, plain
tests with blocking clients (pytester, on this run's reactor) and trial.

The unit tests of the core (tests/unit/test_messages.py) check the matching
itself; these check that each face offers it and reports its diagnostics at
the test's own line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

COMMON = """
import asyncio
import re
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.protocols.basic import LineReceiver

from pytest_tcpclient.framing import Netstring

REQUEST = re.compile(rb"GET (?P<id>\\d+)")


def declare(server):
    server.on_line(b"HELLO", b"+OK")
    server.expect_connect()
    server.expect_line(REQUEST)
    server.send_line(lambda request: b"ID " + request["id"])
    server.expect_disconnect()


class Lines(LineReceiver):
    def connectionMade(self):
        self.replies = []
        self.waiting = None

    def lineReceived(self, line):
        self.replies.append(line)
"""

PASSING = """
@pytest_twisted.ensureDeferred
async def test_twisted(tcpserver, tcpserver_factory):
    declare(tcpserver)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = await connectProtocol(endpoint, Lines())
    client.sendLine(b"HELLO")
    client.sendLine(b"GET 7")
    while len(client.replies) < 2:  # the replies come on the reactor
        await deferLater(reactor, 0.01, lambda: None)
    assert client.replies == [b"+OK", b"ID 7"]
    client.transport.loseConnection()
    await tcpserver.join()


@pytest.mark.asyncio
async def test_asyncio(tcpserver, tcpserver_factory):
    declare(tcpserver)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(b"HELLO\\r\\nGET 7\\r\\n")
    replies = [await reader.readline(), await reader.readline()]
    assert replies == [b"+OK\\r\\n", b"ID 7\\r\\n"]
    writer.close()
    await writer.wait_closed()
    await tcpserver.join()
    server = await tcpserver_factory(framing=Netstring())
    assert server.framing == Netstring()


def test_plain(tcpserver, tcpserver_factory):
    declare(tcpserver)
    with socket.create_connection(("127.0.0.1", tcpserver.service_port), 5) as s:
        s.sendall(b"HELLO\\r\\nGET 7\\r\\n")
        reply = b""
        while reply.count(b"\\r\\n") < 2:
            reply += s.recv(100)
    tcpserver.join()
    assert reply == b"+OK\\r\\nID 7\\r\\n"
    assert [r["id"] for r in tcpserver.received] == [b"7"]
    server = tcpserver_factory(framing=Netstring())
    server.expect_connect()
    server.expect_frame(b"hi")
    with socket.create_connection(("127.0.0.1", server.service_port), 5) as s:
        s.sendall(b"2:hi,")
    server.join()
"""

FAILING = """
def refuse_guests(line):
    assert line != b"guest"
    return True


@pytest_twisted.ensureDeferred
async def test_twisted_pattern(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(REQUEST)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = await connectProtocol(endpoint, Lines())
    client.sendLine(b"PUT 7")
    await tcpserver.join()


@pytest.mark.asyncio
async def test_asyncio_callable(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(refuse_guests)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(b"guest\\r\\n")
    await tcpserver.join()


def test_plain_reply_raises(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"GET")
    tcpserver.send_line(lambda request: request["no such group"])
    with socket.create_connection(("127.0.0.1", tcpserver.service_port), 5) as s:
        s.sendall(b"GET\\r\\n")
        tcpserver.join()


def test_plain_rule_times(tcpserver):
    tcpserver.on_line(b"PING", b"PONG", times=3)
    tcpserver.expect_connect()
    with socket.create_connection(("127.0.0.1", tcpserver.service_port), 5) as s:
        s.sendall(b"PING\\r\\n")
        assert s.recv(6) == b"PONG\\r\\n"
"""

FAILURES = {
    "test_twisted_pattern": (
        "        await tcpserver.join()",
        "Expected a line matching re.compile(b'GET (?P<id>\\\\d+)') but received b'PUT 7'",
    ),
    "test_asyncio_callable": (
        "        await tcpserver.join()",
        "Expected a line accepted by refuse_guests (test_failing.py:{line}) but received "
        "b'guest': assert b'guest' != b'guest'",
    ),
    "test_plain_reply_raises": (
        "            tcpserver.join()",
        "<lambda> (test_failing.py:{line}) raised KeyError: \"'no such group': the message "
        "b'GET' was not matched by a pattern, so it has no groups\"",
    ),
}


def write(path: Path, **files: str) -> None:
    for name, source in files.items():
        (path / f"{name}.py").write_text(COMMON + textwrap.dedent(source))


@pytest.fixture
def passing_run(run_once):
    return run_once("passing", lambda path: write(path, test_passing=PASSING))


def test_every_face_speaks_lines_frames_and_rules(passing_run):
    passing_run.result.assert_outcomes(passed=3)


@pytest.fixture
def failing_run(run_once):
    return run_once("failing", lambda path: write(path, test_failing=FAILING))


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_face_reports_message_diagnostics_at_the_tests_line(failing_run, name):
    source = (COMMON + textwrap.dedent(FAILING)).splitlines()
    call, first_line = FAILURES[name]
    if "{line}" in first_line:
        marker = "def refuse_guests" if "refuse_guests" in first_line else "no such group"
        number = next(i for i, text in enumerate(source, 1) if marker in text)
        first_line = first_line.replace("{line}", str(number))
    assert failing_run.failure_under(name, f">{call[1:]}") == first_line
    assert failing_run.internals(name) == []
    assert "Unhandled error" not in failing_run.result.stdout.str()


def test_a_rule_answering_too_few_times_fails_at_teardown(failing_run):
    failing_run.result.assert_outcomes(failed=3, passed=1, errors=1)
    lines = failing_run.section("test_plain_rule_times", "teardown")
    assert next(line for line in lines if line) == (
        "Expected on_line(b'PING') to answer 3 times, but it answered 1 time"
    )


TRIAL = """
import re

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import LineReceiver

from pytest_tcpclient.framing import Netstring
from pytest_tcpclient.trial import TCPServerTestCase


class Client(LineReceiver):
    def connectionMade(self):
        self.sendLine(b"HELLO")
        self.sendLine(b"GET 7")

    def lineReceived(self, line):
        if line.startswith(b"ID"):
            self.transport.loseConnection()


class MessageTests(TCPServerTestCase):
    async def test_lines_and_rules(self):
        self.tcpserver.on_line(b"HELLO", b"+OK")
        self.tcpserver.expect_connect()
        self.tcpserver.expect_line(re.compile(rb"GET (?P<id>\\d+)"))
        self.tcpserver.send_line(lambda request: b"ID " + request["id"])
        self.tcpserver.expect_disconnect()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.tcpserver.service_port)
        await connectProtocol(endpoint, Client())
        await self.tcpserver.join()
        self.assertEqual(self.tcpserver.received[0]["id"], b"7")

    async def test_pattern_fails(self):
        self.tcpserver.expect_connect(timeout=2)
        self.tcpserver.expect_line(re.compile(rb"PUT \\d+"))
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.tcpserver.service_port)
        await connectProtocol(endpoint, Client())
        await self.tcpserver.join()

    def test_factory_framing(self):
        server = self.tcpserver_factory(framing=Netstring())
        self.assertEqual(server.framing, Netstring())
"""


def test_trial_tests_speak_lines_and_rules(tmp_path: Path):
    (tmp_path / "test_messages_trial.py").write_text(TRIAL)
    done = subprocess.run(
        [sys.executable, "-m", "twisted.trial", "test_messages_trial"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert "FAILED (failures=1, successes=2)" in output, output
    assert re.search(
        r"FailTest: Expected a line matching re\.compile\(b'PUT \\\\d\+'\) "
        r"but received b'HELLO'",
        output,
    ), output
