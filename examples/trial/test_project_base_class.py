"""A passing test on a project's own trial base class, with TCPServerMixin.

Put the mixin first: its setUp starts the servers, then calls the project's
setUp; the project's tearDown still runs. The servers are checked and closed
by a cleanup, which trial runs before tearDown.

Outcome: passed
"""

from clients import Greeter, connect
from twisted.internet.defer import inlineCallbacks
from twisted.trial import unittest

from pytest_tcpclient.trial import TCPServerMixin


class ProjectTestCase(unittest.TestCase):
    """The project's base class: a test fails if anything logged an error."""

    def setUp(self):
        super().setUp()
        self.greeting = b"Hello, server!"

    def tearDown(self):
        self.assertEqual(self.flushLoggedErrors(), [])
        super().tearDown()


class ProjectBaseClassTests(TCPServerMixin, ProjectTestCase):
    tcpserver_timeout = 2  # seconds each step may take, unless it says otherwise

    @inlineCallbacks
    def test_project_base_class(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(self.greeting)
        self.tcpserver.send_bytes(b"Hello, client!")
        self.tcpserver.expect_disconnect()

        client = yield connect(
            self, self.tcpserver.service_port, Greeter(self.greeting, 14)
        )
        self.assertEqual((yield client.reply), b"Hello, client!")
        yield client.close()

        yield self.tcpserver.join()
