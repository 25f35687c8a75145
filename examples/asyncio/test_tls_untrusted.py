"""A failing test: an asyncio client that does not trust the server's CA.

asyncio closes the connection without sending a TLS alert, so the server
cannot know why: the diagnostic says what it saw, and what it may mean.

Outcome: failed
Failure: TLS handshake failed: the client closed the connection during the handshake (it may have rejected the server's certificate)
"""  # noqa: E501 (the diagnostic is one line)

import asyncio
import ssl

import pytest


@pytest.mark.asyncio
async def test_tls_untrusted(tcpserver_factory):
    server = await tcpserver_factory(tls=True)
    server.expect_connect()
    server.expect_line(b"PING")

    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(
            "127.0.0.1",
            server.service_port,
            ssl=ssl.create_default_context(),  # not tcpclient_ssl_context
            server_hostname="localhost",
        )

    await server.join()
