"""An error at teardown: the test never calls join(), so teardown finds the failure.

Teardown finishes every script a test declared and reports a failure as an
error of the test's teardown, with the same diagnostic join() gives.

Outcome: error
Failure: Expected b'PING' but received b'PONG' (first difference at offset 1)
"""

import pytest_twisted
from clients import connect


@pytest_twisted.ensureDeferred
async def test_teardown_without_join(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"PING")
    tcpserver.send_bytes(b"PONG")
    tcpserver.disconnect()

    # The client sends the wrong request, then waits for the server to hang up.
    client = await connect(tcpserver.service_port)
    client.transport.write(b"PONG")
    await client.closed

    # No join(): the test body passes, and teardown reports the failure.
