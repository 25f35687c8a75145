"""The asyncio bridge end to end: the asyncio examples, sessions that mix
asyncio and Twisted tests, pytest-asyncio's modes and loop scopes, anyio, and
a leak check over hundreds of tests.

Each rule is checked by running pytest in a subprocess (pytester), as a user
runs it, on this run's pytest-twisted reactor unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import runpy
import shutil
import textwrap
from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "asyncio"
_demo = runpy.run_path(str(ROOT / "examples" / "demo.py"), run_name="asyncio_examples_demo")
expectation = _demo["expectation"]
"""The outcome an example's docstring promises, as ``examples/demo.py`` reads it."""
EXAMPLE_FILES = _demo["example_files"](EXAMPLES)

QUIET = ("-o", "asyncio_default_fixture_loop_scope=function")
"""Silences pytest-asyncio's warning about an unset default fixture loop scope."""
STRICT_WARNINGS = ("-W", "error::pytest.PytestUnraisableExceptionWarning")
"""As the project's own configuration: an exception nobody could raise is an error."""


# -- the code the generated test files share ------------------------------------------


async def hello(server):
    """A conversation that passes, with an asyncio stream client that closes
    properly: greet the server, read its reply, close and wait until closed."""
    server.expect_connect()
    server.expect_bytes(b"Hello, server!")
    server.send_bytes(b"Hello, client!")
    server.expect_disconnect()
    reader, writer = await asyncio.open_connection(None, server.service_port)
    writer.write(b"Hello, server!")
    assert await reader.readexactly(14) == b"Hello, client!"
    writer.close()
    await writer.wait_closed()
    await server.join()


class TwistedClient(Protocol):
    """Sends ``request`` once connected and keeps what it receives; ``closed``
    fires once the connection has ended."""

    def __init__(self, request):
        self.request = request
        self.received = b""
        self.closed = Deferred()

    def connectionMade(self):
        self.transport.write(self.request)

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed.callback(None)


async def twisted_hello(server):
    """A conversation that passes, with a Twisted client on the global reactor;
    the server hangs up after its reply."""
    server.expect_connect()
    server.expect_bytes(b"Hello, server!")
    server.send_bytes(b"Hello, client!")
    server.disconnect()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.service_port)
    client = await connectProtocol(endpoint, TwistedClient(b"Hello, server!"))
    await client.closed
    assert client.received == b"Hello, client!"
    await server.join()


CLIENTS = "\n\n".join(
    [
        "import asyncio",
        "from twisted.internet import reactor",
        "from twisted.internet.defer import Deferred",
        "from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol",
        "from twisted.internet.protocol import Protocol",
        *(inspect.getsource(code) for code in (hello, TwistedClient, twisted_hello)),
    ]
)
"""The helpers above, as module ``clients`` of the generated test files."""

CONFTEST = '''
import asyncio

import pytest
import pytest_asyncio

INSTALLED = {}


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    from twisted.internet import reactor

    INSTALLED["reactor"] = reactor


@pytest.fixture
def installed_reactor():
    """The global reactor pytest-twisted installed as the session started."""
    return INSTALLED["reactor"]


def left_behind(loop_scope):
    """A fixture that, once the test's servers are torn down, checks that the
    test's loop holds nothing of them: no callback ready or scheduled, no
    descriptor watched but the loop's own, no attribute patched. Request it
    before tcpserver."""

    @pytest_asyncio.fixture(loop_scope=loop_scope, name=f"left_behind_{loop_scope}")
    async def fixture():
        loop = asyncio.get_running_loop()
        attributes = dict(vars(loop))
        yield loop
        scheduled = [handle for handle in loop._scheduled if not handle.cancelled()]
        watched = [key.fd for key in loop._selector.get_map().values()]
        watched.remove(loop._ssock.fileno())
        patched = sorted(name for name in vars(loop) if name not in attributes)
        left = (list(loop._ready), scheduled, watched, patched)
        assert left == ([], [], [], [])

    return fixture


left_behind_function = left_behind("function")
left_behind_class = left_behind("class")
left_behind_module = left_behind("module")
left_behind_session = left_behind("session")
'''
"""The conftest of the generated test files."""


def files(conftest: str = "", **sources: str):
    """``prepare`` for ``run_once``: the shared helpers and conftest (with
    ``conftest`` added), then each ``name=source`` as ``name.py``."""

    def write(path: Path) -> None:
        (path / "clients.py").write_text(CLIENTS)
        (path / "conftest.py").write_text(CONFTEST + conftest)
        for name, source in sources.items():
            (path / f"{name}.py").write_text(textwrap.dedent(source))

    return write


def failure_at(report, test: str, line: str) -> str | None:
    """The diagnostic's first line that the report of ``test`` shows right
    under ``line`` of the test (marked ``>``); None if there is none."""
    section = report.section(test)
    marked = f">       {line}"
    if marked not in section:
        return None
    under = section[section.index(marked) + 1]
    match = re.fullmatch(r"E       Failed: (.*)", under)
    return match and match[1]


def assert_failed_at(report, test: str, line: str, first_line: str) -> None:
    """``test`` failed with ``first_line`` as pytest's own failure, right under
    its ``line``, and its report shows no frame of Twisted or of the plugin."""
    __tracebackhide__ = True
    assert report.outcome(test) == "failed"
    assert failure_at(report, test, line) == first_line
    assert report.internals(test) == []


# -- the examples --------------------------------------------------------------------


@pytest.fixture
def examples_report(run_once):
    """examples/asyncio, run once for this module as a user runs it."""

    def copy(path: Path) -> None:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(EXAMPLES, path, dirs_exist_ok=True, ignore=ignore)

    return run_once("examples", copy, *QUIET, *STRICT_WARNINGS)


SEED_FAILURE = "Timed out waiting for b'Hello, world!'"
SEED_OUTCOMES = {
    "test_hello": "passed",
    "test_expect_bytes_times_out": "failed",
    "test_expect_frame_success": "passed",
    "test_send_frame_success": "passed",
}


def test_the_seed_examples_give_the_seed_outcomes_and_failure_line(examples_report):
    report = examples_report
    assert {name: report.outcome(name) for name in SEED_OUTCOMES} == SEED_OUTCOMES

    name = "test_expect_bytes_times_out"
    section = report.section(name)
    assert [line for line in section if line.startswith(">")] == [
        ">       await tcpserver.join()"
    ]
    assert_failed_at(report, name, "await tcpserver.join()", SEED_FAILURE)
    assert re.fullmatch(rf"{name}\.py:\d+: Failed", section[-1])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.stem)
def test_the_example_behaves_as_its_docstring_says(examples_report, path: Path):
    report, name, expected = examples_report, path.stem, expectation(path)
    outcome = report.outcome(name)
    assert outcome == expected.outcome
    if outcome == "failed":
        # The join of the tcpserver fixture, or of a server the factory made.
        joined = "server" if "tcpserver_factory(" in path.read_text() else "tcpserver"
        assert_failed_at(report, name, f"await {joined}.join()", expected.failure)
    elif outcome == "error":
        # As pytest.fail(pytrace=False) reports it: the diagnostic alone.
        section = report.section(name, "teardown")
        assert next(line for line in section if line) == expected.failure
        assert report.internals(name, "teardown") == []


def test_the_examples_cover_the_diagnostics_and_the_client_side_checks():
    failures = {path.stem: expectation(path).failure for path in EXAMPLE_FILES}
    patterns = [
        r"Timed out waiting for b'.*'",
        r"Expected b'.*' but received b'.*' \(first difference at offset \d+\)",
        r"Expected b'.*' but the client closed the connection after b'.*'",
        r"Timed out waiting for a connection",
        r"Timed out waiting for the client to close the connection",
        r"Expected the client to close the connection, but it sent b'.*'",
        r"Expected one connection at a time, .*",
        r"Timed out waiting for frame b'.*'",
        r"Expected frame b'.*' but received frame b'.*'",
    ]
    shown = [failure or "" for failure in failures.values()]
    missing = [p for p in patterns if not any(re.fullmatch(p, line) for line in shown)]
    assert not missing
    client_side = [
        "test_writer_close_not_called",
        "test_wait_closed_not_awaited",
        "test_unread_bytes",
        "test_reset_with_unread_data",
    ]
    assert all(failures.get(name) for name in client_side)
    teardown = [path.stem for path in EXAMPLE_FILES if expectation(path).outcome == "error"]
    assert teardown == ["test_teardown_without_join"]


# -- asyncio and Twisted tests in one session ------------------------------------------

ASYNCIO_TESTS = """
    import asyncio

    import pytest
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    from clients import hello


    def check_reactors(server, installed_reactor, request):
        # The global reactor is still the one pytest-twisted installed...
        from twisted.internet import reactor

        assert reactor is installed_reactor
        asyncio_reactor = request.config.getoption("reactor") == "asyncio"
        assert isinstance(reactor, AsyncioSelectorReactor) == asyncio_reactor
        # ...and the server runs on another, bound to the loop that runs the test.
        loop = asyncio.get_running_loop()
        assert server._factory.reactor is not reactor
        assert server._factory.reactor._asyncioEventloop is loop
        assert getattr(reactor, "_asyncioEventloop", None) is not loop


    @pytest.mark.asyncio
    async def test_asyncio_tcpserver(
        left_behind_function, tcpserver, installed_reactor, request
    ):
        check_reactors(tcpserver, installed_reactor, request)
        await hello(tcpserver)


    @pytest.mark.asyncio
    async def test_asyncio_tcpserver_factory(
        left_behind_function, tcpserver_factory, installed_reactor, request
    ):
        servers = [await tcpserver_factory(), await tcpserver_factory()]
        for server in servers:
            check_reactors(server, installed_reactor, request)
            await hello(server)
        await tcpserver_factory.stop()
"""

TWISTED_TESTS = """
    import pytest_twisted
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred

    from clients import twisted_hello


    @pytest_twisted.inlineCallbacks
    def test_twisted_inline_callbacks(tcpserver, installed_reactor):
        assert reactor is installed_reactor
        assert tcpserver._factory.reactor is reactor
        yield ensureDeferred(twisted_hello(tcpserver))


    @pytest_twisted.ensureDeferred
    async def test_twisted_ensure_deferred(tcpserver_factory, installed_reactor):
        assert reactor is installed_reactor
        servers = [tcpserver_factory(), tcpserver_factory()]
        for server in servers:
            assert server._factory.reactor is reactor
            await twisted_hello(server)
        await tcpserver_factory.stop()
"""

ORDERS = {
    "asyncio first": ("test_with_asyncio.py", "test_with_twisted.py"),
    "twisted first": ("test_with_twisted.py", "test_with_asyncio.py"),
}


def ran_in_order(report, modules: tuple[str, ...]) -> list[str]:
    """The modules of the tests the report lists as PASSED, in the order they ran,
    each once."""
    ran = [
        match[1]
        for line in report.result.stdout.lines
        if (match := re.match(r"PASSED (\S+?)::", line))
    ]
    return [module for index, module in enumerate(ran) if module not in ran[:index]]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("reactor_name", ["default", "asyncio"])
def test_asyncio_and_twisted_tests_using_the_fixtures_share_a_session(
    run_once, reactor_name: str, order: str
):
    """pytest-asyncio tests and pytest-twisted tests (inlineCallbacks and
    ensureDeferred) all use tcpserver and tcpserver_factory in one session, on
    either reactor, whichever kind runs first. In the asyncio tests, the global
    reactor is still the one pytest-twisted installed, and the servers run on
    another, bound to the test's loop."""
    prepare = files(test_with_asyncio=ASYNCIO_TESTS, test_with_twisted=TWISTED_TESTS)
    modules = ORDERS[order]
    report = run_once((reactor_name, order), prepare, *QUIET, *STRICT_WARNINGS, *modules)
    report.result.assert_outcomes(passed=4)
    assert ran_in_order(report, modules) == list(modules)


PLAIN_ASYNCIO_TESTS = """
    import asyncio

    import pytest
    import pytest_asyncio


    @pytest_asyncio.fixture
    async def loop_of_fixture():
        yield asyncio.get_running_loop()


    @pytest.mark.asyncio
    async def test_plain_asyncio(loop_of_fixture):
        loop = asyncio.get_running_loop()
        assert loop is loop_of_fixture
        done = loop.create_future()
        loop.call_soon(done.set_result, "ran")
        assert await done == "ran"


    @pytest.mark.asyncio
    async def test_plain_asyncio_again():
        queue = asyncio.Queue()
        _, got = await asyncio.gather(queue.put("ran"), queue.get())
        assert got == "ran"
"""

PLAIN_TWISTED_TESTS = """
    import pytest_twisted
    from twisted.internet import reactor, task


    @pytest_twisted.inlineCallbacks
    def test_twisted_inline_callbacks():
        assert (yield task.deferLater(reactor, 0, lambda: "ran")) == "ran"


    @pytest_twisted.ensureDeferred
    async def test_twisted_ensure_deferred():
        assert await task.deferLater(reactor, 0, lambda: "ran") == "ran"
"""

THE_TRAP = (
    r"E +RuntimeError: (Cannot run the event loop while another loop is running"
    r"|Runner\.run\(\) cannot be called from a running event loop)"
)
"""How a pytest-asyncio test fails beside pytest-twisted's asyncio reactor."""


@pytest.mark.parametrize(
    ("order", "plugin"),
    [("asyncio first", True), ("twisted first", True), ("twisted first", False)],
    ids=["asyncio-first", "twisted-first", "twisted-first-without-the-plugin"],
)
def test_plain_asyncio_tests_run_beside_twisted_tests_on_the_asyncio_reactor(
    run_once, order: str, plugin: bool
):
    """The asyncio tests use neither fixture: the plugin being installed is
    enough. Without it, they fail with pytest-twisted's asyncio reactor, as
    they always did: the known trap."""
    prepare = files(
        test_with_asyncio=PLAIN_ASYNCIO_TESTS, test_with_twisted=PLAIN_TWISTED_TESTS
    )
    modules = ORDERS[order]
    args = [*QUIET, "--reactor=asyncio", *modules]
    if not plugin:
        args += ["-p", "no:tcpclient"]
    report = run_once(("plain", order, plugin), prepare, *args)
    if plugin:
        report.result.assert_outcomes(passed=4)
        assert ran_in_order(report, modules) == list(modules)
    else:
        # The fixture of the one asyncio test fails, the other test itself.
        report.result.assert_outcomes(passed=2, failed=1, errors=1)
        assert report.outcome("test_twisted_ensure_deferred") == "passed"
        assert report.outcome("test_twisted_inline_callbacks") == "passed"
        report.result.stdout.re_match_lines([THE_TRAP, THE_TRAP])


NO_CONNECTION = "Timed out waiting for a connection"
"""How the generated tests that fail on purpose fail."""


# -- pytest-asyncio's modes and loop scopes ------------------------------------------------

STRICT_MODE_TESTS = """
    import asyncio

    import pytest

    from clients import hello

    pytestmark = pytest.mark.asyncio


    async def test_marked_by_the_module(left_behind_function, tcpserver):
        assert tcpserver._factory.reactor._asyncioEventloop is asyncio.get_running_loop()
        await hello(tcpserver)


    class TestMarkedByTheModule:
        async def test_factory(self, left_behind_function, tcpserver_factory):
            server = await tcpserver_factory()
            await hello(server)
            await tcpserver_factory.stop()

        async def test_factory_stop_fails(self, left_behind_function, tcpserver_factory):
            server = await tcpserver_factory()
            server.expect_connect(timeout=0.1)
            await tcpserver_factory.stop()
"""

AUTO_MODE_TESTS = """
    import asyncio

    import pytest_twisted
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred

    from clients import hello, twisted_hello
    from pytest_tcpclient.blocking import BlockingServer


    async def test_unmarked(left_behind_function, tcpserver):
        assert tcpserver._factory.reactor._asyncioEventloop is asyncio.get_running_loop()
        await hello(tcpserver)


    async def test_unmarked_factory(left_behind_function, tcpserver_factory):
        servers = [await tcpserver_factory(), await tcpserver_factory()]
        for server in servers:
            await hello(server)
        await tcpserver_factory.stop()


    async def test_unmarked_fails_at_join(tcpserver):
        tcpserver.expect_connect(timeout=0.1)
        await tcpserver.join()


    def test_not_a_coroutine(tcpserver):
        # Not pytest-asyncio's: a plain test, whose server runs on the reactor thread.
        assert isinstance(tcpserver, BlockingServer)


    @pytest_twisted.inlineCallbacks
    def test_twisted(tcpserver):
        assert tcpserver._factory.reactor is reactor
        yield ensureDeferred(twisted_hello(tcpserver))
"""


@pytest.mark.parametrize(
    ("mode", "tests", "passed", "failing", "line"),
    [
        (
            "strict",
            STRICT_MODE_TESTS,
            2,
            "test_factory_stop_fails",
            "tcpserver_factory.stop()",
        ),
        ("auto", AUTO_MODE_TESTS, 4, "test_unmarked_fails_at_join", "tcpserver.join()"),
    ],
)
def test_pytest_asyncio_runs_its_tests_on_the_bridge_in_either_mode(
    run_once, mode: str, tests: str, passed: int, failing: str, line: str
):
    """Strict mode: the tests marked asyncio. Auto mode: every coroutine test,
    marked or not; the others stay on the global reactor."""
    prepare = files(**{f"test_{mode}": tests})
    report = run_once(mode, prepare, "-o", f"asyncio_mode={mode}", *QUIET)
    report.result.assert_outcomes(passed=passed, failed=1)
    assert_failed_at(report, failing, f"await {line}", NO_CONNECTION)


LOOP_SCOPE_TESTS = """
    import asyncio

    import pytest

    from clients import hello

    LOOPS = []


    def shared_loop(server):
        loop = asyncio.get_running_loop()
        assert server._factory.reactor._asyncioEventloop is loop
        LOOPS.append(loop)


    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_loop_first(left_behind_module, tcpserver):
        shared_loop(tcpserver)
        await hello(tcpserver)


    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_loop_fails_at_join(left_behind_module, tcpserver):
        shared_loop(tcpserver)
        tcpserver.expect_connect(timeout=0.1)
        await tcpserver.join()


    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_loop_body_fails(left_behind_module, tcpserver):
        # Teardown neither waits 30 s for the client nor leaves the step's timer
        # on the shared loop (left_behind_module).
        shared_loop(tcpserver)
        tcpserver.expect_connect(timeout=30)
        assert False, "the test body fails"


    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_loop_factory(left_behind_module, tcpserver_factory):
        server = await tcpserver_factory()
        shared_loop(server)
        await hello(server)


    @pytest.mark.asyncio  # on the module's loop too: see the ini option
    async def test_module_loop_by_default(left_behind_module, tcpserver):
        shared_loop(tcpserver)
        await hello(tcpserver)


    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_loop_last(left_behind_module, tcpserver):
        shared_loop(tcpserver)
        await hello(tcpserver)
        assert len(LOOPS) == 6
        assert len(set(LOOPS)) == 1


    @pytest.mark.asyncio(loop_scope="class")
    class TestClassLoop:
        loops = []

        async def test_first(self, left_behind_class, tcpserver):
            shared_loop(tcpserver)
            self.loops.append(asyncio.get_running_loop())
            await hello(tcpserver)

        async def test_second(self, left_behind_class, tcpserver):
            shared_loop(tcpserver)
            await hello(tcpserver)
            assert self.loops == [asyncio.get_running_loop()]
            assert self.loops[0] is not LOOPS[0]


    @pytest.mark.asyncio(loop_scope="session")
    async def test_session_loop(left_behind_session, tcpserver):
        shared_loop(tcpserver)
        await hello(tcpserver)
"""


def test_tests_that_share_a_loop_share_it_with_their_servers(run_once):
    """Several tests on one module-, class- or session-scoped loop, set by
    their mark or by the ini option asyncio_default_test_loop_scope: each
    test's servers run on that loop and leave nothing on it for the next."""
    prepare = files(test_loop_scopes=LOOP_SCOPE_TESTS)
    default = ("-o", "asyncio_default_test_loop_scope=module")
    report = run_once("loop scopes", prepare, *default, *QUIET, *STRICT_WARNINGS)
    report.result.assert_outcomes(passed=7, failed=2)
    name = "test_module_loop_fails_at_join"
    assert_failed_at(report, name, "await tcpserver.join()", NO_CONNECTION)
    report.result.stdout.fnmatch_lines(["E  *AssertionError: the test body fails"])
    assert report.outcome("test_module_loop_body_fails") == "failed"  # no teardown error


TEARDOWN_WAITS_TESTS = """
    import asyncio

    import pytest


    async def left_open(server, timeout=None):
        # greets the server and returns, closing its connection only later
        server.expect_connect()
        server.expect_bytes(b"hi")
        server.expect_disconnect(timeout=timeout)
        _, writer = await asyncio.open_connection(None, server.service_port)
        writer.write(b"hi")
        return writer


    def close_later(writer):
        async def close():
            writer.close()
            await writer.wait_closed()

        asyncio.get_running_loop().call_later(0.05, asyncio.ensure_future, close())


    @pytest.mark.asyncio
    async def test_closes_after_the_body(tcpserver):
        close_later(await left_open(tcpserver))


    @pytest.mark.asyncio(loop_scope="module")
    async def test_closes_after_the_body_on_a_module_loop(tcpserver):
        close_later(await left_open(tcpserver))


    @pytest.mark.asyncio
    async def test_never_closes(tcpserver):
        writer = await left_open(tcpserver, timeout=0.2)
        pytest.never_closed = writer  # kept open past the teardown
"""


def test_teardown_runs_the_tests_loop_for_what_the_body_left_to_do(run_once):
    """A test that returns before its client closes: teardown turns the test's
    loop until the close comes, or the step's timeout fails the teardown."""
    report = run_once("teardown waits", files(test_waits=TEARDOWN_WAITS_TESTS), *QUIET)
    report.result.assert_outcomes(passed=3, errors=1)
    assert report.outcome("test_closes_after_the_body") == "passed"
    assert report.outcome("test_closes_after_the_body_on_a_module_loop") == "passed"
    section = report.section("test_never_closes", "teardown")
    assert section[0] == "Timed out waiting for the client to close the connection"
    assert report.internals("test_never_closes", "teardown") == []


LOOP_AWAY_TESTS = """
    import asyncio
    import socket

    import pytest


    @pytest.fixture
    def late_client():
        # Torn down before the servers: the client sends once the test's loop
        # ran last, and the servers' clock jumps 5 s before the loop runs again
        # (a slow teardown, a busy machine), with no sleep.
        late = {}
        yield late
        late["client"].sendall(b"hi")
        late["client"].close()
        reactor = late["reactor"]
        reactor.seconds = lambda later=reactor.seconds() + 5: later


    @pytest.mark.asyncio
    async def test_client_sends_after_the_body(tcpserver, late_client):
        tcpserver.expect_connect()
        client = socket.create_connection(("127.0.0.1", tcpserver.service_port))
        await tcpserver.join()
        tcpserver.expect_bytes(b"hi")  # its timeout, 1 s, starts now
        tcpserver.expect_disconnect()
        late_client.update(client=client, reactor=tcpserver._factory.reactor)
"""


def test_teardown_reads_what_came_while_the_loop_was_away_before_timing_out(run_once):
    """A step whose timeout ran out while the test's loop did not run is not
    failed before what the client sent in time is read: teardown turns the
    loop, which reads first, rather than running the timers that are due."""
    report = run_once("loop away", files(test_away=LOOP_AWAY_TESTS), *QUIET)
    assert report.outcome("test_client_sends_after_the_body") == "passed", (
        report.result.stdout.str()
    )


LOOP_FREED_TESTS = """
    import asyncio
    import gc
    import weakref

    import pytest

    from pytest_tcpclient.plugin import _SERVERS

    ALIVE = []


    @pytest.mark.asyncio
    async def test_talk(tcpserver, request):
        gc.collect()
        gc.disable()
        ALIVE.append(weakref.ref(asyncio.get_running_loop()))
        ALIVE.append(weakref.ref(tcpserver))
        ALIVE.append(weakref.ref(tcpserver._factory.script))
        ALIVE.append(weakref.ref(request.node.stash[_SERVERS]))  # the test's servers
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"hi")
        tcpserver.expect_disconnect()
        # 127.0.0.1, not None: a refused try of ::1 first would leave asyncio's
        # own cycle (an exception's frames) holding the loop
        _, writer = await asyncio.open_connection("127.0.0.1", tcpserver.service_port)
        writer.write(b"hi")
        writer.close()
        await writer.wait_closed()
        await tcpserver.join()


    def test_the_loop_and_the_server_are_gone():
        alive = [each() for each in ALIVE]
        gc.enable()
        assert alive == [None, None, None, None]
"""


def test_a_finished_tests_loop_is_freed_without_the_garbage_collector(run_once):
    """Once its servers are torn down, nothing of the plugin keeps the test's
    loop, with all it holds, or its servers and their scripts, for the
    garbage collector to find."""
    report = run_once("loop freed", files(test_loop_freed=LOOP_FREED_TESTS), *QUIET)
    report.result.assert_outcomes(passed=2)


# -- anyio ---------------------------------------------------------------------------------

ANYIO_TESTS = """
    import asyncio

    import pytest

    from clients import hello


    @pytest.fixture
    def anyio_backend():
        return "asyncio"


    @pytest.mark.anyio
    async def test_anyio_tcpserver(tcpserver):
        assert tcpserver._factory.reactor._asyncioEventloop is asyncio.get_running_loop()
        await hello(tcpserver)


    @pytest.mark.anyio
    async def test_anyio_tcpserver_factory(tcpserver_factory):
        servers = [await tcpserver_factory(), await tcpserver_factory()]
        for server in servers:
            assert server._factory.reactor._asyncioEventloop is asyncio.get_running_loop()
            await hello(server)
        await tcpserver_factory.stop()


    @pytest.mark.anyio
    async def test_anyio_fails_at_join(tcpserver):
        tcpserver.expect_connect(timeout=0.1)
        await tcpserver.join()
"""


@pytest.mark.parametrize(
    "pytest_asyncio", [True, False], ids=["beside-pytest-asyncio", "without-pytest-asyncio"]
)
def test_anyio_tests_on_the_asyncio_backend_use_the_bridge(run_once, pytest_asyncio: bool):
    """With pytest-asyncio in its default strict mode, it leaves anyio's tests
    to anyio; without it (-p no:asyncio), nothing changes."""
    args = [*QUIET] if pytest_asyncio else ["-p", "no:asyncio"]
    report = run_once(("anyio", pytest_asyncio), files(test_anyio=ANYIO_TESTS), *args)
    report.result.assert_outcomes(passed=2, failed=1)
    name = "test_anyio_fails_at_join"
    assert_failed_at(report, name, "await tcpserver.join()", NO_CONNECTION)


def test_a_test_claimed_by_both_anyio_and_pytest_asyncio_auto_mode_is_refused(run_once):
    """In auto mode pytest-asyncio runs anyio's tests on its own loop while anyio
    runs their async fixtures on anyio's: the fixture says so, it never hangs."""
    args = ["-o", "asyncio_mode=auto", "-W", "ignore::pytest.PytestConfigWarning"]
    report = run_once("anyio-auto", files(test_anyio=ANYIO_TESTS), *args)
    report.result.assert_outcomes(errors=3)
    report.result.stdout.fnmatch_lines(
        ["*is claimed by both pytest-asyncio (auto mode) and anyio*"]
    )


# -- leaks ---------------------------------------------------------------------------------

LEAK_TESTS = """
    import pytest

    from clients import hello


    @pytest.mark.asyncio
    @pytest.mark.parametrize("n", range({count}))
    async def test_hello(left_behind_function, tcpserver, n):
        await hello(tcpserver)
"""

LEAK_CONFTEST = """

import os

COUNTS = {}


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def pytest_runtest_logfinish(nodeid, location):
    COUNTS["tests"] = COUNTS.get("tests", 0) + 1
    if COUNTS["tests"] == WARM_UP:
        COUNTS["start"] = open_descriptors()


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"open file descriptors: {COUNTS['start']} after {WARM_UP} tests, "
        f"{open_descriptors()} after {COUNTS['tests']}"
    )
"""
"""Counts the open file descriptors after ``WARM_UP`` tests and at the end."""

DESCRIPTORS = r"open file descriptors: (\d+) after (\d+) tests, (\d+) after (\d+)"

WARM_UP = 10
"""Tests run before the first count of open descriptors."""


def leak_run(run_once, count: int, release: bool = True) -> tuple[object, int, int]:
    """``count`` asyncio tests in one run, each a whole conversation with a server
    of its own; with ``release`` False, the bridge releases nothing at teardown
    and the servers' ports are left open and kept. Returns the report and the open
    descriptors after ``WARM_UP`` tests and at the end."""
    conftest = f"{LEAK_CONFTEST}\nWARM_UP = {WARM_UP}\n"
    if not release:
        conftest += "\nimport pytest_tcpclient.asyncio_bridge\n"
        conftest += "from pytest_tcpclient.core import ScriptedServer\n"
        conftest += "from twisted.internet.defer import succeed\n"
        conftest += "pytest_tcpclient.asyncio_bridge.release = lambda reactor: None\n"
        # What leaks is kept: the garbage collector would close the rest.
        conftest += "KEPT = []\n"
        conftest += "ScriptedServer.close = lambda s: KEPT.append(s) or succeed(None)\n"
    prepare = files(conftest, test_leak=LEAK_TESTS.format(count=count))
    report = run_once(("leak", count, release), prepare, *QUIET, *STRICT_WARNINGS)
    lines = report.result.stdout.lines
    (counted,) = [match for line in lines if (match := re.fullmatch(DESCRIPTORS, line))]
    assert (int(counted[2]), int(counted[4])) == (WARM_UP, count)
    return report, int(counted[1]), int(counted[3])


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc/self/fd"
)


@needs_proc
def test_hundreds_of_asyncio_tests_leak_no_descriptor_and_no_callback(run_once):
    """Each test checks at teardown that its loop holds no callback and watches
    no descriptor of its servers (left_behind_function); the whole run checks
    that the open descriptors do not grow."""
    count = 400
    report, start, end = leak_run(run_once, count)
    report.result.assert_outcomes(passed=count)
    print(f"open file descriptors: {start} after {WARM_UP} tests, {end} after {count}")
    assert end - start <= 5


@needs_proc
def test_the_leak_test_finds_a_leak(run_once):
    """The same tests, with the bridge's release() and the ports' close
    disabled: they leak."""
    count = 30
    report, start, end = leak_run(run_once, count, release=False)
    report.result.assert_outcomes(passed=count, errors=count)  # left_behind_function
    assert end - start > 5
