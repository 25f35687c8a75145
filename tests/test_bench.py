"""A smoke run of the benchmarks at a tiny size, so they cannot rot.

Benchmarks are not tests: nothing here looks at a timing. The run only has to
finish, exit 0 and print the table with a row for every workload in every
style, the machine it ran on and the command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "run.py"

ROWS = (
    "throughput",
    "segmentation small",
    "segmentation large",
    "segmentation time large/small",
    "round trips",
    "same, no plugin: raw Protocol on the bridge",
    "same, no plugin: raw Protocol on the thread",
    "frames",
    "per-test overhead",
    "plugin installed, test not using it",
    "peak RSS growth",
)


@pytest.fixture(scope="module")
def quick_run() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_quick_run_exits_0(quick_run):
    assert quick_run.returncode == 0, quick_run.stdout + quick_run.stderr


def test_quick_run_prints_the_machine_and_the_command(quick_run):
    lines = quick_run.stdout.splitlines()
    assert any(line.startswith("machine: ") and "cores" in line for line in lines)
    assert any(line.startswith("versions: Python ") and "Twisted" in line for line in lines)
    assert any(
        line.startswith("command: ") and "bench/run.py --quick" in line for line in lines
    )
    assert any(line.startswith("setup: client and server in one process") for line in lines)


def test_quick_run_prints_the_table(quick_run):
    lines = quick_run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("workload"))
    columns = ["workload", "style", "unit", "plugin", "raw", "plugin/raw", "runs", "cpu"]
    assert lines[header].split() == [*columns, "original", "plugin/orig", "target", "met"]
    table = lines[header + 2 :]
    for style in ("twisted", "asyncio", "sync"):
        rows = [line for line in table if f"  {style}  " in line]
        shown = [row for row in ROWS if any(line.strip().startswith(row) for line in rows)]
        expected = [
            row
            for row in ROWS
            if ("bridge" not in row or style == "asyncio")
            and ("thread" not in row or style == "sync")
            and ("RSS" not in row or style != "sync")  # the same core as the others
        ]
        assert shown == expected, f"{style} rows: {rows}"
