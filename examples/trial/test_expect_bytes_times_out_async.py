"""test_expect_bytes_times_out as a coroutine: it fails the same way, at its ``await``.

Outcome: failed
Failure: Timed out waiting for b'Hello, world!'
"""

from clients import Connection, connect

from pytest_tcpclient.trial import TCPServerTestCase


class ExpectBytesTimesOutAsyncTests(TCPServerTestCase):
    async def test_expect_bytes_times_out_async(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"Hello, world!")
        self.tcpserver.expect_disconnect()

        # The client connects, then sends nothing.
        await connect(self, self.tcpserver.service_port, Connection())

        await self.tcpserver.join()
