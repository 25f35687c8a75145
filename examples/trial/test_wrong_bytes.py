"""A failing test: the client sends other bytes than the script expects.

The server fails at once, without waiting for the step's timeout, and says
where the bytes first differ. The test method returns a Deferred.

Outcome: failed
Failure: Expected b'GET /status' but received b'PUT /status' (first difference at offset 0)
"""

from clients import Connection, connect

from pytest_tcpclient.trial import TCPServerTestCase


class WrongBytesTests(TCPServerTestCase):
    def test_wrong_bytes(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"GET /status")

        def request(client):
            client.transport.write(b"PUT /status")

        connected = connect(self, self.tcpserver.service_port, Connection())
        connected.addCallback(request)
        connected.addCallback(lambda _: self.tcpserver.join())
        return connected
