"""A failing test: the client sends other bytes than the server expects.

The server fails the step as soon as the bytes cannot match and hangs up, so
the client's ``recv()`` returns at once with b"" rather than waiting for a
reply that will not come. ``join()`` then fails the test with the diagnostic.

Outcome: failed
Failure: Expected b'Hello, server!' but received b'Hello, Server!' (first difference at offset 7)
"""  # noqa: E501 (the diagnostic is one line)

import socket


def test_wrong_bytes(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    # No timeout on this client: the server's hang-up is what ends its wait.
    with socket.create_connection(("127.0.0.1", tcpserver.service_port)) as client:
        client.sendall(b"Hello, Server!")
        reply = client.recv(14)

    tcpserver.join()
    assert reply == b"Hello, client!"
