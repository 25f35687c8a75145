"""A failing test: a rule must answer three heartbeats by the end of the test,
and the client sends two. Teardown checks it, so the failure is an error at
teardown.

Outcome: error
Failure: Expected on_line(b'PING') to answer 3 times, but it answered 2 times
"""

from clients import connect, recv_exactly


def test_rule_times(tcpserver):
    tcpserver.on_line(b"PING", b"PONG", times=3)
    tcpserver.expect_connect()
    tcpserver.expect_disconnect()

    with connect(tcpserver.service_port) as client:
        for _ in range(2):
            client.sendall(b"PING\r\n")
            assert recv_exactly(client, 6) == b"PONG\r\n"

    tcpserver.join()
