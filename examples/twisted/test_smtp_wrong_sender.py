"""A failing test: the sender is not at the domain the pattern allows.

Outcome: failed
Failure: Expected a line matching re.compile(b'MAIL FROM:<[\\\\w.]+@example\\\\.com>') but received b'MAIL FROM:<mallory@evil.test>'
"""  # noqa: E501 (the diagnostic is one line)

import re
from io import BytesIO

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.mail.smtp import ESMTPSenderFactory, SMTPConnectError, SMTPDeliveryError


@pytest_twisted.ensureDeferred
async def test_smtp_wrong_sender(tcpserver):
    tcpserver.expect_connect()
    tcpserver.send_line(b"220 mail.example.com ESMTP")
    tcpserver.expect_line(b"EHLO client.example.com")
    tcpserver.send_line(b"250 mail.example.com")
    tcpserver.expect_line(re.compile(rb"MAIL FROM:<[\w.]+@example\.com>"))

    sending = Deferred()
    sender = ESMTPSenderFactory(
        None,
        None,
        "mallory@evil.test",
        ["bob@example.com"],
        BytesIO(b"Subject: Hi\n\nHello!\n"),
        sending,
        retries=0,  # hung up on, it would try again
        requireAuthentication=False,
        requireTransportSecurity=False,
        heloFallback=True,
    )
    sender.domain = b"client.example.com"
    reactor.connectTCP("127.0.0.1", tcpserver.service_port, sender)
    # The server hangs up on it: the client gives up, at once.
    sending.addErrback(lambda failure: failure.trap(SMTPConnectError, SMTPDeliveryError))

    await tcpserver.join()
