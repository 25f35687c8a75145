"""A passing test: an asyncio client speaks TLS to a server that speaks it
from the first byte.

``server_hostname="localhost"``: the certificate is valid for ``localhost``,
``127.0.0.1`` and ``::1``; the client checks the name it is given.

Outcome: passed
"""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_tls(tcpserver_factory, tcpclient_ssl_context):
    server = await tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"PING")
    server.send_line(b"PONG")
    server.expect_disconnect()

    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        server.service_port,
        ssl=tcpclient_ssl_context,
        server_hostname="localhost",
    )
    writer.write(b"PING\r\n")
    assert await reader.readline() == b"PONG\r\n"
    writer.close()
    await writer.wait_closed()

    await server.join()
