"""A passing test: the server sends a frame one byte per write (each its own
TCP segment), and the client still reads the whole frame.

Outcome: passed
"""

from clients import connect

from pytest_tcpclient.framing import FrameDecoder


def test_frame_byte_by_byte(tcpserver):
    tcpserver.expect_connect()
    tcpserver.send_frame(b"Hello, client!", chunk=1)  # 18 segments of 1 byte
    tcpserver.expect_disconnect()

    decoder, frames = FrameDecoder(), []
    with connect(tcpserver.service_port) as client:
        while not frames:
            data = client.recv(100)
            assert data, "the stream ended before the frame"
            frames = decoder.feed(data)

    tcpserver.join()
    assert frames == [b"Hello, client!"]
