"""Every example behaves as its docstring says, run as a user runs it: in a new
pytest process, on the reactor this run uses. ``examples/demo.py`` reads the
same docstrings, so the examples, the demo and these tests cannot drift apart.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = ROOT / "examples" / "demo.py"


def _load_demo():
    spec = importlib.util.spec_from_file_location("pytest_tcpclient_demo", DEMO_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


demo = _load_demo()
DIRECTORIES = demo.example_directories()
PYTEST_DIRECTORIES = [d for d in DIRECTORIES if demo.runner_for(d) is demo.run_pytest]
EXAMPLES = [path for directory in DIRECTORIES for path in demo.example_files(directory)]
TWISTED = ROOT / "examples" / "twisted"
SYNC = ROOT / "examples" / "sync"
TIMEOUT = 120  # seconds the demo may take before it counts as hung


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


# -- running examples ----------------------------------------------------------


@pytest.fixture
def run_examples(run_once):
    """Run all the examples of a directory in one pytest process, once per module."""

    def copy(directory: Path, into: Path) -> None:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(directory, into, dirs_exist_ok=True, ignore=ignore)

    return lambda directory: run_once(directory, partial(copy, directory))


def diagnostic_problems(report, example: str, when: str, first_line: str) -> list[str]:
    """What is wrong with the report of an example whose diagnostic starts ``first_line``.

    Its report (of the test, or of its error at teardown) must show the
    diagnostic as pytest's own failure, either under the test's line
    (``E   Failed: ...``) or alone (a failure found at teardown), and no
    traceback through Twisted or the plugin.
    """
    try:
        section = report.section(example, when)
    except KeyError:
        return ["has no report"]
    shown = re.compile(rf"(E\s+Failed: )?{re.escape(first_line)}")
    problems = [f"shows a frame of {path}" for path in report.internals(example, when)]
    if not any(shown.fullmatch(line) for line in section):
        problems.append(f"does not show the line {first_line!r}")
    return problems


# -- the examples ----------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=_name)
def test_example_declares_its_outcome_and_holds_one_test(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scopes = [tree, *(node for node in tree.body if isinstance(node, ast.ClassDef))]
    tests = [
        node.name
        for scope in scopes
        for node in scope.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test")
    ]
    assert len(tests) == 1, tests
    assert demo.expectation(path).outcome in ("passed", "failed", "error")


@pytest.mark.parametrize(("version", "failure"), [((3, 10), "old"), ((3, 11), "new")])
def test_an_example_may_name_its_failure_before_python_3_11(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: tuple[int, int], failure: str
):
    path = tmp_path / "test_x.py"
    path.write_text(
        '"""x\n\nOutcome: failed\nFailure: new\nFailure before Python 3.11: old\n"""\n'
    )
    monkeypatch.setattr(sys, "version_info", version)
    assert demo.expectation(path) == demo.Outcome("failed", failure)


DIAGNOSTICS = {
    "twisted": [
        r"Timed out waiting for b'.*'",
        r"Expected b'.*' but received b'.*' \(first difference at offset \d+\)",
        r"Expected b'.*' but the client closed the connection after b'.*'",
        r"Expected b'.*' but the connection was reset after b'.*'",
        r"Timed out waiting for a connection",
        r"Timed out waiting for the client to close the connection",
        r"Expected the client to close the connection, but it sent b'.*'",
        r"Expected the client to close the connection, but the connection was reset",
        r"Expected one connection at a time, .*",
        r"Timed out waiting for frame b'.*'",
        r"Expected frame b'.*' but received frame b'.*'",
        r".* needs a connection, but none was made .*",
        r"Expected a TLS handshake, but the client sent plaintext b'.*'",
    ],
    # Plain tests with blocking clients: one example per family.
    "sync": [
        r"Expected b'.*' but received b'.*' \(first difference at offset \d+\)",
        r"Timed out waiting for b'.*'",
        r"Timed out waiting for the client to close the connection",
        r"Expected one connection at a time, .*",
        r"TLS handshake failed: the client rejected the server's certificate \(.*\)",
        r"Expected a client certificate, but the client presented none",
    ],
}
"""The diagnostics each directory of examples shows, as regular expressions."""


@pytest.mark.parametrize("directory", sorted(DIAGNOSTICS))
def test_examples_cover_every_diagnostic(directory: str):
    examples = (ROOT / "examples" / directory).glob("test_*.py")
    failures = {demo.expectation(path).failure for path in examples}
    missing = [
        pattern
        for pattern in DIAGNOSTICS[directory]
        if not any(re.fullmatch(pattern, failure or "") for failure in failures)
    ]
    assert not missing


@pytest.mark.parametrize("directory", PYTEST_DIRECTORIES, ids=lambda d: d.name)
def test_examples_behave_as_documented(run_examples, directory: Path):
    report = run_examples(directory)
    expected = {path.name: demo.expectation(path) for path in demo.example_files(directory)}
    problems = []
    for name, outcome in expected.items():
        if (actual := report.outcome(name)) != outcome.outcome:
            problems.append(f"{name}: {outcome.outcome} expected, {actual} found")
        when = "teardown" if outcome.outcome == "error" else "call"
        if outcome.failure is not None:
            found = diagnostic_problems(report, name, when, outcome.failure)
            problems += [f"{name}: {problem}" for problem in found]
    assert not problems, "\n".join(problems)
    count = Counter(outcome.outcome for outcome in expected.values())
    report.result.assert_outcomes(  # and nothing else ran
        passed=count["passed"] + count["error"],  # an error at teardown follows a pass
        failed=count["failed"],
        errors=count["error"],
    )


@pytest.mark.parametrize(
    ("name", "join"),
    [
        ("test_expect_bytes_times_out", "yield tcpserver.join()"),
        ("test_expect_bytes_times_out_async", "await tcpserver.join()"),
    ],
)
def test_seed_failure_is_reported_at_the_join_line(run_examples, name: str, join: str):
    report = run_examples(TWISTED)
    section = report.section(name)
    marked = [line for line in section if line.startswith(">")]
    assert marked == [f">       {join}"]
    under = section[section.index(marked[0]) + 1]
    assert under == "E       Failed: Timed out waiting for b'Hello, world!'"
    assert re.fullmatch(rf"{name}\.py:\d+: Failed", section[-1])
    assert report.internals(name) == []


def test_the_unittest_example_passes_under_the_standard_runner(tmp_path: Path):
    """Outside pytest: ``python -m unittest``, with no plugin loaded."""
    done = subprocess.run(
        [sys.executable, "-m", "unittest", "-v", "test_unittest"],
        cwd=SYNC,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^test_hello .* \.\.\. ok$", done.stderr, re.MULTILINE)
    assert "pytest" not in done.stderr


def test_seed_passing_examples_pass(run_examples):
    report = run_examples(TWISTED)
    for name in ("test_hello", "test_expect_frame_success", "test_send_frame_success"):
        assert report.outcome(name) == report.outcome(f"{name}_async") == "passed"


# -- the demo ----------------------------------------------------------------------


def demo_command(reactor: str, *args: str) -> list[str]:
    return [sys.executable, str(DEMO_PATH), f"--reactor={reactor}", *args]


@pytest.fixture(scope="module", autouse=True)
def demo_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The demo, started as this module starts so that it runs while the other
    tests do, from a directory that is not the project's. Yields the process
    and the file its output goes to."""
    where = tmp_path_factory.mktemp("demo")
    output = where / "output.txt"
    with output.open("w") as sink:
        command = demo_command(request.config.getoption("reactor"))
        process = subprocess.Popen(
            command, cwd=where, stdout=sink, stderr=subprocess.STDOUT
        )
    yield process, output
    if process.poll() is None:  # its test was not selected
        process.kill()
        process.wait()


def test_demo_passes_and_lists_every_example(demo_run):
    process, output = demo_run
    process.wait(timeout=TIMEOUT)
    text = output.read_text()
    assert process.returncode == 0, text[text.rfind("\n### ") :]  # the table
    lines = pytest.LineMatcher(text.splitlines())
    for path in EXAMPLES:
        outcome = demo.expectation(path).outcome
        lines.re_match_lines([rf"{re.escape(_name(path))} +{outcome} +{outcome} +OK"])
    # pytest's own report of the failing examples is shown too.
    lines.fnmatch_lines(
        [
            ">       yield tcpserver.join()",
            "E       Failed: Timed out waiting for b'Hello, world!'",
        ],
        consecutive=True,
    )


def test_demo_fails_when_an_example_strays(pytester: pytest.Pytester, reactor_name: str):
    examples = pytester.mkdir("examples")
    plain = examples / "plain"
    plain.mkdir()
    files = {
        "test_as_documented": ('"""Outcome: passed"""', "pass"),
        "test_fails_but_says_passed": ('"""Outcome: passed"""', "assert 1 == 2"),
        "test_fails_otherwise": (
            '"""Outcome: failed\nFailure: Timed out waiting for a connection\n"""',
            "pytest.fail('Timed out waiting for b\\'x\\'\\nsecond line')",
        ),
    }
    for name, (docstring, body) in files.items():
        source = f"{docstring}\nimport pytest\n\n\ndef {name}():\n    {body}\n"
        (plain / f"{name}.py").write_text(source, encoding="utf-8")

    result = pytester.run(
        *demo_command(reactor_name, f"--examples={examples}"), timeout=TIMEOUT
    )

    assert result.ret == 1
    result.stdout.re_match_lines(
        [
            r"plain/test_as_documented.py +passed +passed +OK",
            r"plain/test_fails_but_says_passed.py +passed +failed +MISMATCH",
            r"plain/test_fails_otherwise.py +failed +failed +MISMATCH",
            r" +expected: Timed out waiting for a connection",
            r" +actual: +Timed out waiting for b'x'",
            r"2 of 3 examples did not behave as documented.",
        ]
    )
