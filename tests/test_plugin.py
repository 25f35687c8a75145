"""The plugin end to end: how pytest finds it, its options, its teardown, its
servers' sockets and its answers to bad input.

Rules about a whole pytest run are checked by running pytest in a subprocess
(pytester); the others use the fixtures directly, since this suite itself runs
under pytest-twisted.
"""

from __future__ import annotations

import gc
import inspect
import math
import re
import sys
import textwrap
import weakref

import pytest
import pytest_twisted
from twisted.internet import error, reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol

from pytest_tcpclient import ServerStopped

WAIT = 5  # seconds any wait of a test may take before it counts as hung


class Client(Protocol):
    """A client that keeps what it receives; ``closed`` fires when the connection ends."""

    def __init__(self):
        self.closed = Deferred()
        self.received = b""

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed.callback(None)


def connect(port, host="127.0.0.1", protocol=Client):
    """A Deferred of a ``protocol`` connected to ``host:port``."""
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=WAIT)
    return connectProtocol(endpoint, protocol())


CLIENT_MODULE = "\n\n".join(
    [
        "from twisted.internet import reactor",
        "from twisted.internet.defer import Deferred",
        "from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol",
        "from twisted.internet.protocol import Protocol",
        f"WAIT = {WAIT}",
        inspect.getsource(Client),
        inspect.getsource(connect),
    ]
)
"""This module's client, for the test files pytester runs (``from client import ...``)."""

PREAMBLE = """\
import pytest
import pytest_twisted
from twisted.internet import error, reactor

from client import WAIT, Client, connect
"""


def writer(tests: str):
    """``prepare`` for ``run_once``: the client module and a test file of ``tests``."""

    def write(path) -> None:
        (path / "client.py").write_text(CLIENT_MODULE)
        (path / "test_it.py").write_text(PREAMBLE + textwrap.dedent(tests))

    return write


async def exchange(server) -> None:
    """A short conversation that must pass: the server is usable."""
    server.expect_connect()
    server.expect_bytes(b"ping")
    server.send_bytes(b"pong")
    server.disconnect()
    client = await connect(server.service_port)
    client.transport.write(b"ping")
    await client.closed.addTimeout(WAIT, reactor)
    assert client.received == b"pong"
    await server.join()


# -- how pytest finds the plugin -------------------------------------------------


def test_fixtures_are_found_through_the_entry_point(pytester, reactor_name):
    pytester.makepyfile(
        """
        def test_fixtures(tcpserver, tcpserver_factory):
            assert tcpserver.service_port != tcpserver_factory().service_port
        """
    )
    assert not list(pytester.path.rglob("conftest.py"))
    result = pytester.runpytest_subprocess(f"--reactor={reactor_name}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins:*tcpclient-*"])

    # Without the entry point named tcpclient, the fixtures are gone.
    result = pytester.runpytest_subprocess(
        f"--reactor={reactor_name}", "-p", "no:tcpclient"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'tcpserver' not found*"])


# -- the default step timeout ---------------------------------------------------------

LATE_CLIENT = """
    from twisted.internet.task import deferLater


    @pytest_twisted.ensureDeferred
    async def test_client_connects_late(tcpserver):
        print(f"default timeout: {tcpserver.timeout!r}")
        tcpserver.expect_connect()
        client = await deferLater(reactor, 0.3, connect, tcpserver.service_port)
        client.transport.loseConnection()
        await tcpserver.join()
"""


@pytest.mark.parametrize(
    ("ini", "option", "timeout", "passes"),
    [
        (None, None, 1.0, True),  # the default, 1 s, waits for the client
        ("0.1", None, 0.1, False),  # the ini option shortens every step
        ("0.1", "2", 2.0, True),  # the command line wins over the ini file
    ],
)
def test_options_set_the_default_step_timeout(
    pytester, reactor_name, ini, option, timeout, passes
):
    writer(LATE_CLIENT)(pytester.path)
    if ini is not None:
        pytester.makeini(f"[pytest]\ntcpserver_timeout = {ini}\n")
    args = [] if option is None else [f"--tcpserver-timeout={option}"]
    result = pytester.runpytest_subprocess(f"--reactor={reactor_name}", "-s", *args)
    result.stdout.fnmatch_lines([f"*default timeout: {timeout!r}"])
    if passes:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["E       Failed: Timed out waiting for a connection"])


def test_options_a_conftest_sets_at_configure_apply(pytester, reactor_name):
    """Even a conftest of a subdirectory, which pytest loads while collecting."""
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(
        textwrap.dedent(
            """
            def pytest_configure(config):
                config.option.tcpserver_timeout = "0.25"
                config.option.tcpserver_host = "::1"
            """
        )
    )
    (sub / "test_options.py").write_text(
        textwrap.dedent(
            """
            def test_options(tcpserver):
                assert (tcpserver.timeout, tcpserver.host) == (0.25, "::1")
            """
        )
    )
    result = pytester.runpytest_subprocess(f"--reactor={reactor_name}")
    result.assert_outcomes(passed=1)

    # A bad value is a usage error; it does not hide an error of collection.
    (sub / "conftest.py").write_text(
        "def pytest_configure(config):\n    config.option.tcpserver_timeout = '-3'\n"
    )
    result = pytester.runpytest_subprocess(
        f"--reactor={reactor_name}", "sub/test_options.py", "sub/missing.py"
    )
    result.stderr.fnmatch_lines(["ERROR: file or directory not found: sub/missing.py"])
    result = pytester.runpytest_subprocess(f"--reactor={reactor_name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --tcpserver-timeout must be *, not -3.0"])


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        (
            None,
            ["--tcpserver-timeout=soon"],
            "--tcpserver-timeout must be a number of seconds, not 'soon'",
        ),
        (
            "-1",
            [],
            "tcpserver_timeout must be a finite number of seconds, 0 or more, not -1.0",
        ),
    ],
)
def test_a_bad_timeout_option_is_a_usage_error(pytester, ini, args, message):
    if ini is not None:
        pytester.makeini(f"[pytest]\ntcpserver_timeout = {ini}\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


@pytest.mark.parametrize(
    ("installed", "old"), [("0.23.8", "0.23.8"), ("1.1.1", "1.1.1"), ("1.2.0", None)]
)
def test_a_pytest_asyncio_older_than_the_minimum_is_found(monkeypatch, installed, old):
    from pytest_tcpclient import plugin

    monkeypatch.setattr(plugin.importlib.metadata, "version", lambda name: installed)
    assert plugin._old_pytest_asyncio() == old


def test_an_asyncio_test_with_an_old_pytest_asyncio_is_a_usage_error(pytester):
    """pytest-asyncio before 1.2 cannot run its tests on the bridge: they say so,
    and the other tests of the session run."""
    pytester.makeconftest(
        "import pytest_tcpclient.plugin\n"
        "pytest_tcpclient.plugin._OLD_PYTEST_ASYNCIO = '0.23.8'\n"
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_asyncio(tcpserver):
            pass

        def test_plain(tcpserver):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *UsageError: tcpserver runs pytest-asyncio tests with "
            "pytest-asyncio 1.2 or later, not 0.23.8: pip install -U pytest-asyncio"
        ]
    )


# -- teardown --------------------------------------------------------------------

TEARDOWN = """
    async def say(server, data, protocol=Client):
        \"\"\"The server expects b"hi"; a client connects and sends ``data``.\"\"\"
        server.expect_connect()
        server.expect_bytes(b"hi")
        client = await connect(server.service_port, protocol=protocol)
        client.transport.write(data)
        return client


    class HangsUpOnReply(Client):
        def dataReceived(self, data):
            self.transport.loseConnection()


    @pytest_twisted.ensureDeferred
    async def test_client_hangs_up_after_the_body(tcpserver):
        await say(tcpserver, b"hi", protocol=HangsUpOnReply)
        tcpserver.send_bytes(b"bye")


    @pytest_twisted.ensureDeferred
    async def test_client_never_closes(tcpserver):
        await say(tcpserver, b"hi")


    @pytest_twisted.ensureDeferred
    async def test_join_never_awaited(tcpserver):
        client = await say(tcpserver, b"ho")
        tcpserver.join()  # forgot to await it: teardown still reports
        await client.closed  # the server hangs up on the stray client


    @pytest_twisted.ensureDeferred
    async def test_client_sends_more(tcpserver):
        client = await say(tcpserver, b"hi, and more")
        client.transport.loseConnection()


    @pytest_twisted.ensureDeferred
    async def test_nothing_declared_but_a_client_connects(tcpserver):
        await connect(tcpserver.service_port)


    def test_two_servers_fail(tcpserver_factory):
        tcpserver_factory().expect_connect()
        tcpserver_factory().expect_connect()


    def test_nothing_declared_nobody_connects(tcpserver, tcpserver_factory):
        tcpserver_factory()


    @pytest_twisted.ensureDeferred
    async def test_stop_finds_two_servers_failed(tcpserver_factory):
        tcpserver_factory().expect_connect()
        tcpserver_factory().expect_connect()
        await tcpserver_factory.stop()
"""

TEARDOWN_FAILURES = {
    "test_client_never_closes": "Timed out waiting for the client to close the connection",
    "test_client_sends_more": "Expected the client to close the connection, "
    "but it sent b', and more'",
    "test_nothing_declared_but_a_client_connects": "Expected no connection, "
    "but a client connected",
    "test_two_servers_fail": "Timed out waiting for a connection",
    "test_join_never_awaited": "Expected b'hi' but received b'ho' "
    "(first difference at offset 1)",
}


@pytest.fixture
def teardown_run(run_once):
    return run_once("teardown", writer(TEARDOWN), "--tcpserver-timeout=0.3")


def test_teardown_finishes_the_script_and_reports_an_error(teardown_run):
    teardown_run.result.assert_outcomes(passed=7, failed=1, errors=len(TEARDOWN_FAILURES))
    assert teardown_run.outcome("test_client_hangs_up_after_the_body") == "passed"
    assert teardown_run.outcome("test_nothing_declared_nobody_connects") == "passed"
    for name, first_line in TEARDOWN_FAILURES.items():
        assert teardown_run.words[teardown_run.node(name)] == {"PASSED", "ERROR"}
        lines = teardown_run.section(name, "teardown")
        shown = re.compile(rf"(E +Failed: )?{re.escape(first_line)}")
        assert any(shown.fullmatch(line) for line in lines)


def test_teardown_reports_every_server_that_failed(teardown_run):
    lines = teardown_run.section("test_two_servers_fail", "teardown")
    another = (
        r"(E +)?Another server failed \(port \d+\): Timed out waiting for a connection"
    )
    assert any(re.fullmatch(another, line) for line in lines)


def test_factory_stop_fails_the_test_at_its_line(teardown_run):
    name = "test_stop_finds_two_servers_failed"
    lines = teardown_run.section(name)
    index = lines.index(">       await tcpserver_factory.stop()")
    assert lines[index + 1] == "E       Failed: Timed out waiting for a connection"
    another = (
        r"E       Another server failed \(port \d+\): Timed out waiting for a connection"
    )
    assert any(re.fullmatch(another, line) for line in lines)
    assert teardown_run.internals(name) == []


@pytest.mark.parametrize("name", sorted(TEARDOWN_FAILURES))
def test_teardown_reports_the_diagnostic_alone(teardown_run, name):
    """As pytest.fail(pytrace=False) does: no traceback through Twisted or the plugin."""
    lines = teardown_run.section(name, "teardown")
    assert next(line for line in lines if line) == TEARDOWN_FAILURES[name]
    assert teardown_run.internals(name, "teardown") == []


FAILED_BODY = """
    LAST = {}


    @pytest_twisted.ensureDeferred
    async def test_body_fails(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"never sent", timeout=30)
        client = await connect(tcpserver.service_port)
        LAST.update(port=tcpserver.service_port, client=client)
        assert False, "the test body fails"


    @pytest_twisted.ensureDeferred
    async def test_the_failed_test_left_nothing_behind():
        # Its connection was closed...
        await LAST["client"].closed.addTimeout(WAIT, reactor)
        # ...its port no longer listens...
        with pytest.raises(error.ConnectionRefusedError):
            await connect(LAST["port"])
        # ...and its step timer of 30 s was cancelled.
        now = reactor.seconds()
        assert not [call for call in reactor.getDelayedCalls() if call.getTime() > now + 20]
"""


def test_a_failed_test_gets_no_teardown_wait_and_leaves_nothing_behind(run_once):
    report = run_once(
        "failed body", writer(FAILED_BODY), "--durations=0", "--durations-min=0"
    )
    report.result.assert_outcomes(passed=1, failed=1)
    assert report.words[report.node("test_body_fails")] == {"FAILED"}  # no teardown error
    report.result.stdout.fnmatch_lines(["*AssertionError: the test body fails"])
    (seconds,) = [
        float(match[1])
        for line in report.result.stdout.lines
        if (match := re.fullmatch(r"([\d.]+)s teardown +\S+::test_body_fails", line))
    ]
    assert seconds < 10  # it would wait 30 s for the step


# -- servers and their sockets, in this process -------------------------------------


def test_a_server_nothing_is_declared_on_passes(tcpserver, tcpserver_factory):
    tcpserver_factory()
    assert tcpserver.service_port > 0


@pytest_twisted.ensureDeferred
async def test_the_factory_makes_listening_servers_on_distinct_ports(tcpserver_factory):
    servers = [tcpserver_factory() for _ in range(3)]
    assert len({server.service_port for server in servers}) == 3
    for server in servers:
        await exchange(server)


@pytest_twisted.ensureDeferred
async def test_the_server_listens_on_loopback_only(tcpserver):
    assert tcpserver.host == "127.0.0.1"
    if sys.platform == "linux":  # where all of 127.0.0.0/8 reaches this host
        with pytest.raises(error.ConnectionRefusedError):
            await connect(tcpserver.service_port, host="127.0.0.2")
    await exchange(tcpserver)


@pytest_twisted.ensureDeferred
async def test_stop_verifies_and_closes_every_server(tcpserver_factory):
    passing, failing = tcpserver_factory(), tcpserver_factory()
    await exchange(passing)
    failing.expect_connect(timeout=0.1)
    with pytest.raises(pytest.fail.Exception, match=r"^Timed out waiting for a connection"):
        await tcpserver_factory.stop()
    for server in (passing, failing):
        with pytest.raises(error.ConnectionRefusedError):
            await connect(server.service_port)


@pytest_twisted.ensureDeferred
async def test_a_stopped_server_leaves_nothing_alive(tcpserver_factory):
    """Twisted keeps what is logged before logging begins (pytest never begins
    it): a factory that logged its start kept its script, every step of it,
    alive for the rest of the session."""
    server = tcpserver_factory()
    await exchange(server)
    await tcpserver_factory.stop()
    script = weakref.ref(server._factory.script)
    del server
    gc.collect()
    assert script() is None


@pytest_twisted.ensureDeferred
async def test_declaring_a_step_after_stop_raises_server_stopped(tcpserver_factory):
    server = tcpserver_factory()
    await tcpserver_factory.stop()
    declarations = [
        (server.expect_connect, ()),
        (server.expect_bytes, (b"x",)),
        (server.send_bytes, (b"x",)),
        (server.expect_frame, (b"x",)),
        (server.send_frame, (b"x",)),
        (server.expect_disconnect, ()),
        (server.disconnect, ()),
    ]
    for method, args in declarations:
        with pytest.raises(ServerStopped, match="has stopped"):
            method(*args)


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "exception", "argument"),
    [
        ("expect_bytes", ("text",), {}, TypeError, "data"),
        ("send_bytes", (42,), {}, TypeError, "data"),
        ("expect_frame", (None,), {}, TypeError, "match"),
        ("send_frame", ([1],), {}, TypeError, "payload"),
        ("expect_connect", (), {"timeout": -1}, ValueError, "timeout"),
        ("expect_bytes", (b"x",), {"timeout": "1"}, TypeError, "timeout"),
        ("expect_frame", (b"x",), {"timeout": math.nan}, ValueError, "timeout"),
        ("expect_disconnect", (), {"timeout": math.inf}, ValueError, "timeout"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_input_raises_at_the_call_and_the_server_stays_usable(
    tcpserver, method, args, kwargs, exception, argument
):
    with pytest.raises(exception, match=re.escape(f"{method}() argument '{argument}'")):
        getattr(tcpserver, method)(*args, **kwargs)
    await exchange(tcpserver)


class _Closing(Protocol):
    def __init__(self) -> None:
        self.lost: Deferred[None] = Deferred()

    def connectionLost(self, reason: object = None) -> None:
        self.lost.callback(None)


@pytest_twisted.inlineCallbacks
def test_a_client_may_reconnect_as_soon_as_it_has_closed(tcpserver):
    """The server may accept the new connection before it reads the old one's
    close, in the same reactor turn: that is not a second connection."""
    rounds = 50
    for _ in range(rounds):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"x")
        tcpserver.expect_disconnect()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
    for _ in range(rounds):
        client = yield connectProtocol(endpoint, _Closing())
        client.transport.write(b"x")
        client.transport.loseConnection()
        yield client.lost
    yield tcpserver.join()
