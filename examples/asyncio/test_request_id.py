"""A passing test: the client tags each request with an id it picks; the
script matches any id with a pattern and echoes it back in a computed reply.

Outcome: passed
"""

import asyncio
import itertools
import re

import pytest

REQUEST = re.compile(rb"GET (?P<id>\d+) (?P<key>\w+)")


@pytest.mark.asyncio
async def test_request_id(tcpserver):
    tcpserver.expect_connect()
    for _ in range(2):
        tcpserver.expect_line(REQUEST)
        tcpserver.send_line(
            lambda request: b"VALUE " + request["id"] + b" " + request["key"]
        )
    tcpserver.expect_disconnect()

    ids = itertools.count(1000)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    replies = []
    for key in (b"apple", b"pear"):
        writer.write(b"GET %d %s\r\n" % (next(ids), key))
        replies.append(await reader.readline())
    writer.close()
    await writer.wait_closed()

    await tcpserver.join()
    assert replies == [b"VALUE 1000 apple\r\n", b"VALUE 1001 pear\r\n"]
    assert [r["key"] for r in tcpserver.received] == [b"apple", b"pear"]
