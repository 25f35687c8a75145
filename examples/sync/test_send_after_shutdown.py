"""A failing test: the script half-closes the connection, then tries to send.
After ``shutdown_write()`` the server can still read, not write.

Outcome: failed
Failure: Cannot send after shutdown_write(): the server half-closed
"""

from clients import connect, recv_exactly


def test_send_after_shutdown(tcpserver):
    tcpserver.expect_connect()
    tcpserver.send_line(b"bye")
    tcpserver.shutdown_write()
    tcpserver.send_line(b"one more thing")

    with connect(tcpserver.service_port) as client:
        assert recv_exactly(client, 5) == b"bye\r\n"
        tcpserver.join()
