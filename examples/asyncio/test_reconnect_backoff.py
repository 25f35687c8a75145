"""A passing test: an asyncio client that reconnects with back-off when its
connection is reset; the server checks it waits before it comes back.

Outcome: passed
"""

import asyncio
import contextlib

import pytest


async def fetch_with_retries(port, backoff=0.3):
    """The client under test: GET, and on a reset, wait and try again."""
    while True:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET\r\n")
            reply = await reader.readline()
            if reply:
                return reply
        except ConnectionResetError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionResetError):
                await writer.wait_closed()
        await asyncio.sleep(backoff)


@pytest.mark.asyncio
async def test_reconnect_backoff(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"GET")
    tcpserver.reset()
    tcpserver.expect_silence(0.2)
    tcpserver.expect_connect()
    tcpserver.expect_line(b"GET")
    tcpserver.send_line(b"VALUE")
    tcpserver.expect_disconnect()

    reply = await fetch_with_retries(tcpserver.service_port)

    await tcpserver.join()
    assert reply == b"VALUE\r\n"
