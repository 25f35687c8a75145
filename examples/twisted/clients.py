"""The Twisted clients the examples drive: small Protocols, as a real client has.

Every wait is a Deferred, so a test yields or awaits it and never sleeps.

- ``Client`` speaks raw bytes: ``transport.write()`` sends, ``read(n)`` fires
  with the next ``n`` bytes from the server.
- ``FrameClient`` speaks Twisted's ``Int32StringReceiver`` framing (a 4-byte
  big-endian length, then the payload), the wire format of the server's
  ``expect_frame()`` and ``send_frame()``: ``sendString()`` sends a frame,
  ``frames.get()`` fires with the payload of the next one received.

On both, ``closed`` fires once the connection has ended and ``close()`` ends it.
``connect()`` connects one to a local port, as the seed examples spell out;
``greet()`` is the opening most examples share.
"""

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.protocols.basic import Int32StringReceiver


def connect(port, protocol=None):
    """A Deferred of ``protocol`` (a new ``Client`` if None), connected to
    127.0.0.1:``port``."""
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    return connectProtocol(endpoint, protocol or Client())


async def greet(port):
    """Connect, send b"Hello, server!", read the 14-byte reply; return the client."""
    client = await connect(port)
    client.transport.write(b"Hello, server!")
    assert await client.read(14) == b"Hello, client!"
    return client


class Closing:
    """Mixin: ``closed`` fires once the connection has ended."""

    def __init__(self):
        self.closed = Deferred()

    def connectionLost(self, reason):
        self.closed.callback(None)

    def close(self):
        """Close the connection; the Deferred fires once it is closed."""
        self.transport.loseConnection()
        return self.closed


class Client(Closing, Protocol):
    """A raw bytes client."""

    def __init__(self):
        super().__init__()
        self._buffer = b""
        self._reads = []  # (size, Deferred), oldest first

    def read(self, size):
        """A Deferred that fires with the next ``size`` bytes the server sends."""
        deferred = Deferred()
        self._reads.append((size, deferred))
        self._deliver()
        return deferred

    def dataReceived(self, data):
        self._buffer += data
        self._deliver()

    def _deliver(self):
        while self._reads and len(self._buffer) >= self._reads[0][0]:
            size, deferred = self._reads.pop(0)
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            deferred.callback(data)

    def connectionLost(self, reason):
        reads, self._reads = self._reads, []
        for _, deferred in reads:
            deferred.errback(reason)
        super().connectionLost(reason)


class FrameClient(Closing, Int32StringReceiver):
    """A client that sends and receives length-prefixed frames."""

    def __init__(self):
        super().__init__()
        self.frames = DeferredQueue()

    def stringReceived(self, string):
        self.frames.put(string)
