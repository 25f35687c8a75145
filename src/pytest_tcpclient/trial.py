"""The trial face of the scripted server: a TestCase and a mixin.

For tests written with ``twisted.trial.unittest.TestCase`` and run by
``trial`` or by pytest. It is a thin layer over :mod:`pytest_tcpclient.core`:

- :class:`TCPServerMixin` gives each test ``self.tcpserver``, a listening
  :class:`TrialServer`, and ``self.tcpserver_factory()`` for more of them, on
  the reactor trial runs;
- ``join()`` fails with the test case's ``failureException``, so a script
  failure is a test failure, with the core's diagnostic as its message;
- after each test a cleanup verifies every server as the pytest fixture's
  teardown does, then closes them all, pass or fail, so trial's reactor is
  left clean. What it finds is reported as a failure of the test too.

:class:`TCPServerTestCase` is the mixin on trial's own ``TestCase``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTCP
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.trial.itrial import IReporter
from zope.interface import implementer

from .core import (
    DEFAULT_TIMEOUT,
    ScriptedServer,
    ServerFactory,
    ServerGroup,
)
from .core.certificates import CertificateAuthority, default_ca
from .core.server import failing_with, server_options

if TYPE_CHECKING:
    # What the mixin is mixed into, as the type checker sees it.
    _TestCaseBase = unittest.SynchronousTestCase
else:
    _TestCaseBase = object

__all__ = ["TCPServerMixin", "TCPServerTestCase", "TrialServer"]


class TrialServer(ScriptedServer):
    """A :class:`~pytest_tcpclient.core.ScriptedServer` whose :meth:`join`
    fails with ``failure_exception`` (a test case's ``failureException``).

    :param failure_exception: makes the exception of a script failure from
        its diagnostic.
    """

    def __init__(
        self,
        reactor: IReactorTCP,
        *,
        failure_exception: Callable[[str], BaseException] = unittest.FailTest,
        **kwargs: Any,
    ) -> None:
        super().__init__(reactor, **kwargs)
        self._failure_exception = failure_exception

    def _deliver(self, done: Deferred[None]) -> Deferred[None]:
        """``join()`` fails with ``failure_exception(diagnostic)``."""
        done.addErrback(failing_with, self._failure_exception)
        return super()._deliver(done)


@implementer(IReporter)
class _Reporter:
    """The result a :class:`TCPServerMixin` test reports to: ``reporter``, but
    the script failures that the check after the test raises, which trial
    reports as errors like any error of a cleanup, are reported as failures.

    It also notes whether the test has already gone wrong (failed, erred or
    was skipped), so that the check does not wait for a script that the test
    will not finish.
    """

    def __init__(self, reporter: IReporter | unittest.PyUnitResultAdapter) -> None:
        self._reporter = reporter
        self.went_wrong = False
        self.script_failures: list[BaseException] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reporter, name)

    def _report(self, method: str, test: object, *args: Any) -> None:
        self.went_wrong = True
        getattr(self._reporter, method)(test, *args)

    def addError(
        self,
        test: object,
        error: Failure | tuple[type[BaseException], BaseException, TracebackType],
    ) -> None:
        exception = error.value if isinstance(error, Failure) else error[1]
        ours = any(exception is failure for failure in self.script_failures)
        self._report("addFailure" if ours else "addError", test, error)

    def addFailure(self, test: object, *args: Any) -> None:
        self._report("addFailure", test, *args)

    def addSkip(self, test: object, *args: Any) -> None:
        self._report("addSkip", test, *args)

    def addExpectedFailure(self, test: object, *args: Any) -> None:
        self._report("addExpectedFailure", test, *args)

    def addUnexpectedSuccess(self, test: object, *args: Any) -> None:
        self._report("addUnexpectedSuccess", test, *args)


class TCPServerMixin(_TestCaseBase):
    """Scripted servers for a trial test case; put it before the case's base class.

    ``setUp`` makes ``self.tcpserver``, a :class:`TrialServer` already
    listening, and ``self.tcpserver_factory``, a
    :class:`~pytest_tcpclient.core.ServerFactory` for more, then calls the
    next ``setUp`` in line; ``tearDown`` is left alone.
    A cleanup, added before anything the rest of ``setUp`` or the test adds,
    so it runs after their cleanups, verifies every server and closes it.

    Class attributes: ``tcpserver_timeout``, the default timeout of every
    step in seconds; ``tcpserver_host``, the IP address servers listen on;
    ``tcpserver_tls`` and ``tcpserver_client_certificate``, the TLS of
    ``self.tcpserver`` (``self.tcpserver_factory(tls=True)`` makes more).
    With TLS, ``self.tcpserver_ca`` is the certificate authority clients trust.
    """

    tcpserver_timeout: float = DEFAULT_TIMEOUT
    tcpserver_host: str = "127.0.0.1"
    tcpserver_tls: bool = False
    tcpserver_client_certificate: bool = False

    tcpserver: TrialServer
    tcpserver_factory: ServerFactory
    _tcpserver_reporter: _Reporter

    # Trial's run() takes the result it reports to: no default, as in pyunit.
    def run(self, result: Any) -> None:  # type: ignore[override]
        """Run the test, reporting its script failures as failures."""
        reporter = IReporter(result, None) or unittest.PyUnitResultAdapter(result)
        self._tcpserver_reporter = _Reporter(reporter)
        try:
            super().run(self._tcpserver_reporter)  # type: ignore[no-untyped-call]
        finally:
            del self._tcpserver_reporter

    def setUp(self) -> Any:
        """Start ``self.tcpserver``, then run the next ``setUp`` in line."""
        from twisted.internet import reactor  # the one trial installed

        group = ServerGroup(
            reactor,
            timeout=self.tcpserver_timeout,
            host=self.tcpserver_host,
            server_class=functools.partial(
                TrialServer, failure_exception=self.failureException
            ),
        )
        self.addCleanup(self._tcpserver_stop, group)
        self.tcpserver_factory = ServerFactory(
            group,
            lambda stopped: stopped.addErrback(failing_with, self.failureException),
        )
        options = server_options(
            type(self).__name__,
            tls=self.tcpserver_tls,
            client_certificate=self.tcpserver_client_certificate,
            host=self.tcpserver_host,
            argument="{what}.tcpserver_{name}",
            tls_hint="tcpserver_tls = True",
        )
        self.tcpserver = cast(TrialServer, group.new(**options))  # its server_class
        return super().setUp()

    @property
    def tcpserver_ca(self) -> CertificateAuthority:
        """The certificate authority of the servers' TLS: trust it in clients
        (``ssl_context()``, ``cert_path``, ``trust_root``...)."""
        return default_ca()

    def _tcpserver_stop(self, group: ServerGroup) -> Deferred[None]:
        """Verify every server as the pytest fixture's teardown does; close them."""
        reporter = self._tcpserver_reporter

        def failed(failure: Failure) -> Failure:
            converted = failing_with(failure, self.failureException)
            assert converted.value is not None  # a Failure holds its exception
            reporter.script_failures.append(converted.value)
            return converted

        return group.stop(reporter.went_wrong).addErrback(failed)


class TCPServerTestCase(TCPServerMixin, unittest.TestCase):
    """A trial ``TestCase`` with ``self.tcpserver`` and ``self.tcpserver_factory``."""
