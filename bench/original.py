"""The asyncio-only pytest-tcpclient 0.7.29, the plugin this one grew from, in
the same run: its own virtual environment, the same asyncio workloads.

It needs pytest < 8, so it cannot share the project's environment:
:func:`python` makes ``bench/.original/`` once (``python -m venv``, then pip)
and returns its interpreter, or says why it could not and returns None; the
bench then goes on without it.

Its server exists only as a pytest fixture, so its timed workloads run as
pytest tests in that environment (:data:`TESTS`): each test times its own
body, from the first declared step to the end of ``join()``, with the same
clients and data (:mod:`asyncio_clients`, :mod:`common`) as the other
servers, and writes the timing to a file. Its per-test overhead is measured
by :mod:`pertest`, on the same generated test files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import venv
from dataclasses import asdict
from pathlib import Path

from common import Sizes

HERE = Path(__file__).resolve().parent
VENV = HERE / ".original"
REQUIREMENTS = (
    "pytest-tcpclient==0.7.29",
    "pytest>=7.1.3,<8",
    "pytest-asyncio==0.21.2",
    "pytest-mock",
)
"""The original and the newest versions of what it needs that it runs with."""
WORKLOADS = ("throughput", "round_trips", "frames")
INSTALL_DEADLINE = 600.0
RUN_DEADLINE = 3600.0

TESTS = """
import asyncio
import json
import os
import sys

import pytest

sys.path.insert(0, os.environ["BENCH_DIR"])

from asyncio_clients import close, framer, pinger, sender, wait  # noqa: E402
from common import Sizes, Stopwatch, encode_frames, messages, payload  # noqa: E402

SIZES = Sizes(**json.loads(os.environ["BENCH_SIZES"]))
TIMEOUT = 120.0


def declare_throughput(server):
    data = payload(SIZES.throughput)
    server.expect_connect(timeout=TIMEOUT)
    server.expect_bytes(data, timeout=TIMEOUT)
    return sender(data, SIZES.chunk)


def declare_round_trips(server):
    requests, replies = messages(SIZES.round_trips, SIZES.message)
    server.expect_connect(timeout=TIMEOUT)
    for request, reply in zip(requests, replies):
        server.expect_bytes(request, timeout=TIMEOUT)
        server.send_bytes(reply)
    return pinger(requests, replies)


def declare_frames(server):
    requests, replies = messages(SIZES.frames, SIZES.frame_payload)
    server.expect_connect(timeout=TIMEOUT)
    for request, reply in zip(requests, replies):
        server.expect_frame(request, timeout=TIMEOUT)
        server.send_frame(reply)
    return framer(encode_frames(requests), replies)


@pytest.mark.asyncio
@pytest.mark.parametrize("run", range(int(os.environ["BENCH_RUNS"])))
@pytest.mark.parametrize("workload", os.environ["BENCH_WORKLOADS"].split(","))
async def test_workload(tcpserver, workload, run):
    stopwatch = Stopwatch()
    client = globals()[f"declare_{workload}"](tcpserver)
    port = tcpserver.service_port
    reader, writer = await wait(asyncio.open_connection("127.0.0.1", port))
    await wait(client(reader, writer))
    tcpserver.expect_disconnect(timeout=TIMEOUT)
    await close(writer)
    await wait(tcpserver.join())
    wall, cpu = stopwatch.read()
    with open(os.environ["BENCH_OUT"], "a") as out:
        out.write(json.dumps([workload, run, wall, cpu]) + "\\n")
"""


def python(install: bool = True) -> Path | None:
    """The original's interpreter; made (when ``install``) if missing. None,
    with the reason printed, if there is none."""
    interpreter = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == "\n".join(REQUIREMENTS):
        return interpreter
    if not install:
        print("the original (pytest-tcpclient 0.7.29): not installed, left out")
        return None
    print("installing the original (pytest-tcpclient 0.7.29) in bench/.original ...")
    try:
        venv.create(VENV, with_pip=True, clear=True)
        subprocess.run(
            [str(interpreter), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
            check=True,
            capture_output=True,
            text=True,
            timeout=INSTALL_DEADLINE,
        )
    except (OSError, subprocess.SubprocessError) as error:
        output = getattr(error, "stderr", "") or ""
        print(f"the original (pytest-tcpclient 0.7.29) could not be installed: {error}")
        if output:
            print(output.strip().splitlines()[-1])
        print("going on without it")
        return None
    stamp.write_text("\n".join(REQUIREMENTS))
    return interpreter


def timed(interpreter: Path, sizes: Sizes, repeat: int, only: set[str]) -> dict:
    """{workload: {"original": [[wall, cpu]...]}}: the original's timed workloads,
    ``repeat`` runs each after one to warm up, in one pytest session."""
    workloads = [name for name in WORKLOADS if name in only]
    if not workloads:
        return {}
    with tempfile.TemporaryDirectory(prefix="tcpclient-original-") as directory:
        path = Path(directory)
        (path / "test_original.py").write_text(TESTS)
        (path / "pytest.ini").write_text("[pytest]\nasyncio_mode = strict\n")
        out = path / "timings"
        env = {
            **os.environ,
            "BENCH_DIR": str(HERE),
            "BENCH_SIZES": json.dumps(asdict(sizes)),
            "BENCH_RUNS": str(repeat + 1),
            "BENCH_WORKLOADS": ",".join(workloads),
            "BENCH_OUT": str(out),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        result = subprocess.run(
            [str(interpreter), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"],
            cwd=path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_DEADLINE,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"the original's workloads failed (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        timings: dict[str, dict[str, list[list[float]]]] = {}
        for line in out.read_text().splitlines():
            workload, run, wall, cpu = json.loads(line)
            if run:  # run 0 warms up
                timings.setdefault(workload, {"original": []})["original"].append(
                    [wall, cpu]
                )
        return timings


if __name__ == "__main__":  # pragma: no cover - a manual check
    found = python()
    print(found)
    if found is not None:
        print(timed(found, Sizes().scaled(0.01), 1, set(WORKLOADS)))
    sys.exit(0)
