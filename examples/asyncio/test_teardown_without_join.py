"""An error at teardown: the test never awaits join(), so teardown finds the failure.

Teardown finishes every script a test declared and reports a failure as an
error of the test's teardown, with the same diagnostic join() gives.

Outcome: error
Failure: Expected b'PING' but received b'PONG' (first difference at offset 1)
"""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_teardown_without_join(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"PING")
    tcpserver.send_bytes(b"PONG")
    tcpserver.disconnect()

    # The client sends the wrong request, then waits for the server to hang up:
    # on a failure the server closes the connection at once.
    reader, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(b"PONG")
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()

    # No join(): the test body passes, and teardown reports the failure.
