"""A passing test: the server sends a frame (send_frame) and the client receives it.

There is no join() here: after the test, a cleanup finishes the script, and
the client has closed the connection, as the script's implicit
expect_disconnect() wants.

Outcome: passed
"""

from clients import FrameClient, connect

from pytest_tcpclient.trial import TCPServerTestCase


class SendFrameSuccessTests(TCPServerTestCase):
    async def test_send_frame_success(self):
        self.tcpserver.expect_connect()

        client = await connect(self, self.tcpserver.service_port, FrameClient())

        # The server immediately sends a frame
        self.tcpserver.send_frame(b"Hello")

        # The client receives the frame: Int32StringReceiver reads the header,
        # then the payload, and hands over the payload.
        self.assertEqual(await client.frames.get(), b"Hello")

        await client.close()
