"""A passing test: Twisted's own NetstringReceiver talks to a server whose
framing is netstrings (``tcpserver_factory(framing=Netstring())``).

Outcome: passed
"""

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import NetstringReceiver

from pytest_tcpclient.framing import Netstring
from pytest_tcpclient.trial import TCPServerTestCase


class Client(NetstringReceiver):
    def __init__(self):
        self.replies = []
        self.closed = Deferred()

    def stringReceived(self, string):
        self.replies.append(string)
        if len(self.replies) == 2:
            self.transport.loseConnection()

    def connectionLost(self, reason):
        self.closed.callback(None)


class CustomFramingTests(TCPServerTestCase):
    async def test_custom_framing(self):
        server = self.tcpserver_factory(framing=Netstring())
        server.expect_connect()
        server.expect_frame(b"hello")
        server.send_frame(b"hi")
        server.send_frame(b"bye")
        server.expect_disconnect()

        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.service_port)
        client = await connectProtocol(endpoint, Client())
        client.sendString(b"hello")
        await client.closed

        await server.join()
        self.assertEqual(client.replies, [b"hi", b"bye"])
