"""A passing test: the client greets the server, reads the reply and hangs up.

The test method uses @inlineCallbacks: trial waits for the Deferred it returns.

Outcome: passed
"""

from clients import Greeter, connect
from twisted.internet.defer import inlineCallbacks

from pytest_tcpclient.trial import TCPServerTestCase


class HelloTests(TCPServerTestCase):
    @inlineCallbacks
    def test_hello(self):
        # ======================================================================
        # Establish expectations and replies on the server side.
        #
        # In this case, the client is expected to connect and then send a
        # specific message. If that occurs, the server will send a reply. It is
        # expected that the client will then disconnect.
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"Hello, server!")
        self.tcpserver.send_bytes(b"Hello, client!")
        self.tcpserver.expect_disconnect()

        # ======================================================================
        # Client interacts with server.
        #
        # It connects, sends the expected message and then receives the reply.
        # Finally, it disconnects from the server.
        port = self.tcpserver.service_port
        client = yield connect(self, port, Greeter(b"Hello, server!", 14))
        reply = yield client.reply
        self.assertEqual(reply, b"Hello, client!")
        yield client.close()

        # ======================================================================
        # Synchronise with server. Test failures, if any, will be reported here.
        # In this case, there are no failures.
        yield self.tcpserver.join()
