"""A passing test: redis-py, with its default arguments, against a scripted
server. The server reads Redis commands with a framing of the test's own (a
RESP parser); rules answer the handshake redis-py sends first, whatever its
version sends; the script checks the commands the test is about.

Outcome: passed
"""

import re

import redis


class Resp:
    """Redis commands: an array of bulk strings. A payload is the command's words
    joined by spaces; a reply is sent as it is (its RESP type is the test's)."""

    def encode(self, payload):
        return payload

    def decode(self, data):
        if not data.startswith(b"*") or b"\r\n" not in data:
            return None
        header, _, rest = data.partition(b"\r\n")
        used, words = len(header) + 2, []
        for _ in range(int(header[1:])):
            size_line, found, rest = rest.partition(b"\r\n")
            size = int(size_line[1:]) if found else 0
            if not found or len(rest) < size + 2:
                return None
            words.append(rest[:size])
            rest = rest[size + 2 :]
            used += len(size_line) + 2 + size + 2
        return b" ".join(words), used


def test_redis_handshake(tcpserver):
    tcpserver.framing = Resp()
    # HELLO 3 wants a RESP3 map naming the protocol; CLIENT ... wants +OK.
    tcpserver.on_frame(re.compile(rb"HELLO \d"), b"%1\r\n+proto\r\n:3\r\n")
    tcpserver.on_frame(re.compile(rb"CLIENT .*"), b"+OK\r\n")

    tcpserver.expect_connect()
    tcpserver.expect_frame(b"SET greeting hello")
    tcpserver.send_bytes(b"+OK\r\n")
    tcpserver.expect_frame(b"GET greeting")
    tcpserver.send_bytes(b"$5\r\nhello\r\n")
    tcpserver.expect_disconnect()

    client = redis.Redis(host="127.0.0.1", port=tcpserver.service_port)
    assert client.set("greeting", "hello")
    value = client.get("greeting")
    client.close()

    tcpserver.join()
    assert value == b"hello"
