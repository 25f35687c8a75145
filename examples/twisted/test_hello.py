"""A passing test: the client greets the server, reads the reply and hangs up.

Outcome: passed
"""

import pytest_twisted
from clients import Client
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol


@pytest_twisted.inlineCallbacks
def test_hello(tcpserver):
    # ==========================================================================
    # Establish expectations and replies on the server side.
    #
    # In this case, the client is expected to connect and then send a specific
    # message. If that occurs, the server will send a reply. It is expected
    # that the client will then disconnect.
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"Hello, server!")
    tcpserver.send_bytes(b"Hello, client!")
    tcpserver.expect_disconnect()

    # ==========================================================================
    # Client interacts with server.
    #
    # It connects, sends the expected message and then receives the reply.
    # Finally, it disconnects from the server.
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    client = yield connectProtocol(endpoint, Client())
    client.transport.write(b"Hello, server!")
    assert (yield client.read(14)) == b"Hello, client!"
    yield client.close()

    # ==========================================================================
    # Synchronise with server. Test failures, if any, will be reported here. In
    # this case, there are no failures.
    yield tcpserver.join()
