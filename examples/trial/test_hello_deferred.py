"""test_hello with callbacks: the test method returns one Deferred, trial waits for it.

Outcome: passed
"""

from clients import Greeter, connect

from pytest_tcpclient.trial import TCPServerTestCase


class HelloDeferredTests(TCPServerTestCase):
    def test_hello_deferred(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"Hello, server!")
        self.tcpserver.send_bytes(b"Hello, client!")
        self.tcpserver.expect_disconnect()

        def talk(client):
            return client.reply.addCallback(check, client)

        def check(reply, client):
            self.assertEqual(reply, b"Hello, client!")
            return client.close()

        port = self.tcpserver.service_port
        connected = connect(self, port, Greeter(b"Hello, server!", 14))
        connected.addCallback(talk)
        # The test's outcome is the server's verdict, once the client is done.
        connected.addCallback(lambda _: self.tcpserver.join())
        return connected
