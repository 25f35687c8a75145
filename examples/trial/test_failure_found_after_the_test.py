"""A failing test that never calls join(): the check after the test finds the failure.

After each test a cleanup finishes every script the test declared, then closes
the servers. What it finds fails the test, counted by trial under
``failures`` (not ``errors``), with the same diagnostic join() gives.

Outcome: failed
Failure: Expected b'PING' but received b'PONG' (first difference at offset 1)
"""

from clients import Connection, connect

from pytest_tcpclient.trial import TCPServerTestCase


class FailureFoundAfterTheTestTests(TCPServerTestCase):
    async def test_failure_found_after_the_test(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"PING")
        self.tcpserver.send_bytes(b"PONG")
        self.tcpserver.disconnect()

        # The client sends the wrong request, then waits for the server to hang up.
        client = await connect(self, self.tcpserver.service_port, Connection())
        client.transport.write(b"PONG")
        await client.whenClosed()

        # No join(): the test body passes, and the check after it fails the test.
