"""What the blocking examples share: a connection, and reading exactly so many
bytes, or one frame, from a socket.

A blocking client in a test should have a timeout of its own, as it would in
production. Even one without a timeout never waits forever here: the scripted
server hangs up on a client that strays, so the client sees the end of the
stream.
"""

import socket
import struct

TIMEOUT = 5.0


def connect(port):
    """A blocking socket connected to 127.0.0.1:``port``."""
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


def recv_exactly(sock, size):
    """The next ``size`` bytes from ``sock``; fewer if the stream ends first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_frame(sock):
    """The payload of the next frame (a 4-byte big-endian length, then the
    payload) from ``sock``; None if the stream ends first."""
    header = recv_exactly(sock, 4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    payload = recv_exactly(sock, size)
    return payload if len(payload) == size else None
