"""A failing test: after a reset, the client comes back after 0.1 s; the
server wanted it to wait at least 0.4 s.

Outcome: failed
Failure: Expected silence for 0.4 s, but the client connected again after 0.1 s
"""

import pytest_twisted
from twisted.application.internet import ClientService
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol


@pytest_twisted.ensureDeferred
async def test_reconnect_too_soon(tcpserver):
    tcpserver.expect_connect()
    tcpserver.reset()
    tcpserver.expect_silence(0.4)
    tcpserver.expect_connect()

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    factory = Factory.forProtocol(Protocol)
    service = ClientService(endpoint, factory, retryPolicy=lambda attempt: 0.1)
    service.startService()
    try:
        await tcpserver.join()
    finally:
        await service.stopService()
