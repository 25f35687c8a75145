"""A passing test with two servers from tcpserver_factory, each on its own port.

The client asks a primary and a replica for the same key; both must answer.
tcpserver_factory.stop() verifies and closes every server it made; the check
after the test does the same if the test does not.

Outcome: passed
"""

from clients import Greeter, connect

from pytest_tcpclient.trial import TCPServerTestCase


class TwoServersTests(TCPServerTestCase):
    async def get(self, port, key):
        """The client under test: one request, one 5-byte answer, then hang up."""
        client = await connect(self, port, Greeter(b"GET " + key + b"\n", 5))
        value = await client.reply
        await client.close()
        return value

    async def test_two_servers(self):
        primary = self.tcpserver_factory()
        replica = self.tcpserver_factory()
        for server in (primary, replica):
            server.expect_connect()
            server.expect_bytes(b"GET colour\n")
            server.send_bytes(b"green")
            server.expect_disconnect()

        self.assertEqual(await self.get(primary.service_port, b"colour"), b"green")
        self.assertEqual(await self.get(replica.service_port, b"colour"), b"green")

        await self.tcpserver_factory.stop()
