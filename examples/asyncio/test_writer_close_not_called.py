"""A failing test: the client never calls writer.close().

For a connection made with asyncio.open_connection() to the server's port,
expect_disconnect() also checks how the client closed its streams: with
writer.close(), then await writer.wait_closed(). This client drops its streams
after the greeting, and the garbage collector closes the connection for it
(with a ResourceWarning). The server does see an orderly close, so only that
check finds the mistake. Before Python 3.11 a StreamWriter has no finalizer:
nothing closes the connection, and the script times out waiting for the close.

Outcome: failed
Failure: Expected the client to close the connection cleanly, but it did not call writer.close() (the writer was garbage-collected)
Failure before Python 3.11: Timed out waiting for the client to close the connection
"""  # noqa: E501 (the diagnostic is one line)

import pytest
from clients import greet


@pytest.mark.asyncio
async def test_writer_close_not_called(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    # The client greets the server (see clients.greet) and forgets the reader
    # and the writer it gets back, without closing them.
    await greet(tcpserver.service_port)

    await tcpserver.join()
