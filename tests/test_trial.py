"""The trial helper, :mod:`pytest_tcpclient.trial`, run as its users run it.

Trial runs the reactor itself, test by test, while this suite runs under
pytest-twisted, whose reactor is already running: so every trial test here
runs in a new process. ``python -m twisted.trial`` runs them on the reactor of
this run (``--reactor=default`` or ``--reactor=asyncio``), and pytest runs the
examples both with pytest-twisted active and with ``-p no:twisted``.

The module docstring of every example in ``examples/trial`` ends with how it
ends, as ``examples/demo.py`` reads it::

    Outcome: passed
    Outcome: failed
    Failure: <the first line of the diagnostic>
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "trial"
EXAMPLE_FILES = sorted(EXAMPLES.glob("test_*.py"))
TIMEOUT = 120  # seconds a run may take before it counts as hung
FAIL_TEST = "twisted.trial.unittest.FailTest"
"""How trial and pytest name the exception of a failure: trial's ``failureException``."""


@dataclass(frozen=True)
class Expected:
    """How an example promises to end: ``passed`` or ``failed``, and then how."""

    outcome: str
    failure: str | None = None


def expected(path: Path) -> Expected:
    """What the module docstring of example ``path`` promises."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    last = docstring.splitlines()[-2:]
    if last and last[-1] == "Outcome: passed":
        return Expected("passed")
    if len(last) == 2 and last[0] == "Outcome: failed" and last[1].startswith("Failure: "):
        return Expected("failed", last[1].removeprefix("Failure: "))
    raise ValueError(f"{path.name}: the docstring does not end with its outcome")


EXPECTED = {path.stem: expected(path) for path in EXAMPLE_FILES}
COUNTS = Counter(e.outcome for e in EXPECTED.values())


# -- running trial ---------------------------------------------------------------


@dataclass
class Problem:
    """One ``[FAIL]`` or ``[ERROR]`` block of trial's report."""

    kind: str
    exception: str
    message: str
    """The first line of the exception's message."""
    text: str


@dataclass
class TrialRun:
    """What ``python -m twisted.trial --reporter=bwverbose`` reported."""

    output: str
    summary: str = ""
    """The last line: ``PASSED (successes=N)``, ``FAILED (failures=N, successes=M)``..."""
    outcomes: dict[str, str] = field(default_factory=dict)
    """``OK``, ``FAILURE``, ``ERROR``, ``SKIPPED``... by test method name; a
    test reported more than once has them all, ``ERROR FAILURE``."""
    problems: dict[str, list[Problem]] = field(default_factory=dict)
    """The blocks that report each test method, by its name."""

    def __post_init__(self) -> None:
        lines = self.output.splitlines()
        self.summary = lines[-1] if lines else ""
        ids: dict[str, str] = {}
        for line in lines:
            if found := re.fullmatch(r"([\w.]+)\.(\w+) \.\.\. ((?:\[\w+\])+)", line):
                self.outcomes[found[2]] = found[3][1:-1].replace("][", " ")
                ids[f"{found[1]}.{found[2]}"] = found[2]
        for block in self.output.split("=" * 79)[1:]:
            block_lines = block.strip().splitlines()
            kind = block_lines[0].strip("[]")
            raised = next(
                (line for line in block_lines if re.match(r"[\w.]+: ", line)), ": "
            )
            exception, _, message = raised.partition(": ")
            problem = Problem(kind, exception, message, block)
            for test in (ids[line] for line in block_lines if line in ids):
                self.problems.setdefault(test, []).append(problem)


def run_trial(
    cwd: Path, reactor: str, *modules: str, path: Path = EXAMPLES, **env: str
) -> TrialRun:
    """Run ``modules`` with trial in a new process, from ``cwd``, importing from
    ``path`` and from the examples (their clients), with ``env`` added to the
    environment."""
    pythonpath = os.pathsep.join(dict.fromkeys([str(path), str(EXAMPLES)]))
    env = {**os.environ, "PYTHONPATH": pythonpath, **env}
    command = [sys.executable, "-m", "twisted.trial", f"--reactor={reactor}"]
    done = subprocess.run(
        [*command, "--reporter=bwverbose", *modules],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return TrialRun(done.stdout + done.stderr)


@pytest.fixture(scope="module")
def _runs() -> dict[object, object]:
    return {}


@pytest.fixture
def examples_by_trial(_runs, reactor_name: str, tmp_path_factory) -> TrialRun:
    """Every example, run once per module by trial on this run's reactor."""
    if "trial" not in _runs:
        modules = [path.stem for path in EXAMPLE_FILES]
        _runs["trial"] = run_trial(tmp_path_factory.mktemp("trial"), reactor_name, *modules)
    return _runs["trial"]


# -- the examples under trial -------------------------------------------------------


def test_every_example_holds_one_test_named_after_its_file():
    for path in EXAMPLE_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tests = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test")
        ]
        assert tests == [path.stem], path.name


def test_examples_show_every_style_and_both_outcomes():
    sources = {path.stem: path.read_text(encoding="utf-8") for path in EXAMPLE_FILES}
    styles = {
        "@inlineCallbacks": "@inlineCallbacks",
        "async def": "async def test_",
        "returns a Deferred": "return connected",
    }
    for style, marker in styles.items():
        outcomes = {
            EXPECTED[name].outcome for name, text in sources.items() if marker in text
        }
        assert outcomes == {"passed", "failed"}, style
    assert any("TCPServerMixin" in text for text in sources.values())
    assert any("tcpserver_factory" in text for text in sources.values())


def test_trial_counts_each_example_as_documented(examples_by_trial: TrialRun):
    run = examples_by_trial
    assert run.summary == (
        f"FAILED (failures={COUNTS['failed']}, successes={COUNTS['passed']})"
    ), run.output
    words = {"passed": "OK", "failed": "FAILURE"}
    actual = {name: run.outcomes.get(name) for name in EXPECTED}
    assert actual == {name: words[e.outcome] for name, e in EXPECTED.items()}


@pytest.mark.parametrize(
    "name", [name for name, e in EXPECTED.items() if e.failure], ids=str
)
def test_trial_shows_the_diagnostic_of_a_failing_example(
    examples_by_trial: TrialRun, name: str
):
    (problem,) = examples_by_trial.problems[name]
    assert (problem.kind, problem.exception) == ("FAIL", FAIL_TEST)
    assert problem.message == EXPECTED[name].failure
    # Under the first line, the conversation that led to it.
    assert "Conversation (oldest first):" in problem.text
    assert "  client connected" in problem.text


def test_trial_reports_a_join_failure_at_the_test_line(examples_by_trial: TrialRun):
    for name, join in [
        ("test_expect_bytes_times_out", "yield self.tcpserver.join()"),
        ("test_expect_bytes_times_out_async", "await self.tcpserver.join()"),
    ]:
        (problem,) = examples_by_trial.problems[name]
        lines = [line.strip() for line in problem.text.splitlines()]
        frame = lines.index(join)
        assert lines[frame - 1].startswith(f'File "{EXAMPLES / name}.py"')


def test_trial_leaves_the_reactor_clean_after_the_examples(examples_by_trial: TrialRun):
    assert "DirtyReactorAggregateError" not in examples_by_trial.output
    assert "errors=" not in examples_by_trial.summary


# -- the examples under pytest --------------------------------------------------------


@pytest.fixture(params=["pytest-twisted", "-p no:twisted"])
def examples_by_pytest(request, _runs, reactor_name: str) -> pytest.RunResult:
    """Every example, run by pytest with pytest-twisted active or disabled."""
    if request.param not in _runs:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        for path in [*EXAMPLE_FILES, EXAMPLES / "clients.py"]:
            (pytester.path / path.name).write_text(path.read_text(encoding="utf-8"))
        plugin = ["-p", "no:twisted"] if request.param == "-p no:twisted" else []
        reactor = [] if plugin else [f"--reactor={reactor_name}"]
        _runs[request.param] = pytester.runpytest_subprocess(
            *plugin, *reactor, "-p", "no:cacheprovider", "-rA", timeout=TIMEOUT
        )
    return _runs[request.param]


def test_pytest_runs_the_examples_as_documented(examples_by_pytest: pytest.RunResult):
    result = examples_by_pytest
    result.assert_outcomes(passed=COUNTS["passed"], failed=COUNTS["failed"])
    found = {}
    for line in result.outlines:
        if word := re.fullmatch(r"(PASSED|FAILED) \S+::\w+::(\w+)( - .*)?", line):
            found[word[2]] = word[1].lower()
    assert found == {name: e.outcome for name, e in EXPECTED.items()}


def test_pytest_shows_the_diagnostic_of_each_failing_example(
    examples_by_pytest: pytest.RunResult,
):
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in examples_by_pytest.outlines:
        if title := re.fullmatch(r"_{3,} \w+\.(\w+) _{3,}", line):
            current = sections.setdefault(title[1], [])
        else:
            current.append(line)
    for name, e in EXPECTED.items():
        if e.failure is not None:
            shown = re.compile(rf"E\s+{re.escape(FAIL_TEST)}: {re.escape(e.failure)}")
            assert any(shown.fullmatch(line) for line in sections[name]), name


# -- the mixin, unit by unit -------------------------------------------------------------

CASES = '''
import json
import os

from clients import Connection, connect  # the examples' clients
from twisted.internet import reactor, tcp
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial import unittest

from pytest_tcpclient.trial import TCPServerMixin, TCPServerTestCase

PORTS = []  # every port a test listened on; ZzLeftCleanTests checks them


def listening(server):
    """The reactor's listening port of ``server``, kept to check it closed.

    Its socket is checked, not its number: once closed, the number is free for
    the kernel to give to any socket, of this process or of another.
    """
    (port,) = [
        reader for reader in reactor.getReaders()
        if isinstance(reader, tcp.Port) and reader.getHost().port == server.service_port
    ]
    return server.service_port, port


def log(*event):
    with open(os.environ["EVENTS"], "a") as file:
        file.write(json.dumps(event) + "\\n")


class Tracked(TCPServerTestCase):
    def setUp(self):
        super().setUp()
        PORTS.append(listening(self.tcpserver))


class ProjectFailure(AssertionError):
    """A project's own failureException."""


class ProjectTestCase(unittest.TestCase):
    """A project's base class, with its own setUp and tearDown."""

    def setUp(self):
        log("project setUp", self.tcpserver.stopped)
        PORTS.append(listening(self.tcpserver))

    def tearDown(self):
        log("project tearDown", self.tcpserver.stopped)


class CooperativeTests(TCPServerMixin, ProjectTestCase):
    def setUp(self):
        log("test case setUp")
        return super().setUp()

    def test_cooperates(self):
        log("test")
        self.addCleanup(lambda: log("the test's cleanup", self.tcpserver.stopped))


class DeferredSetUpTests(TCPServerMixin, unittest.TestCase):
    """A base class whose setUp and tearDown return Deferreds."""

    def setUp(self):
        super().setUp()
        PORTS.append(listening(self.tcpserver))
        return deferLater(reactor, 0, setattr, self, "ready", True)

    def tearDown(self):
        return deferLater(reactor, 0, log, "deferred tearDown", self.tcpserver.stopped)

    @inlineCallbacks
    def test_waits_for_the_deferred_setUp(self):
        self.assertTrue(self.ready)
        self.tcpserver.expect_connect()
        client = yield connect(self, self.tcpserver.service_port, Connection())
        yield client.close()


class SettingsTests(Tracked):
    tcpserver_timeout = 0.25

    def test_settings(self):
        for server in (self.tcpserver, self.tcpserver_factory()):
            self.assertEqual((server.host, server.timeout), ("127.0.0.1", 0.25))


class FailureTests(Tracked):
    failureException = ProjectFailure

    def test_join_fails(self):
        self.tcpserver.expect_connect(timeout=0)
        return self.tcpserver.join()

    def test_check_after_the_test_fails(self):
        self.tcpserver.expect_connect(timeout=0)

    def test_factory_stop_fails(self):
        self.tcpserver_factory().expect_connect(timeout=0)
        return self.tcpserver_factory.stop()

    def test_failure_expected_by_the_test(self):
        self.tcpserver.expect_connect(timeout=0)
        return self.assertFailure(self.tcpserver.join(), ProjectFailure)

    @inlineCallbacks
    def test_unreported_script_failure_and_an_error(self):
        self.tcpserver.expect_connect()
        self.tcpserver.expect_bytes(b"PING")
        client = yield connect(self, self.tcpserver.service_port, Connection())
        client.transport.write(b"PONG")
        yield client.whenClosed()  # the server hangs up as the script fails
        raise ValueError("the test broke")


class ErrorTests(Tracked):
    timeout = 5  # trial's: no wait of a test or cleanup may take longer

    def test_error_stays_an_error(self):
        raise ValueError("the test broke")

    def test_failure_in_a_cleanup_stays_an_error(self):
        self.addCleanup(self.fail, "the cleanup failed")

    def test_failed_test_does_not_wait_for_its_script(self):
        self.tcpserver.expect_connect(timeout=60)
        self.fail("the test failed")

    def test_skipped_test_does_not_wait_for_its_script(self):
        self.tcpserver.expect_connect(timeout=60)
        raise unittest.SkipTest("skipped")

    def test_expected_failure_does_not_wait_for_its_script(self):
        self.tcpserver.expect_connect(timeout=60)
        self.fail("a known bug")

    test_expected_failure_does_not_wait_for_its_script.todo = "a known bug"

    def test_unexpected_success_does_not_wait_for_its_script(self):
        self.tcpserver.expect_connect(timeout=60)

    test_unexpected_success_does_not_wait_for_its_script.todo = "fixed since"

    def test_failed_test_with_a_pending_join_fails_once(self):
        self.tcpserver.expect_connect(timeout=60)
        self.tcpserver.join()  # nobody waits on it when the test fails
        self.fail("the test failed")


class SetUpFailsTests(TCPServerMixin, ProjectTestCase):
    @inlineCallbacks
    def setUp(self):
        super().setUp()
        self.tcpserver.expect_connect()
        yield connect(self, self.tcpserver.service_port, Connection())
        raise RuntimeError("setUp broke")

    def test_set_up_fails(self):
        pass


class ZzLeftCleanTests(TCPServerTestCase):
    """Runs last: nothing the tests before left is still there."""

    def test_left_clean(self):
        # A closed port's socket is closed: its file descriptor is -1.
        self.assertEqual([number for number, port in PORTS if port.fileno() != -1], [])
        pending = [c for c in reactor.getDelayedCalls() if "onTimeout" not in str(c)]
        self.assertEqual(pending, [])
        sockets = [
            s for s in reactor.getReaders() + reactor.getWriters()
            if isinstance(s, (tcp.Port, tcp.Connection))
            and s.getHost().port != self.tcpserver.service_port
        ]
        self.assertEqual(sockets, [])
'''


@dataclass
class UnitRun:
    trial: TrialRun
    events: list[list[object]]
    """What the cases logged, in order."""


@pytest.fixture
def unit_run(_runs, reactor_name: str, tmp_path_factory) -> UnitRun:
    """The unit cases, run once per module by trial on this run's reactor."""
    if "unit" not in _runs:
        directory = tmp_path_factory.mktemp("unit")
        (directory / "cases.py").write_text(textwrap.dedent(CASES))
        events = directory / "events.jsonl"
        run = run_trial(
            directory, reactor_name, "cases", path=directory, EVENTS=str(events)
        )
        lines = events.read_text().splitlines() if events.exists() else []
        _runs["unit"] = UnitRun(run, [json.loads(line) for line in lines])
    return _runs["unit"]


def problems(run: TrialRun, name: str) -> list[tuple[str, str, str]]:
    """How trial reported test ``name``: (kind, exception, first line), sorted."""
    return sorted((p.kind, p.exception, p.message) for p in run.problems.get(name, []))


def test_unit_cases_end_as_expected(unit_run: UnitRun):
    assert unit_run.trial.outcomes == {
        "test_cooperates": "OK",
        "test_waits_for_the_deferred_setUp": "OK",
        "test_settings": "OK",
        "test_join_fails": "FAILURE",
        "test_check_after_the_test_fails": "FAILURE",
        "test_factory_stop_fails": "FAILURE",
        "test_failure_expected_by_the_test": "OK",
        "test_unreported_script_failure_and_an_error": "ERROR FAILURE",
        "test_error_stays_an_error": "ERROR",
        "test_failure_in_a_cleanup_stays_an_error": "ERROR",
        "test_failed_test_does_not_wait_for_its_script": "FAILURE",
        "test_skipped_test_does_not_wait_for_its_script": "SKIPPED",
        "test_expected_failure_does_not_wait_for_its_script": "TODO",
        "test_failed_test_with_a_pending_join_fails_once": "FAILURE",
        "test_set_up_fails": "ERROR",
        "test_left_clean": "OK",
    }, unit_run.trial.output
    # Each failure counted once, and the unexpected success did not wait: it
    # would have failed on its 60 s step.
    summary = (
        "FAILED (skips=1, expectedFailures=1, failures=6, errors=4, "
        "unexpectedSuccesses=1, successes=5)"
    )
    assert unit_run.trial.summary == summary


def test_mixin_cooperates_with_a_project_base_class(unit_run: UnitRun):
    # The servers listen before the project's setUp runs, the test's cleanups
    # run before they are checked and closed, and tearDown after that.
    assert unit_run.events[:5] == [
        ["test case setUp"],
        ["project setUp", False],
        ["test"],
        ["the test's cleanup", False],
        ["project tearDown", True],
    ]


def test_mixin_waits_for_a_deferred_setUp_and_tearDown(unit_run: UnitRun):
    assert unit_run.trial.outcomes["test_waits_for_the_deferred_setUp"] == "OK"
    assert ["deferred tearDown", True] in unit_run.events


@pytest.mark.parametrize(
    "name",
    ["test_join_fails", "test_check_after_the_test_fails", "test_factory_stop_fails"],
)
def test_script_failure_is_a_failure_of_the_case_failure_exception(
    unit_run: UnitRun, name: str
):
    failure = ("FAIL", "cases.ProjectFailure", "Timed out waiting for a connection")
    assert problems(unit_run.trial, name) == [failure]


def test_failure_the_test_expected_is_not_reported_again(unit_run: UnitRun):
    assert problems(unit_run.trial, "test_failure_expected_by_the_test") == []


def test_real_errors_stay_errors(unit_run: UnitRun):
    run = unit_run.trial
    broke = ("ERROR", "builtins.ValueError", "the test broke")
    assert problems(run, "test_error_stays_an_error") == [broke]
    # trial's own rule: a cleanup that fails is an error, even with failureException.
    cleanup = ("ERROR", FAIL_TEST, "the cleanup failed")
    assert problems(run, "test_failure_in_a_cleanup_stays_an_error") == [cleanup]
    set_up = ("ERROR", "builtins.RuntimeError", "setUp broke")
    assert problems(run, "test_set_up_fails") == [set_up]
    # A script failure the test did not report is reported after the error.
    assert problems(run, "test_unreported_script_failure_and_an_error") == [
        broke,
        (
            "FAIL",
            "cases.ProjectFailure",
            "Expected b'PING' but received b'PONG' (first difference at offset 1)",
        ),
    ]


def test_test_that_went_wrong_does_not_wait_for_its_script(unit_run: UnitRun):
    # Its step waits 60 s, its test times out after 5 s: waiting would be an error.
    failed = ("FAIL", FAIL_TEST, "the test failed")
    assert problems(unit_run.trial, "test_failed_test_does_not_wait_for_its_script") == [
        failed
    ]
    for name, kind in [
        ("test_skipped_test_does_not_wait_for_its_script", "SKIPPED"),
        ("test_expected_failure_does_not_wait_for_its_script", "TODO"),
    ]:
        assert [p.kind for p in unit_run.trial.problems[name]] == [kind]


def test_reactor_is_left_clean(unit_run: UnitRun):
    # test_left_clean runs last: every port before it has closed its socket, and
    # no timer or socket is left on the reactor.
    assert unit_run.trial.outcomes["test_left_clean"] == "OK"
    assert problems(unit_run.trial, "test_left_clean") == []
    assert "DirtyReactorAggregateError" not in unit_run.trial.output


PYUNIT_CASES = """
from pytest_tcpclient import trial


class PyUnitTests(trial.TCPServerTestCase):
    def test_fails(self):
        self.tcpserver.expect_connect(timeout=0)

    def test_passes(self):
        pass
"""


def test_standard_library_runner_counts_a_script_failure_as_a_failure(tmp_path: Path):
    (tmp_path / "pyunit_cases.py").write_text(textwrap.dedent(PYUNIT_CASES))
    done = subprocess.run(
        [sys.executable, "-m", "unittest", "-v", "pyunit_cases"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    lines = done.stderr.splitlines()
    assert lines[-1] == "FAILED (failures=1)", done.stderr
    assert f"{FAIL_TEST}: Timed out waiting for a connection" in lines
