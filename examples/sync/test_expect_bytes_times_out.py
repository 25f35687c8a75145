"""A failing test: the client sends only part of the expected message.

The step times out after the default second, the server hangs up, and
``join()`` fails the test with what arrived.

Outcome: failed
Failure: Timed out waiting for b'Hello, server!'
"""

from clients import connect


def test_expect_bytes_times_out(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.expect_disconnect()

    with connect(tcpserver.service_port) as client:
        client.sendall(b"Hello")  # and then nothing
        tcpserver.join()
