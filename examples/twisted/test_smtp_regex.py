"""A passing test: Twisted's own SMTP client sends a mail; the script matches
the sender with a pattern, echoes it back in a computed reply, and a rule
answers the RSET the client sends whenever it likes.

Outcome: passed
"""

import re

import pytest_twisted
from twisted.internet import reactor
from twisted.mail.smtp import sendmail


@pytest_twisted.ensureDeferred
async def test_smtp_regex(tcpserver):
    # Twisted's client resets the session before it quits: a rule answers it.
    tcpserver.on_line(b"RSET", b"250 OK")

    tcpserver.expect_connect()
    tcpserver.send_line(b"220 mail.example.com ESMTP")
    tcpserver.expect_line(b"EHLO client.example.com")
    tcpserver.send_line(b"250 mail.example.com")
    # Any sender at example.com; the reply names the one that came.
    tcpserver.expect_line(re.compile(rb"MAIL FROM:<(?P<sender>[\w.]+@example\.com)>"))
    tcpserver.send_line(lambda mail: b"250 sender " + mail["sender"] + b" OK")
    tcpserver.expect_line(b"RCPT TO:<bob@example.com>")
    tcpserver.send_line(b"250 OK")
    tcpserver.expect_line(b"DATA")
    tcpserver.send_line(b"354 go ahead")
    for line in (b"Subject: Hi", b"", b"Hello, Bob!", b"."):
        tcpserver.expect_line(line)
    tcpserver.send_line(b"250 queued")
    tcpserver.expect_line(b"QUIT")
    tcpserver.send_line(b"221 bye")
    tcpserver.expect_disconnect()

    sent, [(recipient, code, _)] = await sendmail(
        "127.0.0.1",
        "alice@example.com",
        ["bob@example.com"],
        b"Subject: Hi\n\nHello, Bob!\n",
        senderDomainName="client.example.com",
        port=tcpserver.service_port,
        reactor=reactor,
    )

    await tcpserver.join()
    assert (sent, recipient, code) == (1, b"bob@example.com", 250)
