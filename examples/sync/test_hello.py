"""A passing test: a blocking socket client greets the server, reads the reply
and hangs up.

The server runs on a reactor thread, so it answers while the client blocks in
``recv()``; ``join()`` blocks until every step is done.

Outcome: passed
"""

import socket


def test_hello(tcpserver):
    # What the client must do, and what the server answers.
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    # The client under test: a plain blocking socket.
    with socket.create_connection(("127.0.0.1", tcpserver.service_port)) as client:
        client.sendall(b"Hello, server!")
        reply = client.recv(14)

    # Wait for the script before checking what the client got: if the client
    # strayed, the test fails here, with the server's diagnostic.
    tcpserver.join()
    assert reply == b"Hello, client!"
