"""A failing test: a client speaks plaintext to a server that expects TLS
from the first byte.

Outcome: failed
Failure: Expected a TLS handshake, but the client sent plaintext b'EHLO client.example.com\\r\\n'
"""  # noqa: E501 (the diagnostic is one line)

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import LineReceiver


class Greeter(LineReceiver):
    def connectionMade(self):
        self.sendLine(b"EHLO client.example.com")


@pytest_twisted.ensureDeferred
async def test_tls_plaintext(tcpserver_factory):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"EHLO client.example.com")

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.service_port)
    await connectProtocol(endpoint, Greeter())  # no TLS

    await server.join()
