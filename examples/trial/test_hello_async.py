"""test_hello as a coroutine: the same exchange, awaited instead of yielded.

trial runs an ``async def`` test method as a coroutine on its reactor.

Outcome: passed
"""

from clients import Greeter, connect

from pytest_tcpclient.trial import TCPServerTestCase


class HelloAsyncTests(TCPServerTestCase):
    async def test_hello_async(self):
        # The client connects, sends a greeting, receives the reply and hangs up.
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"Hello, server!")
        self.tcpserver.send_bytes(b"Hello, client!")
        self.tcpserver.expect_disconnect()

        port = self.tcpserver.service_port
        client = await connect(self, port, Greeter(b"Hello, server!", 14))
        self.assertEqual(await client.reply, b"Hello, client!")
        await client.close()

        # Failures, if any, are reported here.
        await self.tcpserver.join()
