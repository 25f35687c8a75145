"""A failing test: the sender is not at the domain the pattern allows.

Outcome: failed
Failure: Expected a line matching re.compile(b'MAIL FROM:<[\\\\w.]+@example\\\\.com>') but received b'MAIL FROM:<mallory@evil.test>'
"""  # noqa: E501 (the diagnostic is one line)

import re

import pytest_twisted
from twisted.internet import reactor
from twisted.mail.smtp import SMTPDeliveryError, sendmail


@pytest_twisted.ensureDeferred
async def test_smtp_wrong_sender(tcpserver):
    tcpserver.expect_connect()
    tcpserver.send_line(b"220 mail.example.com ESMTP")
    tcpserver.expect_line(b"EHLO client.example.com")
    tcpserver.send_line(b"250 mail.example.com")
    tcpserver.expect_line(re.compile(rb"MAIL FROM:<[\w.]+@example\.com>"))

    sending = sendmail(
        "127.0.0.1",
        "mallory@evil.test",
        ["bob@example.com"],
        b"Subject: Hi\n\nHello!\n",
        senderDomainName="client.example.com",
        port=tcpserver.service_port,
        reactor=reactor,
    )
    sending.addErrback(lambda failure: failure.trap(SMTPDeliveryError))  # hung up on

    await tcpserver.join()
