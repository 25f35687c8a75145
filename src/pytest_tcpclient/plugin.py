"""The pytest face of the scripted server: options, fixtures, failure reports.

Registered through the ``pytest11`` entry point ``tcpclient``. It is a thin
layer over :mod:`pytest_tcpclient.core`: it picks the reactor a test runs on,
turns a :class:`~pytest_tcpclient.core.ScriptFailure` into pytest's own
failure, and verifies and closes every server at teardown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from .core import ScriptedServer, ScriptFailure, ServerGroup

__all__ = ["PytestServer", "TwistedServerFactory"]

_CALL_REPORT = pytest.StashKey["pytest.TestReport"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tcpclient", "scripted TCP server (pytest-tcpclient)")
    group.addoption(
        "--tcpserver-timeout",
        dest="tcpserver_timeout",
        metavar="SECONDS",
        default=None,
        help="default timeout of every tcpserver step (overrides the ini option).",
    )
    parser.addini(
        "tcpserver_timeout",
        "default timeout, in seconds, of every tcpserver step (default: 1).",
        default="1",
    )


def pytest_configure(config: pytest.Config) -> None:
    _default_timeout(config)  # a bad value is a usage error before any test runs


def _default_timeout(config: pytest.Config) -> float:
    option = config.getoption("tcpserver_timeout")
    raw = option if option is not None else config.getini("tcpserver_timeout")
    name = "--tcpserver-timeout" if option is not None else "tcpserver_timeout"
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(
            f"{name} must be a number of seconds, not {raw!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise pytest.UsageError(f"{name} must be a finite number of seconds, 0 or more")
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    report = request.node.stash.get(_CALL_REPORT, None)
    return report is None or report.failed


# -- failures as pytest reports them -----------------------------------------


def as_pytest_failure(failure: Failure) -> Failure:
    """Errback: a script failure becomes pytest's ``Failed`` with its message.

    The new exception carries no traceback, so when a test yields or awaits
    the Deferred, the report points at the test's own line, not at Twisted's
    or this plugin's internals.
    """
    failure.trap(ScriptFailure)
    return Failure(pytest.fail.Exception(str(failure.value), pytrace=True))


class JoinDeferred(Deferred):  # type: ignore[type-arg]
    """The Deferred of ``join()``: awaited in a Twisted coroutine, a failure is
    raised at the test's ``await`` line with no plugin frame under it."""

    def __await__(self):  # type: ignore[override]
        __tracebackhide__ = True
        return (yield self)

    __iter__ = __await__  # type: ignore[assignment]


def reporting(
    deferred: Deferred[None], kind: type[Deferred] = JoinDeferred
) -> Deferred[None]:
    """A new Deferred of ``kind`` with ``deferred``'s outcome, reported as pytest does."""
    result = kind()
    deferred.addErrback(as_pytest_failure).chainDeferred(result)
    return result


class PytestServer(ScriptedServer):
    """A :class:`~pytest_tcpclient.core.ScriptedServer` whose :meth:`join`
    fails with pytest's ``Failed``, as ``pytest.fail()`` would."""

    def join(self) -> Deferred[None]:
        return reporting(super().join())


def _fail_teardown(failure: Failure) -> None:
    """Report a failure found at teardown as pytest's own failure."""
    __tracebackhide__ = True
    if failure.check(ScriptFailure):
        pytest.fail(str(failure.value), pytrace=False)
    failure.raiseException()


# -- the Twisted flavour: servers on pytest-twisted's reactor -----------------


class TwistedServerFactory:
    """The ``tcpserver_factory`` fixture in a test run by pytest-twisted.

    Call it for one more server, listening at once on its own port.
    """

    def __init__(self, group: ServerGroup) -> None:
        self._group = group

    def __call__(self) -> PytestServer:
        return self._group.new()  # type: ignore[return-value]

    def stop(self) -> Deferred[None]:
        """Verify and close every server made so far; a Deferred of the outcome."""
        return reporting(self._group.stop())


def _twisted_group(request: pytest.FixtureRequest) -> tuple[ServerGroup, Callable]:
    try:
        import pytest_twisted
    except ImportError:  # pragma: no cover - pytest-twisted is a dependency
        pytest_twisted = None
    if pytest_twisted is None or not request.config.pluginmanager.has_plugin("twisted"):
        raise pytest.UsageError(
            f"{request.node.nodeid}: tcpserver needs pytest-twisted to run a Twisted "
            "test (it is disabled, e.g. by -p no:twisted); asyncio tests do not"
        )
    from twisted.internet import reactor

    group = ServerGroup(
        reactor,
        timeout=_default_timeout(request.config),
        server_class=PytestServer,
    )
    return group, pytest_twisted.blockon


def _servers(request: pytest.FixtureRequest) -> Iterator[ServerGroup]:
    """Set up a group of servers for one test; verify and close it after."""
    __tracebackhide__ = True
    group, wait = _twisted_group(request)
    yield group
    outcome: list[object] = []
    wait(group.stop(_test_failed(request)).addBoth(outcome.append))
    if isinstance(outcome[0], Failure):
        _fail_teardown(outcome[0])


@pytest.fixture
def tcpserver_factory(request: pytest.FixtureRequest) -> Iterator[TwistedServerFactory]:
    """Make scripted servers: ``tcpserver_factory()`` returns one more, listening.

    Every server is verified and closed at teardown.
    """
    __tracebackhide__ = True
    for group in _servers(request):
        yield TwistedServerFactory(group)


@pytest.fixture
def tcpserver(request: pytest.FixtureRequest) -> Iterator[PytestServer]:
    """A scripted TCP server, listening on 127.0.0.1 when the test starts.

    Declare what the client must do and what the server sends back; await or
    yield ``tcpserver.join()`` to wait for it. Teardown finishes the script
    and fails the test if the client strayed.
    """
    __tracebackhide__ = True
    for group in _servers(request):
        yield group.new()  # type: ignore[misc]
