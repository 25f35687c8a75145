"""Blocking clients: the scripted server on a reactor thread, for plain ``def`` tests
and, through ``scripted_server()``, for ``unittest`` and other runners.

The tests of this module that are plain ``def`` tests use the fixtures
directly: this suite runs under pytest-twisted, so they get the servers a user's
plain tests get. Rules about a whole pytest run are checked in a subprocess
(pytester). The clients are the standard library's blocking sockets; every
socket a test opens has a timeout, so a bug cannot hang the suite.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred

from pytest_tcpclient import ScriptFailure, ServerStopped, scripted_server
from pytest_tcpclient.blocking import (
    BlockingServer,
    ReactorThread,
    can_block,
    reactor_thread,
)

WAIT = 5  # seconds any wait of a test may take before it counts as hung


def client(port: int) -> socket.socket:
    """A blocking client socket connected to ``port``, with a timeout."""
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def ping(server) -> None:
    """The conversation of the issue's example: it must pass."""
    server.expect_connect()
    server.expect_bytes(b"PING\r\n")
    server.send_bytes(b"+PONG\r\n")
    server.expect_disconnect()
    with client(server.service_port) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"
    server.join()


def refused(port: int) -> bool:
    try:
        client(port).close()
    except ConnectionRefusedError:
        return True
    return False


# -- plain tests, in this process ---------------------------------------------------


def test_a_plain_test_gets_a_blocking_server(tcpserver, tcpserver_factory):
    assert isinstance(tcpserver, BlockingServer)
    assert isinstance(tcpserver_factory(), BlockingServer)


def test_a_blocking_client_is_answered_while_the_test_waits(tcpserver):
    ping(tcpserver)


def test_steps_declared_after_the_client_acted_run_as_declared(tcpserver):
    with client(tcpserver.service_port) as s:
        s.sendall(b"early")
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"early")
        tcpserver.send_bytes(b"reply")
        assert s.recv(5) == b"reply"
        tcpserver.expect_disconnect()
    assert tcpserver.join() is None


def test_join_can_be_called_again_with_steps_declared_in_between(tcpserver):
    tcpserver.expect_connect()
    with client(tcpserver.service_port) as s:
        tcpserver.join()
        tcpserver.expect_bytes(b"one")
        s.sendall(b"one")
        tcpserver.join()
        tcpserver.send_bytes(b"two")
        tcpserver.join()
        assert s.recv(3) == b"two"
    tcpserver.expect_disconnect()
    tcpserver.join()


def test_join_raises_pytests_failure_with_the_diagnostic(tcpserver):
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"PONG\r\n")
    with client(tcpserver.service_port) as s:
        s.sendall(b"PING\r\n")
        with pytest.raises(pytest.fail.Exception) as raised:
            tcpserver.join()
        assert s.recv(100) == b""  # the server hung up: no client waits forever
    assert str(raised.value).splitlines()[:2] == [
        r"Expected b'PONG\r\n' but received b'PING\r\n' (first difference at offset 1)",
        "",
    ]
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None
    # The test took the failure from join(): teardown does not report it again.


def test_the_factory_makes_servers_on_distinct_ports_and_stop_closes_them(
    tcpserver_factory,
):
    servers = [tcpserver_factory() for _ in range(3)]
    assert len({server.service_port for server in servers}) == 3
    for server in servers:
        ping(server)
    assert tcpserver_factory.stop() is None
    assert all(refused(server.service_port) for server in servers)
    assert all(server.stopped for server in servers)


def test_factory_stop_raises_what_it_found_and_closes_every_server(tcpserver_factory):
    passing, failing = tcpserver_factory(), tcpserver_factory()
    ping(passing)
    failing.expect_connect(timeout=0.1)
    with pytest.raises(pytest.fail.Exception, match=r"^Timed out waiting for a connection"):
        tcpserver_factory.stop()
    assert refused(passing.service_port) and refused(failing.service_port)


def test_a_stopped_server_refuses_steps(tcpserver_factory):
    server = tcpserver_factory()
    tcpserver_factory.stop()
    with pytest.raises(ServerStopped, match="has stopped"):
        server.expect_connect()


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "exception", "argument"),
    [
        ("expect_bytes", ("text",), {}, TypeError, "data"),
        ("send_frame", ([1],), {}, TypeError, "payload"),
        ("expect_connect", (), {"timeout": -1}, ValueError, "timeout"),
        ("expect_bytes", (b"x",), {"timeout": "1"}, TypeError, "timeout"),
    ],
)
def test_bad_input_raises_at_the_call_and_the_server_stays_usable(
    tcpserver, method, args, kwargs, exception, argument
):
    with pytest.raises(exception, match=re.escape(f"{method}() argument '{argument}'")):
        getattr(tcpserver, method)(*args, **kwargs)
    ping(tcpserver)


def test_the_repr_tells_the_address_state_and_progress(tcpserver_factory):
    address = "127.0.0.1:{}"
    server = tcpserver_factory()
    # Until the reactor thread has taken the socket it listens on, it is starting.
    assert repr(server) in (
        f"<BlockingServer {address.format(server.service_port)} starting>",
        f"<BlockingServer {address.format(server.service_port)} listening, 0/0 steps done>",
    )
    server.expect_connect()
    with client(server.service_port):
        server.join()
        assert repr(server) == (
            f"<BlockingServer {address.format(server.service_port)} listening, "
            "1/1 steps done>"
        )
        server.expect_disconnect()
    server.join()
    tcpserver_factory.stop()
    assert repr(server).endswith("stopped, 3/3 steps done>")  # and the end of script


# -- where blocking is refused ---------------------------------------------------------


def test_join_on_the_reactor_thread_raises_instead_of_deadlocking(tcpserver):
    thread = reactor_thread()
    raised = thread.call(lambda: _error_of(tcpserver.join), "the check")
    assert isinstance(raised, RuntimeError)
    assert "join() would deadlock" in str(raised)
    assert "call it from the test's thread" in str(raised)


def test_blocking_in_an_asyncio_task_raises_and_names_the_asyncio_face(tcpserver):
    async def in_a_task():
        return _error_of(tcpserver.join)

    with ThreadPoolExecutor(1) as pool:  # a loop of its own, in a thread of its own
        raised = pool.submit(asyncio.run, in_a_task()).result(WAIT)
    assert isinstance(raised, RuntimeError)
    assert str(raised).startswith("join() would block the event loop")
    assert "await join()" in str(raised)


def test_blocking_in_a_plain_callback_of_a_running_loop_works(tcpserver):
    """As pytest-twisted runs a plain test on its asyncio reactor."""

    def in_a_callback(loop: asyncio.AbstractEventLoop, done: asyncio.Future) -> None:
        try:
            ping(tcpserver)
        except BaseException as error:
            done.set_exception(error)
        else:
            done.set_result(None)

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_soon(in_a_callback, loop, done)
        await done

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result(WAIT)


def test_can_block_outside_any_loop():
    can_block("anything")


def _error_of(function):
    try:
        function()
    except Exception as error:
        return error
    return None


# -- the reactor thread ---------------------------------------------------------------


@pytest.fixture
def thread():
    made = ReactorThread(name="a reactor thread of a test")
    yield made
    made.stop()


def test_posted_calls_run_on_the_reactor_thread_in_order(thread):
    seen = []
    for index in range(100):
        thread.post(lambda index=index: seen.append((index, thread.on_reactor_thread())))
    thread.call(lambda: None, "a call")
    assert seen == [(index, True) for index in range(100)]
    assert not thread.on_reactor_thread()


def test_call_returns_the_result_or_raises_the_error(thread):
    assert thread.call(lambda: 42, "a call") == 42
    with pytest.raises(ZeroDivisionError):
        thread.call(lambda: 1 / 0, "a call")


def test_an_error_of_a_posted_call_is_raised_by_the_next_blocking_call(thread):
    thread.post(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        thread.call(lambda: None, "a call")
    assert thread.call(lambda: 42, "a call") == 42  # raised once


def test_an_error_of_a_posted_call_comes_before_what_it_caused(thread):
    made = {}
    thread.post(lambda: made.update(server=1 / 0))  # the cause
    with pytest.raises(ZeroDivisionError):
        thread.call(lambda: made["server"], "a call")  # a KeyError it caused


def test_wait_returns_the_result_or_the_failure(thread):
    assert thread.wait(lambda: (_fired(42), 0.0), "a wait") == 42
    failure = thread.wait(lambda: (_failed(ValueError("no")), 0.0), "a wait")
    assert failure.check(ValueError)


def test_a_wait_gives_up_after_the_timeouts_and_the_grace(thread):
    thread.grace = 0.05
    with pytest.raises(RuntimeError, match=r"^a wait: .* gave no answer within 0\.15 s"):
        thread.wait(lambda: (Deferred(), 0.1), "a wait")


def test_stop_ends_the_thread_and_releases_its_descriptors(thread):
    before = _descriptors()
    made = ReactorThread()
    assert made.alive
    made.stop()
    assert not made.alive
    assert _descriptors() == before
    with pytest.raises(RuntimeError, match="reactor thread has stopped"):
        made.call(lambda: None, "a call")


def test_the_process_shares_one_reactor_thread_and_restarts_it_if_it_stopped():
    shared = reactor_thread()
    assert reactor_thread() is shared
    assert shared.reactor is not pytest_twisted._instances.reactor  # the global one


def _fired(result):
    deferred = Deferred()
    deferred.callback(result)
    return deferred


def _failed(error):
    deferred = Deferred()
    deferred.errback(error)
    return deferred


def _descriptors() -> int | None:
    fds = Path("/proc/self/fd")
    return len(os.listdir(fds)) if fds.is_dir() else None


# -- scripted_server(), for any runner ---------------------------------------------------


def test_scripted_server_runs_a_script_and_closes():
    with scripted_server(timeout=2) as server:
        assert server.timeout == 2.0
        ping(server)
    assert server.stopped
    assert refused(server.service_port)


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_scripted_server_listens_on_the_host_given():
    with scripted_server(host="::1") as server:
        server.expect_connect()
        with socket.create_connection(("::1", server.service_port), timeout=WAIT):
            server.join()
    assert server.host == "::1"


def test_scripted_server_speaks_tls_with_the_process_ca():
    from pytest_tcpclient import default_ca

    with scripted_server(tls=True, client_certificate=True) as server:
        assert (server.tls, server.host) == (True, "127.0.0.1")
        server.expect_connect()
        server.expect_bytes(b"PING\r\n")
        server.send_bytes(b"+PONG\r\n")
        context = default_ca().ssl_context()
        default_ca().issue_client_certificate().configure(context)
        raw = client(server.service_port)
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"PING\r\n")
            assert s.recv(100) == b"+PONG\r\n"
            server.join()


def test_leaving_the_block_verifies_the_script_and_raises_a_script_failure():
    with (
        pytest.raises(ScriptFailure, match=r"^Timed out waiting for a connection"),
        scripted_server(timeout=0.1) as server,
    ):
        server.expect_connect()
    assert server.stopped


def test_join_of_a_scripted_server_raises_the_script_failure():
    with scripted_server() as server:
        server.expect_connect()
        server.expect_bytes(b"a")
        with client(server.service_port) as s:
            s.sendall(b"b")
            with pytest.raises(ScriptFailure) as raised:
                server.join()
    assert raised.value.summary.startswith("Expected b'a' but received b'b'")
    assert isinstance(raised.value, AssertionError)


def test_an_exception_inside_the_block_wins_and_the_server_still_closes():
    with pytest.raises(KeyError) as raised, scripted_server(timeout=30) as server:
        server.expect_connect()  # would wait 30 s if the block had passed
        raise KeyError("the test's own")
    assert server.stopped
    assert not getattr(raised.value, "__notes__", None)  # the script had not failed


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes")
def test_a_script_failure_beside_an_exception_is_noted_on_it():
    with pytest.raises(OSError) as raised, scripted_server() as server:
        server.expect_connect()
        server.expect_bytes(b"a")
        with client(server.service_port) as s:
            s.sendall(b"b")
            assert s.recv(1) == b""  # the server hung up
            raise OSError("the client's own error")
    (note,) = raised.value.__notes__
    assert note.startswith("The scripted server's script failed too:\nExpected b'a'")


def test_a_scripted_server_block_is_entered_once():
    block = scripted_server()
    with block:
        pass
    with pytest.raises(RuntimeError, match="entered once"), block:
        pass  # pragma: no cover


@pytest.mark.parametrize(
    ("kwargs", "exception", "message"),
    [
        ({"timeout": "1"}, TypeError, "scripted_server() argument 'timeout'"),
        ({"timeout": -1}, ValueError, "scripted_server() argument 'timeout'"),
        ({"host": 1}, TypeError, "scripted_server() argument 'host' must be str, not int"),
    ],
)
def test_scripted_server_checks_its_arguments(kwargs, exception, message):
    with pytest.raises(exception, match=re.escape(message)), scripted_server(**kwargs):
        pass  # pragma: no cover


# -- whole pytest runs ----------------------------------------------------------------


def files(**sources: str):
    """``prepare`` for ``run_once``: a file ``<name>.py`` of each source."""

    def write(path: Path) -> None:
        for name, source in sources.items():
            (path / f"{name}.py").write_text(textwrap.dedent(source))

    return write


HELPERS = """
import socket

WAIT = 5


def client(port):
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)
"""

ISSUE_EXAMPLE = """
    import socket

    def test_ping(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"PING\\r\\n")
        tcpserver.send_bytes(b"+PONG\\r\\n")
        tcpserver.expect_disconnect()
        with socket.create_connection(("127.0.0.1", tcpserver.service_port)) as s:
            s.sendall(b"PING\\r\\n")
            assert s.recv(100) == b"+PONG\\r\\n"
        tcpserver.join()
"""


def test_the_example_of_a_blocking_client_passes_as_written(run_once):
    report = run_once("issue example", files(test_ping=ISSUE_EXAMPLE))
    report.result.assert_outcomes(passed=1)


def test_a_client_with_no_timeout_of_its_own_fails_with_the_diagnostic(run_once):
    """The example, with the wrong expectation: the server hangs up on the
    client, whose recv() returns b"", and the report has the diagnostic."""
    wrong = ISSUE_EXAMPLE.replace('expect_bytes(b"PING', 'expect_bytes(b"PONG')
    report = run_once("no hang", files(test_ping=wrong), "--durations=0")
    report.result.assert_outcomes(failed=1, errors=1)
    assert report.words[report.node("test_ping")] == {"FAILED", "ERROR"}
    lines = report.section("test_ping", "teardown")
    first = r"Expected b'PONG\r\n' but received b'PING\r\n' (first difference at offset 1)"
    assert next(line for line in lines if line) == first
    assert report.internals("test_ping", "teardown") == []


TEARDOWN = """
    import socket

    import pytest

    from helpers import client


    def test_join_fails_at_its_line(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"hi")
        with client(tcpserver.service_port) as s:
            s.sendall(b"ho")
            tcpserver.join()


    def test_factory_stop_fails_at_its_line(tcpserver_factory):
        tcpserver_factory().expect_connect()
        tcpserver_factory().expect_connect()
        tcpserver_factory.stop()


    def test_client_never_closes(tcpserver):
        tcpserver.expect_connect()
        s = client(tcpserver.service_port)
        tcpserver.join()
        test_client_never_closes.socket = s  # still open after the body


    def test_nothing_declared_but_a_client_connects(tcpserver):
        client(tcpserver.service_port).close()


    def test_no_join_and_a_wrong_client(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"hi")
        with client(tcpserver.service_port) as s:
            s.sendall(b"ho")
            assert s.recv(10) == b""  # the server hung up


    def test_join_failure_taken_by_the_test(tcpserver):
        tcpserver.expect_connect(timeout=0.05)
        with pytest.raises(pytest.fail.Exception):
            tcpserver.join()


    def test_second_connection(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"hi")
        with client(tcpserver.service_port), client(tcpserver.service_port):
            tcpserver.join()


    def test_forgotten_reply(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"HELLO")
        s = socket.create_connection(("127.0.0.1", tcpserver.service_port))  # no timeout
        s.sendall(b"HELLO")
        assert s.recv(100) == b"WELCOME"  # but no send_bytes(b"WELCOME") was declared


    LAST = {}


    def test_body_fails(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"never sent", timeout=30)
        LAST.update(port=tcpserver.service_port, client=client(tcpserver.service_port))
        assert False, "the test body fails"


    def test_the_failed_test_left_nothing_behind():
        from pytest_tcpclient.blocking import reactor_thread

        # Its connection was closed (aborted: reset)...
        with pytest.raises(ConnectionResetError):
            LAST["client"].recv(1)
        # ...its port no longer listens...
        with pytest.raises(ConnectionRefusedError):
            client(LAST["port"])
        # ...and no timer, socket or call is left on the reactor thread.
        reactor = reactor_thread().reactor
        def state():
            return reactor.getDelayedCalls(), reactor.getReaders(), reactor.getWriters()
        calls, readers, writers = reactor_thread().call(state, "state")
        assert calls == [] and writers == []
        assert readers == [reactor.waker]
"""

TEARDOWN_ERRORS = {
    "test_client_never_closes": "Timed out waiting for the client to close the connection",
    "test_nothing_declared_but_a_client_connects": "Expected no connection, "
    "but a client connected",
    "test_no_join_and_a_wrong_client": "Expected b'hi' but received b'ho' "
    "(first difference at offset 1)",
    "test_forgotten_reply": "Timed out waiting for the client to close the connection "
    "after the last step",
}


@pytest.fixture
def teardown_run(run_once):
    prepare = files(helpers=HELPERS, test_it=TEARDOWN)
    durations = ("--durations=0", "--durations-min=0")
    return run_once("teardown", prepare, "--tcpserver-timeout=0.3", *durations)


def test_teardown_finishes_the_script_and_reports_an_error(teardown_run):
    report = teardown_run
    report.result.assert_outcomes(passed=5, failed=5, errors=len(TEARDOWN_ERRORS))
    for name in (
        "test_join_failure_taken_by_the_test",
        "test_the_failed_test_left_nothing_behind",
    ):
        assert report.words[report.node(name)] == {"PASSED"}
    for name, first_line in TEARDOWN_ERRORS.items():
        body = "FAILED" if name == "test_forgotten_reply" else "PASSED"
        assert report.words[report.node(name)] == {body, "ERROR"}
        lines = report.section(name, "teardown")
        assert next(line for line in lines if line) == first_line
        assert report.internals(name, "teardown") == []


@pytest.mark.parametrize(
    ("name", "line", "first_line"),
    [
        (
            "test_join_fails_at_its_line",
            "            tcpserver.join()",
            "Expected b'hi' but received b'ho' (first difference at offset 1)",
        ),
        (
            "test_factory_stop_fails_at_its_line",
            "        tcpserver_factory.stop()",
            "Timed out waiting for a connection",
        ),
        (
            "test_second_connection",
            "            tcpserver.join()",
            "Expected one connection at a time, but the client opened a second one "
            "while the first was open",
        ),
    ],
)
def test_a_blocking_call_fails_the_test_at_its_own_line(
    teardown_run, name, line, first_line
):
    """``E   Failed: <diagnostic>`` right under the call, as under any failing line."""
    lines = teardown_run.section(name)
    index = lines.index(f">{line[1:]}")
    indent = line[1 : len(line) - len(line.lstrip())]
    assert lines[index + 1] == f"E{indent}Failed: {first_line}"
    assert teardown_run.internals(name) == []
    assert teardown_run.words[teardown_run.node(name)] == {"FAILED"}


def test_factory_stop_reports_every_server_that_failed(teardown_run):
    lines = teardown_run.section("test_factory_stop_fails_at_its_line")
    another = (
        r"E       Another server failed \(port \d+\): Timed out waiting for a connection"
    )
    assert any(re.fullmatch(another, line) for line in lines)


def test_a_failed_test_gets_no_teardown_wait(teardown_run):
    assert teardown_run.words[teardown_run.node("test_body_fails")] == {"FAILED"}
    (seconds,) = [
        float(match[1])
        for line in teardown_run.result.stdout.lines
        if (match := re.fullmatch(r"([\d.]+)s teardown +\S+::test_body_fails", line))
    ]
    assert seconds < 10  # it would wait 30 s for the step


WHICH = """
    import pytest
    import pytest_twisted
    from twisted.internet import defer, reactor
    from twisted.internet.defer import inlineCallbacks

    from pytest_tcpclient.blocking import BlockingServer
    from pytest_tcpclient.plugin import PytestServer


    def test_plain(tcpserver, tcpserver_factory):
        assert isinstance(tcpserver, BlockingServer)
        assert isinstance(tcpserver_factory(), BlockingServer)


    class TestInAClass:
        def test_method(self, tcpserver):
            assert isinstance(tcpserver, BlockingServer)


    @pytest_twisted.inlineCallbacks
    def test_inline_callbacks(tcpserver):
        assert isinstance(tcpserver, PytestServer)
        yield tcpserver.join()


    @pytest_twisted.ensureDeferred
    async def test_ensure_deferred(tcpserver_factory):
        assert isinstance(tcpserver_factory(), PytestServer)
        await tcpserver_factory.stop()


    @inlineCallbacks
    def test_twisted_inline_callbacks(tcpserver):
        assert isinstance(tcpserver, PytestServer)
        yield tcpserver.join()


    @pytest.mark.tcpserver_reactor("twisted")
    def test_returns_a_deferred(tcpserver):
        assert isinstance(tcpserver, PytestServer)
        return tcpserver.join()


    @pytest.mark.tcpserver_reactor("thread")
    @pytest_twisted.inlineCallbacks
    def test_thread_asked_for(tcpserver):
        assert isinstance(tcpserver, BlockingServer)
        yield defer.succeed(tcpserver.join())


    @pytest.mark.tcpserver_reactor("elsewhere")
    def test_bad_marker(tcpserver):
        pass
"""


def test_plain_tests_get_the_thread_and_twisted_style_tests_the_reactor(run_once):
    report = run_once("which", files(test_which=WHICH))
    report.result.assert_outcomes(passed=7, errors=1)
    report.result.stdout.fnmatch_lines(
        [
            "*test_which.py::test_bad_marker: tcpserver_reactor() takes 'thread' or "
            "'twisted', not ('elsewhere')"
        ]
    )


USAGE = """
    import pytest

    from pytest_tcpclient import scripted_server


    def test_bad_argument(tcpserver):
        tcpserver.expect_bytes("text")


    def test_stopped_server(tcpserver_factory):
        server = tcpserver_factory()
        tcpserver_factory.stop()
        server.expect_connect()


    def test_scripted_server_fails_on_leaving():
        with scripted_server(timeout=0.05) as server:
            server.expect_connect()
"""

USAGE_ERRORS = {
    "test_bad_argument": (
        '        tcpserver.expect_bytes("text")',
        "TypeError: expect_bytes() argument 'data' must be bytes, bytearray or "
        "memoryview, not str",
    ),
    "test_stopped_server": (
        "        server.expect_connect()",
        "pytest_tcpclient.ServerStopped: cannot declare expect_connect(): the server on "
        "port {port} has stopped",
    ),
    "test_scripted_server_fails_on_leaving": (
        "        with scripted_server(timeout=0.05) as server:",
        "pytest_tcpclient.ScriptFailure: Timed out waiting for a connection",
    ),
}


@pytest.mark.parametrize("name", sorted(USAGE_ERRORS))
def test_errors_show_at_the_callers_line_with_no_frame_of_the_plugin(run_once, name):
    report = run_once("usage", files(test_usage=USAGE))
    report.result.assert_outcomes(failed=len(USAGE_ERRORS))
    line, error = USAGE_ERRORS[name]
    lines = report.section(name)
    index = lines.index(f">{line[1:]}")
    raised = lines[index + 1].removeprefix("E").strip()
    assert re.fullmatch(re.escape(error).replace(r"\{port\}", r"\d+"), raised)
    assert report.internals(name) == []


NO_TWISTED = """
    from helpers import client


    def test_plain(tcpserver):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"x")
        with client(tcpserver.service_port) as s:
            s.sendall(b"x")
        tcpserver.join()


    def test_plain_fails(tcpserver):
        tcpserver.expect_connect(timeout=0.05)
        tcpserver.join()
"""


def test_plain_tests_run_without_pytest_twisted(pytester):
    files(helpers=HELPERS, test_plain=NO_TWISTED)(pytester.path)
    result = pytester.runpytest_subprocess("-p", "no:twisted", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E       Failed: Timed out waiting for a connection"])


def test_plain_tests_run_under_xdist(pytester, reactor_name):
    pytest.importorskip("xdist")
    tests = NO_TWISTED.replace("(tcpserver)", "_{i}(tcpserver)")
    many = "\n".join(tests.replace("{i}", str(i)) for i in range(10))
    files(helpers=HELPERS, test_plain=many)(pytester.path)
    result = pytester.runpytest_subprocess(
        f"--reactor={reactor_name}", "-n", "2", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=10, failed=10)
    result.stdout.fnmatch_lines(["*2 workers*"])


MIXED = """
    import asyncio

    import pytest
    import pytest_twisted
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol

    from helpers import client
    from pytest_tcpclient.trial import TCPServerTestCase


    # Trial first: trial runs the global reactor itself, which it cannot do once
    # pytest-twisted runs it (see the README's trial section).
    class TrialTests(TCPServerTestCase):
        async def test_trial(self):
            self.tcpserver.expect_connect(timeout=0.05)
            await self.assertFailure(self.tcpserver.join(), self.failureException)


    def plain(server):
        server.expect_connect()
        server.expect_bytes(b"x")
        with client(server.service_port) as s:
            s.sendall(b"x")
        server.join()


    def test_plain(tcpserver):
        plain(tcpserver)


    @pytest_twisted.ensureDeferred
    async def test_twisted(tcpserver):
        tcpserver.expect_connect()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", tcpserver.service_port)
        connected = await connectProtocol(endpoint, Protocol())
        connected.transport.loseConnection()
        await tcpserver.join()


    @pytest.mark.asyncio
    async def test_asyncio(tcpserver):
        tcpserver.expect_connect()
        reader, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
        writer.close()
        await writer.wait_closed()
        await tcpserver.join()


    def test_plain_again(tcpserver_factory):
        plain(tcpserver_factory())
"""


def test_plain_tests_share_a_session_with_every_other_face(run_once):
    report = run_once("mixed", files(helpers=HELPERS, test_mixed=MIXED))
    report.result.assert_outcomes(passed=5)


LEAK_CONFTEST = """
import os
import threading

COUNTS = {}


def resources():
    return len(os.listdir("/proc/self/fd")), threading.active_count()


def pytest_runtest_logfinish(nodeid, location):
    COUNTS["tests"] = COUNTS.get("tests", 0) + 1
    if COUNTS["tests"] == 1:
        COUNTS["first"] = resources()


def pytest_terminal_summary(terminalreporter):
    (fds, threads), (fds_end, threads_end) = COUNTS["first"], resources()
    terminalreporter.write_line(
        f"after the first test: {fds} descriptors, {threads} threads; "
        f"after {COUNTS['tests']}: {fds_end} descriptors, {threads_end} threads"
    )
"""

LEAK_TESTS = """
    import pytest

    from helpers import client


    @pytest.mark.parametrize("n", range({count}))
    def test_hello(tcpserver_factory, tcpserver, n):
        for server in (tcpserver, tcpserver_factory()):
            server.expect_connect()
            server.expect_bytes(b"hello")
            server.send_bytes(b"hello")
            with client(server.service_port) as s:
                s.sendall(b"hello")
                assert s.recv(5) == b"hello"
        tcpserver.join()
"""

RESOURCES = (
    r"after the first test: (\d+) descriptors, (\d+) threads; "
    r"after (\d+): (\d+) descriptors, (\d+) threads"
)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd")
def test_a_thousand_plain_tests_leak_no_descriptor_and_no_thread(run_once):
    count = 1000
    prepare = files(
        conftest=LEAK_CONFTEST, helpers=HELPERS, test_leak=LEAK_TESTS.format(count=count)
    )
    report = run_once("leak", prepare, "-q")
    report.result.assert_outcomes(passed=count)
    (found,) = [
        m for line in report.result.stdout.lines if (m := re.search(RESOURCES, line))
    ]
    fds, threads, tests, fds_end, threads_end = map(int, found.groups())
    print(found[0])
    assert tests == count
    assert (fds_end, threads_end) == (fds, threads)


UNITTEST = """
    import socket
    import unittest

    from pytest_tcpclient import scripted_server


    class Tests(unittest.TestCase):
        def test_passes(self):
            with scripted_server() as server:
                server.expect_connect()
                server.expect_bytes(b"hi")
                with socket.create_connection(("127.0.0.1", server.service_port), 5) as s:
                    s.sendall(b"hi")
                server.join()

        def test_join_fails(self):
            with scripted_server() as server:
                server.expect_connect(timeout=0.05)
                server.join()

        def test_leaving_the_block_fails(self):
            with scripted_server(timeout=0.05) as server:
                server.expect_connect()

        def test_error_wins(self):
            with scripted_server(timeout=0.05) as server:
                server.expect_connect()
                raise KeyError("the test's own")


    if __name__ == "__main__":
        unittest.main()
"""


def test_unittest_counts_a_script_failure_as_a_failure(pytester):
    files(test_unit=UNITTEST)(pytester.path)
    result = pytester.run(sys.executable, "-m", "unittest", "-v", "test_unit", timeout=60)
    output = result.stderr.str()
    assert "FAILED (failures=2, errors=1)" in output
    assert re.search(r"test_passes .*\.\.\. ok", output)
    for name in ("test_join_fails", "test_leaving_the_block_fails"):
        assert re.search(rf"{name} .*\.\.\. FAIL", output)
    assert re.search(r"test_error_wins .*\.\.\. ERROR", output)
    assert "ScriptFailure: Timed out waiting for a connection" in output
    assert 'KeyError: "the test\'s own"' in output
