"""A passing test written with the standard library's unittest: no fixture,
a ``scripted_server()`` block instead.

Leaving the block verifies the script; a client that strays raises
``pytest_tcpclient.ScriptFailure``, an AssertionError, which unittest counts
as a failure. It runs under ``python -m unittest`` as under pytest.

Outcome: passed
"""

import socket
import unittest

from pytest_tcpclient import scripted_server


class HelloTests(unittest.TestCase):
    def test_hello(self):
        with scripted_server() as server:
            server.expect_connect()
            server.expect_bytes(b"Hello, server!")
            server.send_bytes(b"Hello, client!")
            server.expect_disconnect()

            with socket.create_connection(("127.0.0.1", server.service_port)) as client:
                client.sendall(b"Hello, server!")
                reply = client.recv(14)

            server.join()
        self.assertEqual(reply, b"Hello, client!")


if __name__ == "__main__":
    unittest.main()
