"""A passing test: Twisted's ClientService keeps a connection up; the server
resets it, and the service backs off before it reconnects. The server checks
that it waits: ``expect_silence()`` fails if a new connection comes too soon.

Outcome: passed
"""

import pytest_twisted
from twisted.application.internet import ClientService
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol


class Greeter(Protocol):
    def connectionMade(self):
        self.transport.write(b"HELLO\r\n")
        self.factory.connections.append(self)


@pytest_twisted.ensureDeferred
async def test_backoff_reconnect(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_line(b"HELLO")
    tcpserver.reset()  # the client sees a connection reset...
    tcpserver.expect_silence(0.3)  # ...and must not come back at once
    tcpserver.expect_connect()
    tcpserver.expect_line(b"HELLO")
    tcpserver.send_line(b"WELCOME BACK")

    factory = Factory.forProtocol(Greeter)
    factory.connections = []
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    service = ClientService(endpoint, factory, retryPolicy=lambda attempt: 0.5)
    service.startService()
    try:
        await tcpserver.join()
    finally:
        stopped = service.stopService()
        await stopped if isinstance(stopped, Deferred) else None
    assert len(factory.connections) == 2
