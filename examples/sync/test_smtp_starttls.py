"""A passing test: smtplib upgrades its connection with STARTTLS, then says
EHLO again inside TLS; the script's start_tls() step is the server's side.

``tcpclient_ssl_context`` trusts the throwaway CA that issued the server's
certificate (valid for ``localhost``, ``127.0.0.1`` and ``::1``).

Outcome: passed
"""

import smtplib


def test_smtp_starttls(tcpserver, tcpclient_ssl_context):
    tcpserver.expect_connect()
    tcpserver.send_line(b"220 mail.example.com ESMTP")
    tcpserver.expect_line(b"ehlo client.example.com")
    tcpserver.send_line(b"250-mail.example.com\r\n250 STARTTLS")
    tcpserver.expect_line(b"STARTTLS")
    tcpserver.send_line(b"220 Ready to start TLS")
    tcpserver.start_tls()  # from here on, the steps see the plaintext inside TLS
    tcpserver.expect_line(b"ehlo client.example.com")
    tcpserver.send_line(b"250 mail.example.com")
    tcpserver.expect_line(b"QUIT")
    tcpserver.send_line(b"221 Bye")
    tcpserver.expect_disconnect()

    with smtplib.SMTP(
        "localhost", tcpserver.service_port, local_hostname="client.example.com"
    ) as smtp:
        smtp.starttls(context=tcpclient_ssl_context)
        smtp.ehlo()

    tcpserver.join()
