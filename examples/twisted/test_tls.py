"""A passing test: a Twisted client connects with TLS through an endpoint,
trusting the scripted server's CA (``tcpserver_ca.trust_root``).

Outcome: passed
"""

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import SSL4ClientEndpoint, connectProtocol
from twisted.internet.ssl import optionsForClientTLS
from twisted.protocols.basic import LineReceiver


class Ping(LineReceiver):
    def connectionMade(self):
        self.sendLine(b"PING")

    def lineReceived(self, line):
        self.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_tls(tcpserver_factory, tcpserver_ca):
    server = tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"PING")
    server.send_line(b"PONG")
    server.expect_disconnect()

    options = optionsForClientTLS("localhost", trustRoot=tcpserver_ca.trust_root)
    endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", server.service_port, options)
    await connectProtocol(endpoint, Ping())

    await server.join()
