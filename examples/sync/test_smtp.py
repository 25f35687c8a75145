"""A passing test: the standard library's smtplib sends a mail through a
scripted SMTP server (EHLO, MAIL, RCPT, DATA, QUIT).

Outcome: passed
"""

import smtplib


def test_smtp(tcpserver):
    tcpserver.expect_connect()
    tcpserver.send_bytes(b"220 mail.example.com ESMTP\r\n")
    tcpserver.expect_bytes(b"ehlo client.example.com\r\n")
    tcpserver.send_bytes(b"250 mail.example.com\r\n")
    tcpserver.expect_bytes(b"mail FROM:<alice@example.com>\r\n")
    tcpserver.send_bytes(b"250 OK\r\n")
    tcpserver.expect_bytes(b"rcpt TO:<bob@example.com>\r\n")
    tcpserver.send_bytes(b"250 OK\r\n")
    tcpserver.expect_bytes(b"data\r\n")
    tcpserver.send_bytes(b"354 End data with <CR><LF>.<CR><LF>\r\n")
    tcpserver.expect_bytes(b"Subject: Hi\r\n\r\nHello, Bob!\r\n.\r\n")
    tcpserver.send_bytes(b"250 OK: queued\r\n")
    tcpserver.expect_bytes(b"QUIT\r\n")
    tcpserver.send_bytes(b"221 Bye\r\n")
    tcpserver.expect_disconnect()

    # local_hostname: the EHLO argument is the machine's name otherwise.
    with smtplib.SMTP(
        "127.0.0.1", tcpserver.service_port, local_hostname="client.example.com"
    ) as smtp:
        refused = smtp.sendmail(
            "alice@example.com", ["bob@example.com"], "Subject: Hi\n\nHello, Bob!\n"
        )

    tcpserver.join()
    assert refused == {}
