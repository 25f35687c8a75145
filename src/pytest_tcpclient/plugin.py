"""The pytest face of the scripted server: options, fixtures, failure reports.

Registered through the ``pytest11`` entry point ``tcpclient``. It is a thin
layer over :mod:`pytest_tcpclient.core`: it picks the reactor a test's servers
run on, turns a :class:`~pytest_tcpclient.core.ScriptFailure` into pytest's
own failure, and verifies and closes every server at teardown.

Which reactor depends on the test:

- a pytest-asyncio test, or an anyio test on asyncio: a reactor bound to the
  test's own loop (:mod:`pytest_tcpclient.asyncio_bridge`);
- a Twisted-style test (pytest-twisted's ``inlineCallbacks`` or
  ``ensureDeferred``, any generator or coroutine function): pytest-twisted's
  global reactor;
- a plain ``def`` test: the reactor thread of :mod:`pytest_tcpclient.blocking`,
  so that a blocking client in the test body is answered.

The marker ``tcpserver_reactor("thread")`` or ``tcpserver_reactor("twisted")``
overrides the choice for a test that is not an asyncio test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import inspect
import ssl
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, NamedTuple, cast

import pytest
from packaging.version import Version
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.python.failure import Failure

from . import asyncio_bridge, blocking, coexistence, nesting
from .core import DEFAULT_TIMEOUT, ScriptedServer, ScriptFailure, ServerFactory, ServerGroup
from .core.arguments import as_host, as_timeout
from .core.certificates import CertificateAuthority, ClientCertificate, default_ca
from .core.framings import FramingLike
from .core.protocol import ClientCheck
from .core.server import JoinDeferred, failing_with

__all__ = [
    "AsyncioServerFactory",
    "PytestServer",
    "as_pytest_failure",
]

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


class _Defaults(NamedTuple):
    """The run's defaults for every server, read once at configure."""

    timeout: float
    host: str


_DEFAULTS = pytest.StashKey[_Defaults]()
REACTORS = ("thread", "twisted")
"""The values of the ``tcpserver_reactor`` marker."""


# -- options ------------------------------------------------------------------


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
    group.addoption(
        "--tcpserver-host",
        dest="tcpserver_host",
        metavar="ADDRESS",
        default=None,
        help="IP address every tcpserver listens on (overrides the ini option).",
    )
    parser.addini(
        "tcpserver_host",
        "IP address every tcpserver listens on (default: 127.0.0.1).",
        default="127.0.0.1",
    )


@pytest.hookimpl(tryfirst=True)  # nesting.configure runs before pytest-twisted's
def pytest_configure(config: pytest.Config) -> None:
    nesting.configure(config)
    _read_defaults(config)  # a bad value is a usage error before any test runs
    config.addinivalue_line(
        "markers",
        "tcpserver_reactor(name): where the test's scripted servers run: 'thread' (a "
        "reactor thread; join() blocks) or 'twisted' (pytest-twisted's reactor; join() "
        "returns a Deferred). By default plain def tests get 'thread', Twisted-style "
        "tests 'twisted'.",
    )
    if config.pluginmanager.has_plugin("twisted"):
        config.pluginmanager.register(coexistence, "tcpclient-coexistence")
        loops = coexistence.running_loop_per_greenlet()
        loops.__enter__()

        def restore_loops() -> None:
            loops.__exit__(None, None, None)

        config.add_cleanup(restore_loops)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    # Again before the tests run, once every conftest is loaded (those of
    # subdirectories load during collection) and configured: one may set the
    # options in its own pytest_configure. Not at the end of collection, where
    # a usage error would hide what went wrong collecting.
    _read_defaults(session.config)


def _read_defaults(config: pytest.Config) -> None:
    """Read the run's default step timeout and host once, not for every test."""
    config.stash[_DEFAULTS] = _Defaults(_default_timeout(config), _default_host(config))


def _default_timeout(config: pytest.Config) -> float:
    """The run's default step timeout: ``--tcpserver-timeout``, else the ini option."""
    option = config.getoption("tcpserver_timeout")
    raw = option if option is not None else config.getini("tcpserver_timeout")
    name = "--tcpserver-timeout" if option is not None else "tcpserver_timeout"
    try:
        value = float(raw)
    except ValueError:
        message = f"{name} must be a number of seconds, not {raw!r}"
        raise pytest.UsageError(message) from None
    try:
        return as_timeout(value, name, DEFAULT_TIMEOUT)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def _default_host(config: pytest.Config) -> str:
    """The address servers listen on: ``--tcpserver-host``, else the ini option."""
    option = config.getoption("tcpserver_host")
    raw = option if option is not None else config.getini("tcpserver_host")
    name = "--tcpserver-host" if option is not None else "tcpserver_host"
    try:
        return as_host(raw, name)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test body did not pass: it failed, was skipped, or never ran."""
    report = request.node.stash.get(_CALL_REPORT, None)
    return report is None or not report.passed


# -- failures as pytest reports them ------------------------------------------


def as_pytest_failure(failure: Failure) -> Failure:
    """Errback: a script failure becomes pytest's ``Failed`` with its message.

    The new exception carries no traceback, so when a test yields or awaits
    the Deferred, the report points at the test's own line, not at Twisted's
    or this plugin's internals.
    """
    return failing_with(failure, pytest.fail.Exception)


def _reporting(deferred: Deferred[None], result: Deferred[None]) -> Deferred[None]:
    """``result``, fired with ``deferred``'s outcome as pytest reports it."""
    deferred.addErrback(as_pytest_failure).chainDeferred(result)
    return result


def _report_teardown(outcome: object) -> None:
    """Fail the teardown with the failure found there, if any."""
    __tracebackhide__ = True
    if isinstance(outcome, Failure):
        if outcome.check(ScriptFailure):
            pytest.fail(str(outcome.value), pytrace=False)
        outcome.raiseException()


class PytestServer(ScriptedServer):
    """A :class:`~pytest_tcpclient.core.ScriptedServer` whose :meth:`join`
    fails with pytest's ``Failed``, as ``pytest.fail()`` would.

    :param awaitable: makes the Deferred that :meth:`join` returns, of a kind
        the test can yield or await.
    """

    def __init__(
        self,
        reactor: IReactorTCP,
        *,
        awaitable: Callable[[], Deferred[None]],
        **kwargs: Any,
    ) -> None:
        super().__init__(reactor, **kwargs)
        self._awaitable = awaitable

    def _deliver(self, done: Deferred[None]) -> Deferred[None]:
        return _reporting(done, self._awaitable())


class AsyncioServerFactory(ServerFactory):
    """``tcpserver_factory`` in an asyncio test: ``server = await tcpserver_factory()``
    and ``await tcpserver_factory.stop()``, as in the asyncio-only plugin."""

    async def __call__(  # type: ignore[override]
        self,
        *,
        framing: FramingLike | None = None,
        tls: bool = False,
        client_certificate: bool = False,
        host: str | None = None,
    ) -> PytestServer:
        """One more server, listening at once on its own port; the arguments
        are those of :meth:`ServerFactory.__call__`."""
        __tracebackhide__ = True
        server = super().__call__(
            framing=framing, tls=tls, client_certificate=client_certificate, host=host
        )
        return cast(PytestServer, server)  # its group's server_class


class _TestServers:
    """Every server one test made, on one reactor."""

    def __init__(
        self,
        reactor: IReactorTCP,
        request: pytest.FixtureRequest,
        awaitable: Callable[[], Deferred[None]],
        factory_class: type[ServerFactory],
        client_check: ClientCheck | None = None,
    ) -> None:
        self.awaitable = awaitable
        self.factory_class = factory_class
        server_class = functools.partial(
            PytestServer, awaitable=awaitable, client_check=client_check
        )
        self.group = ServerGroup(
            reactor,
            timeout=request.config.stash[_DEFAULTS].timeout,
            host=request.config.stash[_DEFAULTS].host,
            server_class=server_class,
        )

    def new(self) -> PytestServer:
        return cast(PytestServer, self.group.new())  # its group's server_class

    def factory(self) -> ServerFactory:
        """The value of ``tcpserver_factory``."""
        return self.factory_class(
            self.group, lambda stopped: _reporting(stopped, self.awaitable())
        )


# -- where a test's servers run ------------------------------------------------


_SERVERS: pytest.StashKey[_TestServers | blocking.BlockingServers] = pytest.StashKey()
_Finish = Callable[[], None]
"""Verifies and closes a test's servers, and fails its teardown if they fail."""


def _servers_for(request: pytest.FixtureRequest) -> _TestServers | blocking.BlockingServers:
    """The test's servers: made by the first of its ``tcpserver`` fixtures, on
    the reactor its kind of test needs, and finished when that fixture is torn
    down (which plain functions do, not fixtures of their own: one fixture
    less to set up per test)."""
    item: pytest.Function = request.node
    servers = item.stash.get(_SERVERS, None)
    if servers is not None:
        return servers
    anyio = "anyio_backend" in item.fixturenames
    if coexistence.is_pytest_asyncio_test(item):
        if anyio:
            raise pytest.UsageError(
                f"{item.nodeid} is claimed by both pytest-asyncio (auto mode) and "
                "anyio, which run it and its fixtures on different loops: use "
                "pytest-asyncio's strict mode, or one of the two"
            )
        if _OLD_PYTEST_ASYNCIO is not None:
            raise pytest.UsageError(
                f"tcpserver runs pytest-asyncio tests with pytest-asyncio "
                f"{MIN_PYTEST_ASYNCIO} or later, not {_OLD_PYTEST_ASYNCIO}: "
                "pip install -U pytest-asyncio"
            )
        servers, finish = _on_asyncio_runner(request)
    elif anyio and inspect.iscoroutinefunction(getattr(item, "obj", None)):
        # anyio runs its async fixtures on the test's loop: a fixture of its own
        return cast(_TestServers, request.getfixturevalue("_tcpclient_anyio"))
    elif _reactor_of(item) == "twisted":
        servers, finish = _on_twisted_reactor(request)
    else:
        servers, finish = _on_reactor_thread(request)
    item.stash[_SERVERS] = servers

    def teardown() -> None:
        __tracebackhide__ = True
        del item.stash[_SERVERS]
        finish()

    request.addfinalizer(teardown)
    return servers


def _reactor_of(item: pytest.Item) -> str:
    """Where the servers of ``item``, not an asyncio test, run: ``thread`` or
    ``twisted``, as its ``tcpserver_reactor`` marker says, else by its kind."""
    marker = item.get_closest_marker("tcpserver_reactor")
    if marker is None:
        return "twisted" if _is_twisted_style(item) else "thread"
    if len(marker.args) != 1 or marker.kwargs or marker.args[0] not in REACTORS:
        given = ", ".join([*map(repr, marker.args), *map(repr, marker.kwargs.items())])
        raise pytest.UsageError(
            f"{item.nodeid}: tcpserver_reactor() takes 'thread' or 'twisted', not ({given})"
        )
    return cast(str, marker.args[0])  # one of REACTORS


def _is_twisted_style(item: pytest.Item) -> bool:
    """Whether pytest-twisted runs ``item`` as a Twisted test: decorated with its
    ``inlineCallbacks`` or ``ensureDeferred``, or a generator (Twisted's own
    ``inlineCallbacks``) or coroutine function. A plain function is not."""
    function = getattr(item, "obj", None)
    if function is None:
        return False
    if getattr(function, "_pytest_twisted_mark", None) is not None:
        return True
    with contextlib.suppress(ValueError):  # a cycle of __wrapped__
        function = inspect.unwrap(function)
    return (
        inspect.isgeneratorfunction(function)
        or inspect.iscoroutinefunction(function)
        or inspect.isasyncgenfunction(function)
    )


def _loop_scope(item: pytest.Item) -> str:
    """The scope of the loop pytest-asyncio runs ``item`` on."""
    marker = item.get_closest_marker("asyncio")
    scope = marker and (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope"))
    if not scope:
        try:
            scope = item.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # a pytest-asyncio without the option
            scope = None
    return scope or "function"


def _on_twisted_reactor(request: pytest.FixtureRequest) -> tuple[_TestServers, _Finish]:
    """The servers of a test run by pytest-twisted, on its global reactor."""
    if not request.config.pluginmanager.has_plugin("twisted"):
        raise pytest.UsageError(
            "tcpserver needs pytest-twisted to run this test, and it is disabled "
            "(-p no:twisted); asyncio tests do not need it"
        )
    import pytest_twisted
    from twisted.internet import reactor

    servers = _TestServers(reactor, request, JoinDeferred, ServerFactory)

    def finish() -> None:
        outcome: list[object] = []
        stopped = servers.group.stop(_test_failed(request))
        pytest_twisted.blockon(stopped.addBoth(outcome.append))
        _report_teardown(outcome[0])

    return servers, finish


def _on_reactor_thread(
    request: pytest.FixtureRequest,
) -> tuple[blocking.BlockingServers, _Finish]:
    """The servers of a plain test, on the reactor thread: its blocking client is
    answered while the test waits for it."""
    servers = blocking.BlockingServers(
        blocking.reactor_thread(),
        timeout=request.config.stash[_DEFAULTS].timeout,
        host=request.config.stash[_DEFAULTS].host,
        convert=lambda failure: pytest.fail.Exception(str(failure)),
    )

    def finish() -> None:
        _report_teardown(servers.finish(_test_failed(request)))

    return servers, finish


class _Awaitables:
    """Makes the Deferreds an asyncio test awaits, on the test's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop: asyncio.AbstractEventLoop | None = loop  # None once released

    def __call__(self) -> asyncio_bridge.AwaitableDeferred:
        if self.loop is None:
            raise RuntimeError("the test's servers were torn down, and its loop with them")
        return asyncio_bridge.AwaitableDeferred(self.loop)


class _LoopServers(_TestServers):
    """Every server an asyncio test made, on a reactor bound to the test's loop.

    What it holds does not refer back to it (its servers are made with
    ``_Awaitables``, not a method of its own), so once released, it and its
    servers are freed by reference counts, not left to the garbage collector.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, request: pytest.FixtureRequest):
        self.reactor = asyncio_bridge.reactor_on(loop)
        self._awaitables = _Awaitables(loop)
        self.watch = asyncio_bridge.StreamWatch(loop, self._ports)
        super().__init__(
            self.reactor, request, self._awaitables, AsyncioServerFactory, self.watch.check
        )
        self.watch.install()

    def _ports(self) -> set[int]:
        return {server.service_port for server in self.group.servers}

    def stop(self, test_failed: bool) -> tuple[list[object], Deferred[None] | None]:
        """Stop every server as teardown does: a list that holds the outcome once
        it is known, and a Deferred to await first if it is not known yet (a
        connection still to be decided, a timer that ran out while the loop
        did not run). Usually it is known at once: the ports' closes are due
        now, and run without a turn of the loop."""
        outcome: list[object] = []
        overdue = _overdue(self.reactor)
        stopped = self.group.stop(test_failed).addBoth(outcome.append)
        if not overdue:
            self.reactor.runUntilCurrent()
        if outcome:
            return outcome, None
        waiter = self.awaitable()
        stopped.chainDeferred(waiter)
        return outcome, waiter

    def release(self) -> None:
        """Give back the loop's ``create_connection`` and the reactor's timer,
        and let go of the loop."""
        self.watch.uninstall()  # which lets go of _ports, and so of self
        asyncio_bridge.release(self.reactor)
        # The servers may outlive the test (a test keeps one); the loop need not.
        self._awaitables.loop = None


def _overdue(reactor: IReactorTime) -> bool:
    """Whether a timer on ``reactor`` ran out while its loop did not run (a
    slow teardown before this one): a turn of the loop then reads what the
    clients sent first, where running the timers now would time a step out
    with the bytes it waits for unread."""
    now = reactor.seconds()
    return any(call.getTime() <= now for call in reactor.getDelayedCalls())


async def _awaited(deferred: Deferred[None]) -> None:
    await deferred


def _on_asyncio_runner(request: pytest.FixtureRequest) -> tuple[_TestServers, _Finish]:
    """The servers of a pytest-asyncio test, on the loop of the runner that
    pytest-asyncio runs the test with (an ``asyncio.Runner``). Setting them up
    and, usually, tearing them down needs no turn of that loop."""
    runner = request.getfixturevalue(f"_{_loop_scope(request.node)}_scoped_runner")
    servers = _LoopServers(runner.get_loop(), request)

    def finish() -> None:
        try:
            outcome, waiter = servers.stop(_test_failed(request))
            if waiter is not None:
                runner.run(_awaited(waiter))
            _report_teardown(outcome[0])
        finally:
            servers.release()

    return servers, finish


MIN_PYTEST_ASYNCIO = "1.2"
"""The oldest pytest-asyncio whose tests the servers run on (the first one whose
loops behave beside pytest-twisted's reactor)."""


def _old_pytest_asyncio() -> str | None:
    """The version of the installed pytest-asyncio if older than
    :data:`MIN_PYTEST_ASYNCIO`; None if it is recent enough, or absent."""
    try:
        installed = importlib.metadata.version("pytest-asyncio")
    except importlib.metadata.PackageNotFoundError:
        return None
    return installed if Version(installed) < Version(MIN_PYTEST_ASYNCIO) else None


_OLD_PYTEST_ASYNCIO = _old_pytest_asyncio()


@pytest.fixture
async def _tcpclient_anyio(
    request: pytest.FixtureRequest, anyio_backend: str | tuple[str, dict[str, object]]
) -> AsyncIterator[_TestServers]:
    """The servers of an anyio test, on its asyncio loop."""
    backend = anyio_backend if isinstance(anyio_backend, str) else anyio_backend[0]
    if backend != "asyncio":
        raise pytest.UsageError(
            f"tcpserver runs on anyio's asyncio backend only, not on {backend!r}"
        )
    servers = _LoopServers(asyncio.get_running_loop(), request)
    try:
        yield servers
        outcome, waiter = servers.stop(_test_failed(request))
        if waiter is not None:
            await waiter
        _report_teardown(outcome[0])
    finally:
        servers.release()


# -- the fixtures ---------------------------------------------------------------


@pytest.fixture
def tcpserver_factory(request: pytest.FixtureRequest) -> ServerFactory:
    """Make scripted servers: ``tcpserver_factory()`` returns one more, listening.

    In an asyncio test, ``await tcpserver_factory()``. Every server is verified
    and closed at teardown; ``tcpserver_factory.stop()`` does it earlier.
    """
    return _servers_for(request).factory()


@pytest.fixture
def tcpserver(request: pytest.FixtureRequest) -> PytestServer | blocking.BlockingServer:
    """A scripted TCP server, listening on 127.0.0.1 (or ``--tcpserver-host``)
    when the test starts.

    Declare what the client must do and what the server sends back; yield or
    await ``tcpserver.join()`` to wait for it. Teardown finishes the script
    and fails the test if the client strayed.
    """
    return _servers_for(request).new()


# -- TLS ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tcpserver_ca() -> CertificateAuthority:
    """The throwaway certificate authority of the session: it issued the
    certificate of every ``tls=True`` server (valid for ``localhost``,
    ``127.0.0.1`` and ``::1``) and of ``tcpclient_certificate``.

    For clients: ``cert_pem``, ``cert_path`` (a PEM file), ``ssl_context()``,
    ``trust_root`` (Twisted's ``optionsForClientTLS(trustRoot=...)``).
    Needs ``pip install pytest-tcpclient[tls]``.
    """
    return default_ca()


@pytest.fixture
def tcpclient_ssl_context(tcpserver_ca: CertificateAuthority) -> ssl.SSLContext:
    """A client ``ssl.SSLContext`` that trusts the servers' certificate:
    ``ssl.create_default_context()`` plus ``tcpserver_ca``, hostname checks
    on. A new one per test, so a test may change it."""
    return tcpserver_ca.ssl_context()


@pytest.fixture(scope="session")
def tcpclient_certificate(tcpserver_ca: CertificateAuthority) -> ClientCertificate:
    """A client certificate and its key, issued by ``tcpserver_ca``, for
    servers made with ``client_certificate=True``:
    ``tcpclient_certificate.configure(ssl_context)`` loads them (or
    ``cert_path``/``key_path``, ``cert_pem``/``key_pem``,
    ``private_certificate`` for Twisted)."""
    return tcpserver_ca.issue_client_certificate()
