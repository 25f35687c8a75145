"""A passing test: trial tests get TLS servers from class attributes, and the
CA to trust from ``self.tcpserver_ca``.

Outcome: passed
"""

from twisted.internet import reactor
from twisted.internet.endpoints import SSL4ClientEndpoint, connectProtocol
from twisted.internet.ssl import optionsForClientTLS
from twisted.protocols.basic import LineReceiver

from pytest_tcpclient.trial import TCPServerTestCase


class Ping(LineReceiver):
    def connectionMade(self):
        self.sendLine(b"PING")

    def lineReceived(self, line):
        self.transport.loseConnection()


class TLSTests(TCPServerTestCase):
    tcpserver_tls = True  # self.tcpserver speaks TLS from the first byte

    async def test_tls(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_line(b"PING")
        self.tcpserver.send_line(b"PONG")
        self.tcpserver.expect_disconnect()

        options = optionsForClientTLS("localhost", trustRoot=self.tcpserver_ca.trust_root)
        port = self.tcpserver.service_port
        endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", port, options)
        await connectProtocol(endpoint, Ping())

        await self.tcpserver.join()
