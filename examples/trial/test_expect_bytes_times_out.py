"""A failing test: the client connects but never sends the expected message.

The server times out waiting for the message and join() fails the test, at its
``yield`` line, with the test case's failureException: trial counts it under
``failures``.

Outcome: failed
Failure: Timed out waiting for b'Hello, world!'
"""

from clients import Connection, connect
from twisted.internet.defer import inlineCallbacks

from pytest_tcpclient.trial import TCPServerTestCase


class ExpectBytesTimesOutTests(TCPServerTestCase):
    @inlineCallbacks
    def test_expect_bytes_times_out(self):
        # ----------------------------------------------------------------------
        # Server expectations. The server just expects the client to connect,
        # send a message and then disconnect.
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"Hello, world!")
        self.tcpserver.expect_disconnect()

        # ----------------------------------------------------------------------
        # The client connects but it does not send the message and it does not
        # close the connection.
        yield connect(self, self.tcpserver.service_port, Connection())

        # ----------------------------------------------------------------------
        # The server will time out waiting for the expected message. The test
        # will fail with a diagnostic message.
        yield self.tcpserver.join()
