"""Shared by the tests that run pytest in a subprocess (pytester)."""

from __future__ import annotations

import re

import pytest

INTERNALS = ("site-packages/twisted", "pytest_tcpclient/")
"""Paths that must not show in a failure report: Twisted's and the plugin's frames."""


@pytest.fixture
def reactor_name(request: pytest.FixtureRequest) -> str:
    """The pytest-twisted reactor of this run, for the runs it starts."""
    return request.config.getoption("reactor")


@pytest.fixture(scope="module")
def _results() -> dict:
    return {}


@pytest.fixture
def run_once(pytester: pytest.Pytester, reactor_name: str, _results: dict):
    """``run_once(key, prepare, *args)``: ``prepare(pytester.path)`` writes the
    tests to run, then pytest runs them with ``-rA`` in a subprocess, on this
    run's reactor. The result is kept, so the tests of a module that check one
    run share it. Returns a :class:`Report`."""

    def run(key, prepare, *args: str) -> Report:
        if key not in _results:
            prepare(pytester.path)
            result = pytester.runpytest_subprocess(
                f"--reactor={reactor_name}", "-p", "no:cacheprovider", "-rA", *args
            )
            _results[key] = Report(result)
        return _results[key]

    return run


class Report:
    """What a pytest run reported, read from its output."""

    def __init__(self, result: pytest.RunResult) -> None:
        self.result = result
        self.words: dict[str, set[str]] = {}
        """The words of the ``-rA`` summary (PASSED, FAILED, ERROR), by node id."""
        self.sections: dict[str, list[str]] = {}
        """The lines of each section, by title: ``test_x`` (or ``Class.test_x``)
        for a failure, ``ERROR at teardown of test_x`` for an error."""
        current: list[str] | None = None
        for line in result.stdout.lines:
            if title := re.fullmatch(r"_{3,} (.+?) _{3,}", line):
                current = self.sections.setdefault(title[1], [])
            elif line.startswith("="):
                current = None
            elif current is not None:
                current.append(line)
            if word := re.match(r"(PASSED|FAILED|ERROR) (\S+::\S+)", line):
                self.words.setdefault(word[2], set()).add(word[1])

    def node(self, part: str) -> str | None:
        """The node id of the one test that ran with ``part`` (a file name, a
        test name) in its id; None if none ran."""
        found = [node for node in self.words if part in node.split("::")]
        assert len(found) <= 1, f"more than one test of {part}: {found}"
        return found[0] if found else None

    def outcome(self, part: str) -> str | None:
        """``error`` (at teardown), ``failed`` or ``passed``: how the test of
        ``part`` ended; None if it did not run."""
        words = self.words.get(self.node(part) or "", set())
        return next((w.lower() for w in ("ERROR", "FAILED", "PASSED") if w in words), None)

    def section(self, part: str, when: str = "call") -> list[str]:
        """The report of the failure of the test of ``part``, or of its error at
        ``when`` ("setup", "teardown")."""
        name = ".".join((self.node(part) or part).split("::")[1:]) or part
        return self.sections[name if when == "call" else f"ERROR at {when} of {name}"]

    def failure_under(self, part: str, shown: str) -> str:
        """The line the report of ``part`` shows under its line ``shown`` (as
        the report shows it: ``>`` first), without ``E   Failed: ``: the first
        line of the failure raised there."""
        lines = self.section(part)
        return re.sub(r"^E\s+Failed: ", "", lines[lines.index(shown) + 1])

    def internals(self, part: str, when: str = "call") -> list[str]:
        """The paths of :data:`INTERNALS` that show in that report."""
        text = "\n".join(self.section(part, when))
        return [path for path in INTERNALS if path in text]
