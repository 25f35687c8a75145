"""A passing test: a socket client exchanges length-prefixed frames with the
server (a 4-byte big-endian length, then the payload).

Outcome: passed
"""

from clients import connect, read_frame

from pytest_tcpclient.framing import encode_frame


def test_frames(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_frame(b"Hello, server!")
    tcpserver.send_frame(b"Hello, client!")
    tcpserver.expect_frame(b"Goodbye")
    tcpserver.expect_disconnect()

    with connect(tcpserver.service_port) as client:
        client.sendall(encode_frame(b"Hello, server!"))
        reply = read_frame(client)
        client.sendall(encode_frame(b"Goodbye"))

    tcpserver.join()
    assert reply == b"Hello, client!"
