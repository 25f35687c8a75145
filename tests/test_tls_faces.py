"""TLS and IPv6 in every face, end to end, with real clients over real sockets:
pytest-twisted (Twisted's own TLS client), asyncio (``open_connection(ssl=...)``),
plain tests (``ssl`` sockets, smtplib, http.client) on this run's reactor, and
trial.

The unit tests (tests/unit/test_tls.py) check the handshakes and diagnostics
in memory; these check that each face offers them and shows each diagnostic
as its first line, with no frame of Twisted or the plugin.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

COMMON = """
import asyncio
import http.client
import smtplib
import socket
import ssl

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    SSL4ClientEndpoint,
    TCP4ClientEndpoint,
    connectProtocol,
)
from twisted.internet.protocol import Protocol
from twisted.internet.ssl import optionsForClientTLS


class Client(Protocol):
    def __init__(self):
        self.data = Deferred()
        self.closed = Deferred()

    def dataReceived(self, data):
        self.data.callback(data)

    def connectionLost(self, reason):
        self.closed.callback(None)


def ping_pong(server):
    server.expect_connect()
    server.expect_line(b"PING")
    server.send_line(b"PONG")
    server.expect_disconnect()


def plain_tls(port, context):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="localhost")


def smtp_script(server):
    server.expect_connect()
    server.send_line(b"220 mail.example.com ESMTP")
    server.expect_line(b"ehlo client.example.com")
    server.send_line(b"250-mail.example.com\\r\\n250 STARTTLS")
    server.expect_line(b"STARTTLS")
    server.send_line(b"220 Ready to start TLS")
    server.start_tls()
    server.expect_line(b"ehlo client.example.com")
    server.send_line(b"250 mail.example.com")
    server.expect_line(b"quit")
    server.send_line(b"221 Bye")
"""

PASSING = """
@pytest_twisted.ensureDeferred
async def test_twisted_tls(tcpserver_factory, tcpserver_ca):
    server = tcpserver_factory(tls=True)
    ping_pong(server)
    options = optionsForClientTLS("localhost", trustRoot=tcpserver_ca.trust_root)
    endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", server.service_port, options)
    client = await connectProtocol(endpoint, Client())
    client.transport.write(b"PING\\r\\n")
    assert await client.data == b"PONG\\r\\n"
    client.transport.loseConnection()
    await server.join()


@pytest.mark.asyncio
async def test_asyncio_tls(tcpserver_factory, tcpclient_ssl_context):
    server = await tcpserver_factory(tls=True)
    ping_pong(server)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.service_port, ssl=tcpclient_ssl_context,
        server_hostname="localhost",
    )
    writer.write(b"PING\\r\\n")
    assert await reader.readline() == b"PONG\\r\\n"
    writer.close()
    await writer.wait_closed()
    await server.join()


def test_plain_tls(tcpserver_factory, tcpclient_ssl_context):
    server = tcpserver_factory(tls=True)
    ping_pong(server)
    with plain_tls(server.service_port, tcpclient_ssl_context) as s:
        s.sendall(b"PING\\r\\n")
        assert s.recv(100) == b"PONG\\r\\n"
    server.join()


def test_plain_https(tcpserver_factory, tcpclient_ssl_context):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"GET /status HTTP/1.1")
    server.on_line(lambda header: True)  # the headers, and the blank line
    server.send_bytes(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    connection = http.client.HTTPSConnection(
        "localhost", server.service_port, context=tcpclient_ssl_context, timeout=5
    )
    connection.request("GET", "/status")
    assert connection.getresponse().read() == b"ok"
    connection.close()  # no close_notify: a clean close all the same


def test_plain_smtp_ssl(tcpserver_factory, tcpclient_ssl_context):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.send_line(b"220 mail.example.com ESMTP")
    server.expect_line(b"quit")
    server.send_line(b"221 Bye")
    smtp = smtplib.SMTP_SSL(
        "localhost", server.service_port, context=tcpclient_ssl_context, timeout=5
    )
    smtp.quit()


def test_plain_starttls(tcpserver, tcpclient_ssl_context):
    smtp_script(tcpserver)
    smtp = smtplib.SMTP(
        "localhost", tcpserver.service_port, local_hostname="client.example.com",
        timeout=5,
    )
    smtp.starttls(context=tcpclient_ssl_context)
    smtp.ehlo()  # again, inside TLS
    smtp.quit()


def test_plain_mtls(tcpserver_factory, tcpclient_ssl_context, tcpclient_certificate):
    server = tcpserver_factory(tls=True, client_certificate=True)
    ping_pong(server)
    tcpclient_certificate.configure(tcpclient_ssl_context)
    with plain_tls(server.service_port, tcpclient_ssl_context) as s:
        s.sendall(b"PING\\r\\n")
        assert s.recv(100) == b"PONG\\r\\n"


def test_plain_ca_file(tcpserver_factory, tcpserver_ca):
    server = tcpserver_factory(tls=True)
    ping_pong(server)
    context = ssl.create_default_context(cafile=str(tcpserver_ca.cert_path))
    with plain_tls(server.service_port, context) as s:
        s.sendall(b"PING\\r\\n")
        assert s.recv(100) == b"PONG\\r\\n"
"""

FAILING = """
@pytest_twisted.ensureDeferred
async def test_twisted_plaintext(tcpserver_factory):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"EHLO x")
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.service_port)
    client = await connectProtocol(endpoint, Client())
    client.transport.write(b"EHLO x\\r\\n")
    await client.closed
    await server.join()


@pytest.mark.asyncio
async def test_asyncio_untrusted(tcpserver_factory):
    server = await tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"PING")
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(
            "127.0.0.1", server.service_port, ssl=ssl.create_default_context(),
            server_hostname="localhost",
        )
    await server.join()


def test_plain_untrusted(tcpserver_factory):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"PING")
    with pytest.raises(ssl.SSLCertVerificationError):
        plain_tls(server.service_port, ssl.create_default_context())
    server.join()


def test_plain_no_client_certificate(tcpserver_factory, tcpclient_ssl_context):
    server = tcpserver_factory(tls=True, client_certificate=True)
    server.expect_connect()
    server.expect_line(b"PING")
    with plain_tls(server.service_port, tcpclient_ssl_context) as s:
        s.sendall(b"PING\\r\\n")
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            s.recv(100)  # the server refuses it
    server.join()


def test_plain_starttls_pipelined(tcpserver):
    smtp_script(tcpserver)
    with socket.create_connection(("127.0.0.1", tcpserver.service_port), timeout=5) as s:
        s.recv(100)
        s.sendall(b"ehlo client.example.com\\r\\n")
        s.recv(100)
        s.sendall(b"STARTTLS\\r\\nehlo client.example.com\\r\\n")  # not a handshake
        tcpserver.join()
"""

FAILURES = {
    "test_twisted_plaintext": (
        "        await server.join()",
        "Expected a TLS handshake, but the client sent plaintext b'EHLO x\\r\\n'",
    ),
    "test_asyncio_untrusted": (
        "        await server.join()",
        "TLS handshake failed: the client closed the connection during the handshake "
        "(it may have rejected the server's certificate)",
    ),
    "test_plain_untrusted": (
        "        server.join()",
        "TLS handshake failed: the client rejected the server's certificate "
        "(tlsv1 alert unknown ca)",
    ),
    "test_plain_no_client_certificate": (
        "        server.join()",
        "Expected a client certificate, but the client presented none",
    ),
    "test_plain_starttls_pipelined": (
        "            tcpserver.join()",
        "Expected a TLS handshake, but the client sent plaintext "
        "b'ehlo client.example.com\\r\\n'",
    ),
}


def write(path: Path, **files: str) -> None:
    for name, source in files.items():
        (path / f"{name}.py").write_text(COMMON + textwrap.dedent(source))


def test_every_face_serves_tls_clients(run_once):
    report = run_once("passing", lambda path: write(path, test_passing=PASSING))
    report.result.assert_outcomes(passed=8)


@pytest.fixture
def failing_run(run_once):
    return run_once("failing", lambda path: write(path, test_failing=FAILING))


def test_every_misconfigured_client_fails(failing_run):
    failing_run.result.assert_outcomes(failed=len(FAILURES))


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_tls_diagnostic_shows_at_the_tests_line(failing_run, name):
    call, first_line = FAILURES[name]
    assert failing_run.failure_under(name, f">{call[1:]}") == first_line
    assert failing_run.internals(name) == []
    assert "Unhandled error" not in failing_run.result.stdout.str()


# -- IPv6 ---------------------------------------------------------------------------


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="this machine has no IPv6 loopback")

IPV6 = """
import asyncio
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import TCP6ClientEndpoint, connectProtocol
from twisted.protocols.basic import LineReceiver


@pytest_twisted.ensureDeferred
async def test_twisted(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"hello")
    tcpserver.expect_disconnect()
    assert tcpserver.host == "::1"
    endpoint = TCP6ClientEndpoint(reactor, "::1", tcpserver.service_port)
    client = await connectProtocol(endpoint, LineReceiver())
    client.sendLine(b"hello")
    client.transport.loseConnection()
    await tcpserver.join()


@pytest.mark.asyncio
async def test_asyncio(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"hello")
    tcpserver.expect_disconnect()
    reader, writer = await asyncio.open_connection(tcpserver.host, tcpserver.service_port)
    writer.write(b"hello\\r\\n")
    writer.close()
    await writer.wait_closed()
    await tcpserver.join()


def test_plain(tcpserver, tcpserver_factory):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"hello")
    with socket.create_connection((tcpserver.host, tcpserver.service_port)) as s:
        assert s.family == socket.AF_INET6
        s.sendall(b"hello\\r\\n")
    tcpserver.join()
    assert tcpserver_factory(host="127.0.0.1").host == "127.0.0.1"  # one on IPv4


def test_plain_wrong(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"hello")
    with socket.create_connection((tcpserver.host, tcpserver.service_port)) as s:
        s.sendall(b"hullo\\r\\n")
        tcpserver.join()
"""


@ipv6
def test_every_face_listens_on_ipv6_for_the_whole_run(run_once):
    report = run_once(
        "ipv6",
        lambda path: (path / "test_ipv6.py").write_text(IPV6),
        "--tcpserver-host=::1",
    )
    report.result.assert_outcomes(passed=3, failed=1)
    wrong = r"E +Failed: Expected a line b'hello' but received b'hullo'"
    assert any(re.fullmatch(wrong, line) for line in report.section("test_plain_wrong"))


@ipv6
def test_the_ini_option_names_the_host(pytester: pytest.Pytester, reactor_name: str):
    pytester.makeini("[pytest]\ntcpserver_host = ::1\n")
    pytester.makepyfile(
        """
        def test_host(tcpserver):
            assert tcpserver.host == "::1"
            assert repr(tcpserver).startswith("<BlockingServer [::1]:")
        """
    )
    result = pytester.runpytest_subprocess(f"--reactor={reactor_name}")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--tcpserver-host=localhost"],
            "--tcpserver-host must be an IP address literal such as '127.0.0.1' or "
            "'::1', not 'localhost'",
        ),
        (
            ["-o", "tcpserver_host=example.com"],
            "tcpserver_host must be an IP address literal such as '127.0.0.1' or "
            "'::1', not 'example.com'",
        ),
    ],
)
def test_a_host_that_is_not_an_address_is_a_usage_error(
    pytester: pytest.Pytester, arguments: list[str], message: str
):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess(*arguments)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


# -- trial ----------------------------------------------------------------------------

TRIAL = """
import smtplib
import ssl

from twisted.internet import reactor
from twisted.internet.endpoints import SSL4ClientEndpoint, connectProtocol
from twisted.internet.ssl import optionsForClientTLS
from twisted.internet.threads import deferToThread
from twisted.protocols.basic import LineReceiver

from pytest_tcpclient.trial import TCPServerTestCase


class Client(LineReceiver):
    def connectionMade(self):
        self.sendLine(b"PING")

    def lineReceived(self, line):
        self.transport.loseConnection()


class TLSTests(TCPServerTestCase):
    tcpserver_tls = True

    async def test_twisted_client(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_line(b"PING")
        self.tcpserver.send_line(b"PONG")
        self.tcpserver.expect_disconnect()
        options = optionsForClientTLS("localhost", trustRoot=self.tcpserver_ca.trust_root)
        port = self.tcpserver.service_port
        endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", port, options)
        await connectProtocol(endpoint, Client())
        await self.tcpserver.join()

    async def test_untrusted(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_line(b"PING")
        options = optionsForClientTLS("localhost")  # the system's roots only
        port = self.tcpserver.service_port
        endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", port, options)
        await connectProtocol(endpoint, Client())
        await self.tcpserver.join()


class MutualTLSTests(TCPServerTestCase):
    tcpserver_tls = True
    tcpserver_client_certificate = True

    def test_blocking_client_without_a_certificate(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_line(b"PING")
        context = self.tcpserver_ca.ssl_context()
        port = self.tcpserver.service_port

        def talk():
            import socket

            with context.wrap_socket(
                socket.create_connection(("127.0.0.1", port), timeout=5),
                server_hostname="localhost",
            ) as s:
                s.sendall(b"PING\\r\\n")
                try:
                    s.recv(10)
                except (ssl.SSLError, ConnectionResetError):
                    pass

        return deferToThread(talk).addCallback(lambda _: self.tcpserver.join())


class BadAttributeTests(TCPServerTestCase):
    tcpserver_client_certificate = True

    def test_nothing(self):
        pass
"""


def test_trial_tests_get_tls_from_class_attributes(tmp_path: Path):
    (tmp_path / "test_tls_trial.py").write_text(TRIAL)
    done = subprocess.run(
        [sys.executable, "-m", "twisted.trial", "test_tls_trial"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert "FAILED (failures=2, errors=1, successes=1)" in output, output
    for first_line in [
        "FailTest: TLS handshake failed: the client rejected the server's certificate "
        "(tlsv1 alert unknown ca)",
        "FailTest: Expected a client certificate, but the client presented none",
        "ValueError: BadAttributeTests.tcpserver_client_certificate needs TLS "
        "(tcpserver_tls = True)",
    ]:
        assert re.search(re.escape(first_line), output), output
