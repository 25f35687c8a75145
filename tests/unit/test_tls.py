"""Unit tests of TLS in the core: the scripted server and a Twisted TLS client,
connected in memory (``twisted.test.iosim``), on a MemoryReactorClock.

Real handshakes, no sockets and no waiting: the pump moves the bytes, the
clock moves only when told.
"""

from __future__ import annotations

import re

import pytest
from outcomes import failure_of, outcome
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions, optionsForClientTLS
from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import FakeTransport, connect

from pytest_tcpclient import CertificateAuthority, default_ca
from pytest_tcpclient.core import ScriptedServer


class Client(Protocol):
    """The application under a client's TLS layer: keeps what it reads."""

    def __init__(self):
        self.received = b""
        self.reason = None

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason=None):
        self.reason = reason


class Connection:
    """A server's connection and a client on it, joined by an IOPump; with
    ``client_tls`` (a client's TLS options), the client speaks TLS."""

    def __init__(self, reactor, server, client_tls=None):
        self.reactor = reactor
        self.server_protocol = server._factory.buildProtocol(None)
        self.app = Client()
        self.server_transport = FakeTransport(self.server_protocol, isServer=True)
        self.client_transport = FakeTransport(self.app, isServer=False)
        self.pump = connect(
            self.server_protocol,
            self.server_transport,
            self.app,
            self.client_transport,
            greet=False,
            clock=reactor,
        )
        if client_tls is not None:
            self.start_tls(client_tls)
        self.pump.flush()

    def start_tls(self, options):
        """The client starts TLS on its connection, as the client of the handshake."""
        factory = TLSMemoryBIOFactory(
            options, True, Factory.forProtocol(lambda: self.app), clock=self.reactor
        )
        layer = factory.buildProtocol(None)
        self.client_transport.protocol = layer
        layer.makeConnection(self.client_transport)  # the app's transport: the layer
        self.pump.flush()

    def send(self, data):
        """The client writes ``data`` (through its TLS layer, if any)."""
        self.app.transport.write(data)
        self.pump.flush()

    def close(self):
        """The client closes the TCP connection, with no TLS close_notify."""
        self.client_transport.loseConnection()
        self.pump.flush()


@pytest.fixture
def reactor():
    return MemoryReactorClock()


@pytest.fixture
def trusting():
    """What a client that trusts the servers' CA connects with."""
    return optionsForClientTLS("localhost", trustRoot=default_ca().trust_root)


def tls_server(reactor, **options):
    return ScriptedServer(reactor, tls=True, **options)


def test_a_tls_server_sees_the_plaintext_inside_tls(reactor, trusting):
    server = tls_server(reactor)
    server.expect_connect()
    server.expect_line(b"PING")
    server.send_line(b"PONG")
    server.expect_disconnect()
    connection = Connection(reactor, server, trusting)
    connection.send(b"PING\r\n")
    assert connection.app.received == b"PONG\r\n"
    connection.close()  # no close_notify: a clean close all the same
    assert outcome(server.join()) is None
    assert server._factory.script.transcript.lines() == [
        "client connected",
        "TLS handshake done",
        "client sent b'PING\\r\\n'",
        "server sent b'PONG\\r\\n'",
        "client closed the connection",
    ]


def test_the_tls_layer_keeps_time_with_the_servers_reactor(reactor, trusting):
    server = tls_server(reactor)
    server.expect_connect()
    connection = Connection(reactor, server, trusting)
    assert connection.server_protocol.tls.factory._clock is reactor


def test_a_client_that_sends_plaintext_is_told_so(reactor):
    server = tls_server(reactor)
    server.expect_connect()
    server.expect_line(b"EHLO x")
    connection = Connection(reactor, server)
    connection.send(b"EHLO x\r\n")
    failure = failure_of(server.join())
    assert failure.summary == (
        "Expected a TLS handshake, but the client sent plaintext b'EHLO x\\r\\n'"
    )
    assert failure.transcript == [
        "client connected",
        "TLS handshake failed",
        "failed at expect_line(b'EHLO x')",
    ]


def test_a_client_that_rejects_the_certificate_is_told_so(reactor):
    server = tls_server(reactor)
    server.expect_connect()
    other = CertificateAuthority()  # the client trusts another CA
    Connection(
        reactor, server, optionsForClientTLS("localhost", trustRoot=other.trust_root)
    )
    assert failure_of(server.join()).summary == (
        "TLS handshake failed: the client rejected the server's certificate "
        "(tlsv1 alert unknown ca)"
    )


def test_a_client_that_closes_during_the_handshake_may_have_rejected_it(reactor):
    server = tls_server(reactor)
    server.expect_connect()
    connection = Connection(reactor, server)
    connection.send(b"\x16\x03\x01")  # the start of a handshake record, then
    connection.close()
    assert failure_of(server.join()).summary == (
        "TLS handshake failed: the client closed the connection during the handshake "
        "(it may have rejected the server's certificate)"
    )


def test_a_server_that_hangs_up_before_the_handshake_did_not_fail_it(reactor):
    server = tls_server(reactor)
    server.expect_connect()
    server.disconnect()
    connection = Connection(reactor, server)
    assert connection.server_transport.disconnecting
    assert outcome(server.join()) is None
    assert server._factory.script.failure is None


def test_a_client_certificate_is_required_when_asked_for(reactor, trusting):
    server = tls_server(reactor, client_certificate=True)
    server.expect_connect()
    server.expect_line(b"PING")
    connection = Connection(reactor, server, trusting)
    connection.send(b"PING\r\n")
    assert failure_of(server.join()).summary == (
        "Expected a client certificate, but the client presented none"
    )


# Twisted's client TLS options hand pyOpenSSL the objects it deprecates.
client_certificate_warnings = pytest.mark.filterwarnings(
    "ignore:Passing pyOpenSSL:DeprecationWarning"
)


@client_certificate_warnings
def test_a_client_certificate_of_the_ca_is_accepted(reactor):
    server = tls_server(reactor, client_certificate=True)
    server.expect_connect()
    server.expect_line(b"PING")
    server.send_line(b"PONG")
    certificate = default_ca().issue_client_certificate()
    options = optionsForClientTLS(
        "localhost",
        trustRoot=default_ca().trust_root,
        clientCertificate=certificate.private_certificate,
    )
    connection = Connection(reactor, server, options)
    connection.send(b"PING\r\n")
    assert connection.app.received == b"PONG\r\n"
    assert outcome(server.join()) is None


@client_certificate_warnings
def test_a_client_certificate_of_another_ca_is_refused(reactor):
    server = tls_server(reactor, client_certificate=True)
    server.expect_connect()
    server.expect_line(b"PING")
    stranger = CertificateAuthority().issue_client_certificate()
    options = optionsForClientTLS(
        "localhost",
        trustRoot=default_ca().trust_root,
        clientCertificate=stranger.private_certificate,
    )
    connection = Connection(reactor, server, options)
    connection.send(b"PING\r\n")
    summary = failure_of(server.join()).summary
    assert summary.startswith("TLS handshake failed: the client's certificate was not ")
    assert "certificate verify failed" in summary


# -- STARTTLS ---------------------------------------------------------------------


def starttls_script(server):
    server.expect_connect()
    server.expect_line(b"STARTTLS")
    server.send_line(b"220 go ahead")
    server.start_tls()
    server.expect_line(b"EHLO x")
    server.send_line(b"250 hello")


def test_start_tls_switches_to_tls_at_that_step(reactor, trusting):
    server = ScriptedServer(reactor)
    starttls_script(server)
    connection = Connection(reactor, server)
    connection.send(b"STARTTLS\r\n")
    assert connection.app.received == b"220 go ahead\r\n"
    connection.start_tls(trusting)
    connection.send(b"EHLO x\r\n")
    assert connection.app.received == b"220 go ahead\r\n250 hello\r\n"
    assert outcome(server.join()) is None
    lines = server._factory.script.transcript.lines()
    assert lines[lines.index("server started TLS") + 1] == "TLS handshake done"


def test_a_handshake_that_came_before_start_tls_is_not_lost(reactor, trusting):
    server = ScriptedServer(reactor)
    server.expect_connect()
    server.expect_line(b"STARTTLS")
    server.send_line(b"220 go ahead")
    server.pause(0.5)  # the client's handshake arrives in the meantime
    server.start_tls()
    server.expect_line(b"EHLO x")
    server.send_line(b"250 hello")
    connection = Connection(reactor, server)
    connection.send(b"STARTTLS\r\n")
    connection.start_tls(trusting)
    assert connection.server_protocol.tls is None  # not yet
    reactor.advance(0.5)
    connection.pump.flush()
    connection.send(b"EHLO x\r\n")
    assert connection.app.received == b"220 go ahead\r\n250 hello\r\n"
    assert outcome(server.join()) is None


def test_plaintext_after_starttls_fails_the_step(reactor):
    server = ScriptedServer(reactor)
    starttls_script(server)
    connection = Connection(reactor, server)
    connection.send(b"STARTTLS\r\nEHLO x\r\n")  # pipelined: never in plaintext
    assert failure_of(server.join()).summary == (
        "Expected a TLS handshake, but the client sent plaintext b'EHLO x\\r\\n'"
    )


# -- bad arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"tls": 1}, TypeError, "tcpserver_factory() argument 'tls' must be bool, not int"),
        (
            {"client_certificate": True},
            ValueError,
            "tcpserver_factory() argument 'client_certificate' needs TLS (tls=True)",
        ),
        (
            {"host": "localhost"},
            ValueError,
            "tcpserver_factory() argument 'host' must be an IP address literal such as "
            "'127.0.0.1' or '::1', not 'localhost'",
        ),
        ({"host": b"::1"}, TypeError, "tcpserver_factory() argument 'host' must be str"),
    ],
)
def test_bad_server_options_are_refused_at_the_call(options, error, message):
    from pytest_tcpclient.core.server import server_options

    with pytest.raises(error, match=re.escape(message)):
        server_options("tcpserver_factory()", **options)


def test_start_tls_on_a_tls_server_is_refused(reactor):
    server = tls_server(reactor)
    server.expect_connect()
    with pytest.raises(ValueError, match=r"start_tls\(\) on a server that speaks TLS"):
        server.start_tls()


def test_start_tls_twice_on_a_connection_is_refused(reactor):
    server = ScriptedServer(reactor)
    first = server.expect_connect()
    first.start_tls()
    with pytest.raises(ValueError, match=r"start_tls\(\) twice on connection #1"):
        first.start_tls()
    with pytest.raises(ValueError, match=r"start_tls\(\) twice on connection #1"):
        server.start_tls()
    second = server.expect_connect()
    second.start_tls()  # another connection may


def test_start_tls_client_certificate_must_be_a_bool(reactor):
    server = ScriptedServer(reactor)
    server.expect_connect()
    with pytest.raises(TypeError, match="'client_certificate' must be bool, not str"):
        server.start_tls(client_certificate="yes")


def test_without_the_tls_extra_tls_names_it(monkeypatch):
    from pytest_tcpclient.core.server import server_options

    monkeypatch.setitem(__import__("sys").modules, "OpenSSL", None)
    with pytest.raises(ImportError, match=re.escape("pip install pytest-tcpclient[tls]")):
        server_options("tcpserver_factory()", tls=True)
    assert server_options("tcpserver_factory()")["tls"] is False  # the rest works


def test_the_ca_issues_a_server_certificate_for_every_loopback_name():
    from cryptography import x509

    ca = CertificateAuthority()
    leaf = x509.load_pem_x509_certificate(ca._server.cert_chain_pems[0].bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost"}
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {
        "127.0.0.1",
        "::1",
    }
    assert ca.cert_path.read_bytes() == ca.cert_pem


def test_the_servers_tls_options_are_twisteds_own(reactor):
    options = default_ca().server_context()
    assert isinstance(options, CertificateOptions)
    assert options is default_ca().server_context()  # made once
    assert options is not default_ca().server_context(client_certificate=True)


# -- the certificate authority ----------------------------------------------------------


def test_without_trustme_the_ca_names_the_tls_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "trustme", None)
    with pytest.raises(
        ImportError, match=re.escape("TLS needs the tls extra (pip install")
    ):
        CertificateAuthority()


def test_a_ca_writes_its_files_in_the_directory_given(tmp_path):
    ca = CertificateAuthority(tmp_path)
    assert ca.cert_path == tmp_path / "ca.pem"
    assert repr(ca) == f"<CertificateAuthority {tmp_path / 'ca.pem'}>"
    certificate = ca.issue_client_certificate()
    assert certificate.cert_path.parent == certificate.key_path.parent == tmp_path
    assert certificate.cert_path.read_bytes() == certificate.cert_pem
    assert certificate.key_path.read_bytes() == certificate.key_pem


def test_the_cas_ssl_context_trusts_it_and_checks_hostnames():
    import ssl

    ca = CertificateAuthority()
    context = ca.ssl_context()
    der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.decode())
    assert der in context.get_ca_certs(binary_form=True)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_a_client_certificate_configures_a_client_context():
    import ssl

    certificate = CertificateAuthority().issue_client_certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    certificate.configure(context)  # load_cert_chain: raises if key and cert differ
    other = CertificateAuthority().issue_client_certificate()
    with pytest.raises(ssl.SSLError):
        context.load_cert_chain(certificate.cert_path, other.key_path)


# -- diagnostics of other handshake failures ---------------------------------------------


@pytest.mark.parametrize(
    ("reasons", "summary"),
    [
        pytest.param(
            [("SSL routines", "", "sslv3 alert handshake failure")],
            "TLS handshake failed: the client sent an alert "
            "(sslv3 alert handshake failure)",
            id="another alert",
        ),
        pytest.param(
            [("SSL routines", "", "wrong version number")],
            "TLS handshake failed: wrong version number",
            id="another reason",
        ),
        pytest.param(
            ["not a reason", (), ("SSL routines", "", "no shared cipher")],
            "TLS handshake failed: no shared cipher",
            id="only (library, function, reason) entries count",
        ),
        pytest.param("it broke", "TLS handshake failed: it broke", id="no list of reasons"),
    ],
)
def test_a_handshake_that_failed_otherwise_is_told_in_openssls_words(reasons, summary):
    from types import SimpleNamespace

    from OpenSSL import SSL
    from twisted.python.failure import Failure

    from pytest_tcpclient.core.tls import diagnose

    layer = SimpleNamespace(raw=b"\x16\x03\x01")  # a handshake had begun
    assert diagnose(Failure(SSL.Error(reasons)), layer) == summary
