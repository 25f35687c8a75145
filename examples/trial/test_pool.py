"""A passing test: two connections open at once, each with its own steps,
in a trial test.

Outcome: passed
"""

from clients import Connection, connect

from pytest_tcpclient.trial import TCPServerTestCase


class PoolTests(TCPServerTestCase):
    async def test_pool(self):
        first = self.tcpserver.expect_connect()
        second = self.tcpserver.expect_connect()  # the first is open: both at once
        first.expect_bytes(b"one")
        second.expect_bytes(b"two")
        second.disconnect()  # the second one is done first
        first.disconnect()

        a = await connect(self, self.tcpserver.service_port, Connection())
        b = await connect(self, self.tcpserver.service_port, Connection())
        b.transport.write(b"two")
        a.transport.write(b"one")

        await self.tcpserver.join()
        await a.whenClosed()
        await b.whenClosed()
