"""A passing test: the client sends one frame (expect_frame).

A frame is a 4-byte big-endian length followed by the payload: the format of
Twisted's Int32StringReceiver, which the client here is built on. The test
method returns a Deferred.

Outcome: passed
"""

from clients import FrameClient, connect

from pytest_tcpclient.trial import TCPServerTestCase


class ExpectFrameSuccessTests(TCPServerTestCase):
    def test_expect_frame_success(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_frame(b"Goodbye, world")

        def send(client):
            # sendString() writes the 4-byte length header, then the payload.
            client.sendString(b"Goodbye, world")
            # Done
            return client.close()

        connected = connect(self, self.tcpserver.service_port, FrameClient())
        connected.addCallback(send)
        connected.addCallback(lambda _: self.tcpserver.join())
        return connected
