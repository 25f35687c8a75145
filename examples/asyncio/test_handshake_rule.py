"""A passing test: the client opens with a handshake whose order and content the
test does not care about, and sends heartbeats whenever it likes; rules answer
them, the script checks the command the test is about.

Outcome: passed
"""

import asyncio
import re

import pytest


@pytest.mark.asyncio
async def test_handshake_rule(tcpserver):
    tcpserver.on_line(re.compile(rb"HELLO \d+"), b"+OK hello")
    tcpserver.on_line(re.compile(rb"SETINFO \S+ .*"), b"+OK")
    heartbeats = tcpserver.on_line(b"PING")  # swallowed: no reply

    tcpserver.expect_connect()
    tcpserver.expect_line(b"GET greeting")
    tcpserver.send_line(b"Hello, client!")
    tcpserver.expect_disconnect()

    reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
    writer.write(b"SETINFO LIB-NAME example\r\nHELLO 3\r\nPING\r\nGET greeting\r\nPING\r\n")
    assert await reader.readline() == b"+OK\r\n"
    assert await reader.readline() == b"+OK hello\r\n"
    assert await reader.readline() == b"Hello, client!\r\n"
    writer.close()
    await writer.wait_closed()

    await tcpserver.join()
    assert heartbeats.count == 2
