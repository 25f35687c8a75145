"""The Twisted clients the trial examples drive: small Protocols, as a real client has.

``connect(test, port, protocol)`` connects ``protocol`` to 127.0.0.1:``port``
and makes the test close the connection when it ends, pass or fail: trial
fails a test that leaves a socket open. That cleanup runs before the one that
verifies the scripted servers, so a connection the test leaves open is
closed, as the script's implicit ``expect_disconnect()`` wants, before it is
checked.

- ``Connection`` says nothing: ``close()`` ends it, ``whenClosed()`` waits
  for the end;
- ``Greeter`` sends a greeting on connecting; ``reply`` fires with the
  server's answer;
- ``FrameClient`` speaks Twisted's ``Int32StringReceiver`` framing (a 4-byte
  big-endian length, then the payload), the wire format of the server's
  ``expect_frame()`` and ``send_frame()``: ``sendString()`` sends a frame,
  ``frames.get()`` fires with the payload of the next one received.
"""

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.protocols.basic import Int32StringReceiver


def connect(test, port, protocol):
    """A Deferred of ``protocol``, connected to 127.0.0.1:``port``; ``test``
    closes it at its end."""

    def connected(protocol):
        test.addCleanup(protocol.close)
        return protocol

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    return connectProtocol(endpoint, protocol).addCallback(connected)


class Connection(Protocol):
    """A client connection that a test can close and wait on."""

    def __init__(self):
        self._waiting = []  # Deferreds to fire at the end; None once it has ended

    def connectionLost(self, reason):
        waiting, self._waiting = self._waiting, None
        for deferred in waiting:
            deferred.callback(None)

    def whenClosed(self):
        """A Deferred that fires once the connection has ended."""
        if self._waiting is None:
            return succeed(None)
        deferred = Deferred()
        self._waiting.append(deferred)
        return deferred

    def close(self):
        """End the connection; the Deferred fires once it has ended."""
        if self._waiting is not None:
            self.transport.loseConnection()
        return self.whenClosed()


class Greeter(Connection):
    """Sends ``greeting`` once connected; ``reply`` fires with the first
    ``size`` bytes the server sends back, or fails if the connection ends first."""

    def __init__(self, greeting, size):
        super().__init__()
        self.greeting = greeting
        self.size = size
        self.reply = Deferred()
        self._received = b""

    def connectionMade(self):
        self.transport.write(self.greeting)

    def dataReceived(self, data):
        self._received += data
        if len(self._received) >= self.size and not self.reply.called:
            self.reply.callback(self._received[: self.size])

    def connectionLost(self, reason):
        if not self.reply.called:
            self.reply.errback(reason)
        super().connectionLost(reason)


class FrameClient(Connection, Int32StringReceiver):
    """A client that sends and receives length-prefixed frames."""

    def __init__(self):
        super().__init__()
        self.frames = DeferredQueue()
        self.stringReceived = self.frames.put  # called with each payload received
