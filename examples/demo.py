"""Run every example and check that each behaves as its docstring says.

Each directory under ``examples/`` holds the examples for one way to run tests
(``twisted/``: pytest-twisted; ``asyncio/``: pytest-asyncio; ``sync/``: plain
tests with blocking clients; ``trial/``: the trial runner). The module
docstring of every example ends with what it should do, read here and by the
test suite:

    Outcome: passed
    Outcome: failed             (or ``error``: the failure is found at teardown)
    Failure: <the first line of the diagnostic>
    Failure before Python 3.11: <the first line there, where it differs>

The demo runs each directory with its runner, all at once, and shows each
runner's own output, so the failing examples show their diagnostics; then it
prints a table of the expected and the actual outcomes. Many examples fail on
purpose: the demo exits 0 only if every example behaves as documented.

Usage: python examples/demo.py [--reactor NAME] [--examples DIR]
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
OUTCOMES = ("passed", "failed", "error")


@dataclass(frozen=True)
class Outcome:
    """How an example ends: ``passed``, ``failed`` or ``error``, and the first
    line of its failure (None when it passed)."""

    outcome: str
    failure: str | None = None

    def __str__(self) -> str:
        return self.outcome


def expectation(path: Path) -> Outcome:
    """The outcome the module docstring of example ``path`` promises."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    match = re.search(
        r"^Outcome: (\w+)(?:\nFailure: (.+))?(?:\nFailure before Python 3\.11: (.+))?\Z",
        docstring,
        re.MULTILINE,
    )
    if match is None or match[1] not in OUTCOMES:
        raise ValueError(
            f"{path}: the docstring must end with 'Outcome: {'|'.join(OUTCOMES)}'"
        )
    if (match[1] == "passed") != (match[2] is None):
        raise ValueError(f"{path}: a 'Failure:' line goes with a failure, and only there")
    if match[3] is not None and sys.version_info < (3, 11):
        return Outcome(match[1], match[3])
    return Outcome(match[1], match[2])


def example_files(directory: Path) -> list[Path]:
    """The example files of ``directory``: one test each."""
    return sorted(directory.glob("test_*.py"))


def example_directories(root: Path = EXAMPLES) -> list[Path]:
    """Every directory under ``root`` that holds examples."""
    return sorted(path for path in root.iterdir() if path.is_dir() and example_files(path))


# -- runners: one per kind of directory ---------------------------------------


@dataclass(frozen=True)
class Run:
    """What a runner did with a directory: its own output, and the outcome of
    every test it ran, by the name of the module the test is in."""

    output: str
    outcomes: dict[str, list[Outcome]]


Runner = Callable[[Path, str], Run]
"""Runs the examples of a directory on a pytest-twisted reactor name."""


def run_pytest(directory: Path, reactor: str) -> Run:
    """Run ``directory`` with pytest (and pytest-twisted) in a subprocess."""
    with tempfile.TemporaryDirectory() as scratch:
        junit = Path(scratch, "junit.xml")
        project = directory.parent.parent  # pytest runs there, as `make demo` does
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
        command += [f"--junitxml={junit}", "-o", "junit_family=xunit1"]  # with file=
        command += [f"--reactor={reactor}", os.path.relpath(directory, project)]
        if sys.stdout.isatty():
            command.append("--color=yes")
        done = subprocess.run(
            command,
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return Run(done.stdout, junit_outcomes(junit) if junit.exists() else {})


def junit_outcomes(junit: Path) -> dict[str, list[Outcome]]:
    """The outcome of every test case of a JUnit XML report (xunit1, which
    names each case's file), by module name."""
    outcomes: dict[str, list[Outcome]] = {}
    for case in ET.parse(junit).iter("testcase"):
        module = Path(case.get("file", "")).stem
        problem = case.find("error")
        outcome = "error" if problem is not None else "passed"
        if problem is None and (problem := case.find("failure")) is not None:
            outcome = "failed"
        failure = None if problem is None else first_line(problem.get("message", ""))
        outcomes.setdefault(module, []).append(Outcome(outcome, failure))
    return outcomes


def first_line(message: str) -> str:
    """The first line of the diagnostic in a JUnit failure or error message."""
    match = re.fullmatch(r'failed on (?:setup|teardown) with "(.*)"', message, re.DOTALL)
    text = match[1] if match else message
    return text.partition("\n")[0].removeprefix("Failed: ")


TRIAL_WORDS = {"OK": "passed", "FAILURE": "failed", "ERROR": "error"}


def run_trial(directory: Path, reactor: str) -> Run:
    """Run ``directory`` with trial in a subprocess, as a trial user does."""
    modules = [path.stem for path in example_files(directory)]
    command = [sys.executable, "-m", "twisted.trial", f"--reactor={reactor}"]
    command += ["--reporter=bwverbose", *modules]
    env = {**os.environ, "PYTHONPATH": str(directory)}  # the examples import clients
    with tempfile.TemporaryDirectory() as scratch:  # trial writes _trial_temp there
        done = subprocess.run(
            command,
            cwd=scratch,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Run(done.stdout, trial_outcomes(done.stdout))


def trial_outcomes(output: str) -> dict[str, list[Outcome]]:
    """The outcome of every test of a trial ``bwverbose`` report, by module name.

    Each test has a line ``module.Class.test ... [OK]`` (or ``[FAILURE]``,
    ``[ERROR]``); each failure a block between lines of 79 ``=`` that ends
    with the ids of its tests, the diagnostic after the exception's name.
    """
    failures: dict[str, str] = {}
    for block in output.split("=" * 79)[1:]:
        lines = block.strip().splitlines()
        raised = next((line for line in lines if re.match(r"[\w.]+: ", line)), "")
        for line in lines:
            failures.setdefault(line, raised.partition(": ")[2])
    outcomes: dict[str, list[Outcome]] = {}
    for test, word in re.findall(r"^([\w.]+) \.\.\. \[(\w+)\]", output, re.MULTILINE):
        outcome = TRIAL_WORDS.get(word, word.lower())
        failure = None if outcome == "passed" else failures.get(test)
        outcomes.setdefault(test.split(".")[0], []).append(Outcome(outcome, failure))
    return outcomes


RUNNERS: dict[str, Runner] = {"trial": run_trial}
"""The runner of each directory that pytest does not run, by directory name."""


def runner_for(directory: Path) -> Runner:
    return RUNNERS.get(directory.name, run_pytest)


# -- the report ----------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    example: str
    expected: Outcome
    actual: Outcome | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.actual == self.expected


def check(directory: Path, outcomes: dict[str, list[Outcome]]) -> list[Row]:
    """Compare each example of ``directory`` with its docstring."""
    rows = []
    for path in example_files(directory):
        expected, found = expectation(path), outcomes.get(path.stem, [])
        actual = found[0] if len(found) == 1 else None
        detail = "" if actual else f"{len(found)} tests ran; an example holds one"
        if actual and actual.failure != expected.failure:
            detail = f"expected: {expected.failure}\nactual:   {actual.failure}"
        rows.append(Row(f"{directory.name}/{path.name}", expected, actual, detail))
    return rows


def table(rows: list[Row]) -> str:
    width = max(len("example"), *(len(row.example) for row in rows))
    lines = [f"{'example':<{width}}  {'expected':<8}  {'actual':<8}  result"]
    for row in rows:
        actual = str(row.actual or "-")
        status = "OK" if row.ok else "MISMATCH"
        lines.append(f"{row.example:<{width}}  {row.expected!s:<8}  {actual:<8}  {status}")
        lines.extend(f"    {line}" for line in row.detail.splitlines() if not row.ok)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--reactor", default="default", help="pytest-twisted's reactor")
    parser.add_argument(
        "--examples", type=Path, default=EXAMPLES, help="the folder of example folders"
    )
    args = parser.parse_args(argv)
    rows: list[Row] = []
    directories = example_directories(args.examples.resolve())
    with ThreadPoolExecutor(max(1, len(directories))) as pool:  # directories at once
        runs = [pool.submit(runner_for(d), d, args.reactor) for d in directories]
        for directory, run in zip(directories, runs, strict=True):
            print(f"\n### examples/{directory.name}\n\n{run.result().output}", flush=True)
            rows += check(directory, run.result().outcomes)
    if not rows:
        print(f"No examples found under {args.examples}.")
        return 1
    mismatches = sum(not row.ok for row in rows)
    print(f"\n### {len(rows)} examples\n\n{table(rows)}\n")
    if mismatches:
        print(f"{mismatches} of {len(rows)} examples did not behave as documented.")
        return 1
    print("Every example behaved as documented (the failing ones fail on purpose).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
