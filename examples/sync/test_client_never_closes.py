"""A failing test: the client keeps its connection open after the test.

The test body passes, but teardown finishes the script: a connection left
open must be closed by the client, and this one never is. The failure is
reported as an error at teardown.

Outcome: error
Failure: Timed out waiting for the client to close the connection
"""

from clients import connect, recv_exactly

POOL = []
"""A connection pool that outlives the test, as a careless client's might."""


def test_client_never_closes(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")

    client = connect(tcpserver.service_port)
    POOL.append(client)
    client.sendall(b"Hello, server!")
    assert recv_exactly(client, 14) == b"Hello, client!"

    tcpserver.join()
