"""Benchmarks: pytest-tcpclient against raw Twisted, raw asyncio and a raw
threaded server, side by side.

``make bench`` runs ``.venv/bin/python bench/run.py``; ``--quick`` is a tiny
smoke run, ``--scale F`` multiplies every workload's size by F. Each workload
goes through the plugin and through a minimal hand-written equivalent (a raw
Twisted Protocol for the Twisted style, raw asyncio streams for the asyncio
style, a socket served by a thread for the sync style of blocking clients),
several times, alternating which goes first; the table shows medians
and the ratio plugin/raw of the medians, with the range of the ratios of the
single runs.

The timed workloads run in one child process per style, the memory runs in a
fresh child process each (peak RSS cannot go down), the per-test overhead in
pytest subprocesses on generated test files.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from common import (
    MiB,
    Sizes,
    Timing,
    encode_frames,
    max_rss_kib,
    messages,
    payload,
    rss_kib,
)

HERE = Path(__file__).resolve().parent
STYLES = ("twisted", "asyncio", "sync")
MEMORY_STYLES = ("twisted", "asyncio")
"""The styles of the memory runs: the sync style runs the same core."""
WORKLOADS = ("throughput", "segmentation", "round_trips", "frames", "per_test", "memory")
CHILD_DEADLINE = 3600.0
REPEAT_FACTOR = {"throughput": 3}
"""Workloads run this many times more often than ``--repeat`` says."""
LINEAR = 6.0
"""Largest time(large)/time(small) that counts as linear: 4 is linear, 16 quadratic."""

SETUP = (
    "client and server in one process, on one event loop, as the plugin is used: "
    "Twisted style on Twisted's default reactor (client: Twisted Protocols), asyncio "
    "style on one asyncio loop (client: asyncio streams; the plugin's server on an "
    "AsyncioSelectorReactor bound to that loop), sync style with a blocking socket "
    "client in the test's thread (the plugin's server on its reactor thread, the raw "
    "server a thread serving the socket). Same client and data for plugin and raw; "
    "only the server differs. Loopback 127.0.0.1."
)


# -- the timed workloads, in a child process per style ---------------------------------


def timed_workloads(style: str, sizes: Sizes, repeat: int, only: set[str]) -> dict:
    """{workload: {kind: [[wall, cpu]...]}} for ``style``, kind ``plugin``, ``raw``..."""
    data = payload(sizes.throughput)
    requests, replies = messages(sizes.round_trips, sizes.message)
    frame_requests, frame_replies = messages(sizes.frames, sizes.frame_payload)
    wire = encode_frames(frame_requests)
    small = data[: sizes.segmentation_small]
    large = payload(sizes.segmentation_large)

    def workloads(module: Any, *reactor: Any) -> dict[str, Any]:
        chosen = {}
        if "throughput" in only:
            chosen["throughput"] = module.expect_bytes(*reactor, data, sizes.chunk)
        if "segmentation" in only:
            chosen["segmentation_small"] = module.expect_bytes(*reactor, small, 1, True)
            chosen["segmentation_large"] = module.expect_bytes(*reactor, large, 1, True)
        if "round_trips" in only:
            chosen["round_trips"] = module.round_trips(*reactor, requests, replies)
        if "frames" in only:
            chosen["frames"] = module.frames(*reactor, frame_requests, frame_replies, wire)
        return chosen

    async def measure(chosen: dict[str, Any]) -> dict:
        results: dict[str, dict[str, list[Timing]]] = {}
        for name, runners in chosen.items():
            runs = results[name] = {kind: [] for kind in runners}
            if repeat > 1:  # warm up: first connections, imports, caches
                for runner in runners.values():
                    await completed(runner())
            kinds = list(runners)
            # Short runs are noisier and cheap: run them more often.
            for index in range(repeat * REPEAT_FACTOR.get(name, 1)):
                shift = index % len(kinds)  # rotate who goes first
                for kind in kinds[shift:] + kinds[:shift]:
                    gc.collect()
                    runs[kind].append(await completed(runners[kind]()))
        return results

    if style == "twisted":
        import twisted_style

        return twisted_style.run(lambda reactor: measure(workloads(twisted_style, reactor)))
    if style == "sync":
        import sync_style

        return sync_style.run(measure(workloads(sync_style)))
    import asyncio

    import asyncio_style

    return asyncio.run(measure(workloads(asyncio_style)))


async def completed(run: Any) -> Timing:
    """The timing of a run: awaited if the style's runners are coroutines."""
    return await run if inspect.isawaitable(run) else run


def memory_run(style: str, kind: str, size: int, chunk: int) -> dict:
    """Peak RSS before and after one ``expect_bytes`` of ``size`` bytes, in KiB,
    and by how much the peak before exceeded the RSS then (the slack)."""
    data = payload(size)
    rss: dict[str, int] = {}

    async def once(runners: Any) -> None:
        runner = runners[kind]
        gc.collect()
        rss["before"] = max_rss_kib()
        # Growth below before - now would not show: it should be next to 0.
        rss["slack"] = rss["before"] - (rss_kib() or rss["before"])
        await runner()
        rss["after"] = max_rss_kib()

    if style == "twisted":
        import twisted_style

        twisted_style.run(
            lambda reactor: once(twisted_style.expect_bytes(reactor, data, chunk))
        )
    else:
        import asyncio

        import asyncio_style

        asyncio.run(once(asyncio_style.expect_bytes(data, chunk)))
    return rss


def child(arguments: list[str]) -> dict:
    """Run this script as a child and return the JSON it prints."""
    command = [sys.executable, str(HERE / "run.py"), *arguments]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=CHILD_DEADLINE, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(command)} failed (exit {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return json.loads(result.stdout.splitlines()[-1])


# -- per-test overhead --------------------------------------------------------------------


def per_test(sizes: Sizes, repeat: int, original: Path | None = None) -> dict:
    """{style: {variant: [[wall, cpu]...]}} from pytest runs of generated files;
    with ``original`` (its interpreter), the asyncio files through the original
    too (``original``, ``nothing, original``)."""
    import pertest

    suites = pertest.Suites(sizes.tests)
    results: dict[str, dict[str, list[list[float]]]] = {}
    try:
        for index in range(repeat):
            for style in pertest.STYLES:
                runs = results.setdefault(style, {})
                variants = [(variant, variant, None) for variant in pertest.VARIANTS]
                if original is not None and style == "asyncio":
                    variants.append(("original", "plugin", original))
                    variants.append(("nothing, original", "nothing", original))
                shift = index % len(variants)  # rotate who goes first
                for name, variant, python in variants[shift:] + variants[:shift]:
                    runs.setdefault(name, []).append(
                        suites.run(style, variant, python=python)
                    )
                runs.setdefault("nothing, plugin disabled", []).append(
                    suites.run(style, "nothing", plugin_enabled=False)
                )
    finally:
        suites.close()
    return results


# -- the table ----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: the plugin's values (one per run) beside the raw ones.

    ``plugin`` and ``raw`` are from the wall clock, ``cpu`` the same values
    from CPU time, for the cpu-ratio column.
    """

    workload: str
    style: str
    unit: str
    plugin: list[float]
    raw: list[float] | None = None
    target: str = ""
    met: Callable[[float, float | None, float | None], bool] | None = None
    """Whether the target is met, given the medians of plugin, raw and original."""
    cpu: tuple[list[float], list[float]] | None = None
    ratio: bool = True
    """Whether plugin/raw means anything (not for a few KiB of RSS growth)."""
    original: list[float] | None = None
    """The asyncio-only pytest-tcpclient 0.7.29's values, where it ran."""

    def cells(self) -> list[str]:
        plugin = statistics.median(self.plugin)
        raw = statistics.median(self.raw) if self.raw else None
        original = statistics.median(self.original) if self.original else None
        ratio = spread = cpu = "-"
        if raw and self.ratio:
            ratio = f"{plugin / raw:.2f}"
            pairs = [p / r for p, r in zip(self.plugin, self.raw, strict=True) if r]
            if len(pairs) > 1:
                spread = f"{min(pairs):.2f}-{max(pairs):.2f}"
        if self.cpu is not None:
            cpu_raw = statistics.median(self.cpu[1])
            if cpu_raw:
                cpu = f"{statistics.median(self.cpu[0]) / cpu_raw:.2f}"
        met = "-"
        if self.met is not None:
            met = "yes" if self.met(plugin, raw, original) else "NO"
        return [
            self.workload,
            self.style,
            self.unit,
            _number(plugin),
            _number(raw) if raw is not None else "-",
            ratio,
            spread,
            cpu,
            _number(original) if original is not None else "-",
            f"{plugin / original:.2f}" if original else "-",
            self.target or "-",
            met,
        ]


COLUMNS = ["workload", "style", "unit", "plugin", "raw", "plugin/raw", "runs", "cpu"]
COLUMNS += ["original", "plugin/orig", "target", "met"]
NUMERIC = {"plugin", "raw", "plugin/raw", "runs", "cpu", "original", "plugin/orig"}


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _size(size: int) -> str:
    for unit, factor in (("MiB", MiB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size:,} B"


def _values(
    runs: list[list[float]], convert: Callable[[float], float]
) -> list[list[float]]:
    """``convert`` applied to the wall and the CPU seconds of each run: [walls, cpus]."""
    return [[convert(run[clock]) for run in runs] for clock in (0, 1)]


def _row(
    workload: str,
    style: str,
    unit: str,
    runs: dict[str, list[list[float]]],
    convert: Callable[[float], float],
    kinds: tuple[str, str] = ("plugin", "raw"),
    **target: Any,
) -> Row:
    plugin, plugin_cpu = _values(runs[kinds[0]], convert)
    raw, raw_cpu = _values(runs[kinds[1]], convert)
    original = None
    if kinds[0] == "plugin" and runs.get("original"):
        original = _values(runs["original"], convert)[0]
    return Row(
        workload,
        style,
        unit,
        plugin,
        raw,
        cpu=(plugin_cpu, raw_cpu),
        original=original,
        **target,
    )


def rows(results: dict, sizes: Sizes) -> list[Row]:
    table: list[Row] = []
    payload_mib = sizes.throughput / MiB
    for style in STYLES:
        timed = results.get("timed", {}).get(style, {})
        if "throughput" in timed:
            megabytes = sizes.throughput / 1e6
            table.append(
                _row(
                    f"throughput, {_size(sizes.throughput)} in {_size(sizes.chunk)} writes",
                    style,
                    "MB/s",
                    timed["throughput"],
                    lambda s, mb=megabytes: mb / s,
                    target=">= 0.9x raw" + (", >= 1x orig" if style == "asyncio" else ""),
                    met=lambda p, r, o: r is not None and p / r >= 0.9 and p >= (o or 0),
                )
            )
        if "segmentation_small" in timed:
            small, large = timed["segmentation_small"], timed["segmentation_large"]
            for name, runs, size in (
                ("small", small, sizes.segmentation_small),
                ("large", large, sizes.segmentation_large),
            ):
                table.append(
                    _row(
                        f"segmentation {name}: {size:,} B, 1 B/write",
                        style,
                        "ms",
                        runs,
                        lambda s: 1000 * s,
                    )
                )
            growth = sizes.segmentation_large / sizes.segmentation_small
            linear = {
                kind: [
                    [b / a for a, b in zip(short, long, strict=True)]
                    for short, long in zip(small[kind], large[kind], strict=True)
                ]
                for kind in ("plugin", "raw")
            }
            limit = LINEAR * growth / 4
            table.append(
                _row(
                    "segmentation time large/small",
                    style,
                    "x",
                    linear,
                    lambda x: x,
                    target=f"~{growth:g} (linear), < {limit:g}",
                    met=lambda p, r, o, limit=limit: p < limit,
                )
            )
        if "round_trips" in timed:
            runs = timed["round_trips"]
            n = sizes.round_trips
            target, met = ">= 0.8x raw", lambda p, r, o: r is not None and p / r >= 0.8
            if "bridge" in runs:  # asyncio: against the bridge's own ceiling
                bridge = n / statistics.median(run[0] for run in runs["bridge"])
                target = ">= 0.9x bridge, >= 1.3x orig"
                met = lambda p, r, o, b=bridge: p / b >= 0.9 and p >= 1.3 * (o or 0)  # noqa: E731
            table.append(
                _row(
                    f"round trips, {n:,} x {sizes.message} B",
                    style,
                    "trips/s",
                    runs,
                    lambda s, n=n: n / s,
                    target=target,
                    met=met,
                )
            )
            for ceiling, where in (("bridge", "the bridge"), ("thread", "the thread")):
                if ceiling in runs:
                    table.append(
                        _row(
                            f"  same, no plugin: raw Protocol on {where}",
                            style,
                            "trips/s",
                            runs,
                            lambda s, n=n: n / s,
                            kinds=(ceiling, "raw"),
                        )
                    )
        if "frames" in timed:
            n = sizes.frames
            table.append(
                _row(
                    f"frames, {n:,} x {sizes.frame_payload} B each way",
                    style,
                    "frames/s",
                    timed["frames"],
                    lambda s, n=n: n / s,
                    target=">= 0.5x raw",
                    met=lambda p, r, o: r is not None and p / r >= 0.5,
                )
            )
        runs = results.get("per_test", {}).get(style)
        if runs:
            n = sizes.tests

            def overhead(
                variant: str, baseline: str, runs: dict = runs, n: int = n
            ) -> list:
                """ms per test of ``variant`` over ``baseline``, per run, as [wall, cpu]."""
                return [
                    [1000 * (v - b) / n for v, b in zip(run, base, strict=True)]
                    for run, base in zip(runs[variant], runs[baseline], strict=True)
                ]

            overheads = {
                "plugin": overhead("plugin", "nothing"),
                "raw": overhead("raw", "nothing"),
            }
            target = "< 1 ms"
            if style == "asyncio":
                target += ", <= 0.5x orig"
            if "original" in runs:
                overheads["original"] = overhead("original", "nothing, original")
            table.append(
                _row(
                    f"per-test overhead, {n} tests: connect/hello/close",
                    style,
                    "ms/test",
                    overheads,
                    lambda x: x,
                    target=target,
                    met=lambda p, r, o: p < 1.0 and (o is None or p <= 0.5 * o),
                )
            )
            passive = _values(overhead("nothing", "nothing, plugin disabled"), lambda x: x)
            table.append(
                Row("plugin installed, test not using it", style, "ms/test", passive[0])
            )
        memory = results.get("memory", {}).get(style)
        if memory:
            table.append(
                Row(
                    f"peak RSS growth, {_size(sizes.throughput)} expect_bytes",
                    style,
                    "MiB",
                    [(m["after"] - m["before"]) / 1024 for m in memory["plugin"]],
                    [(m["after"] - m["before"]) / 1024 for m in memory["raw"]],
                    f"<= 3x payload ({3 * payload_mib:g} MiB)",
                    lambda p, r, o: p <= 3 * payload_mib,
                    ratio=False,
                )
            )
    return table


def render(table: list[Row]) -> str:
    lines = [COLUMNS, *(row.cells() for row in table)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]

    def fmt(line: list[str]) -> str:
        cells = [
            cell.rjust(width) if COLUMNS[i] in NUMERIC else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(COLUMNS), rule, *(fmt(line) for line in lines[1:])])


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    return [
        f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"versions: Python {platform.python_version()}, Twisted {version('twisted')}, "
        f"pytest {version('pytest')}, pytest-twisted {version('pytest-twisted')}, "
        f"pytest-asyncio {version('pytest-asyncio')}, "
        f"pytest-tcpclient {version('pytest-tcpclient')}",
    ]


def command_line() -> str:
    python = sys.executable
    relative = os.path.relpath(python)
    return shlex.join([relative if not relative.startswith("..") else python, *sys.argv])


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


NOTES = """\
original: the asyncio-only pytest-tcpclient 0.7.29 (pytest 7, pytest-asyncio 0.21) in
bench/.original, same clients and data, its workloads timed inside its pytest tests.
plugin, raw: medians of {repeat} run(s) by wall clock ({throughput}x as many of throughput)
plugin/raw: the ratio of those medians; runs: its range over single runs (plugin and raw
alternate who goes first); cpu: the same ratio by this process's CPU time (user + system),
which other processes on the machine disturb less.
Per-test overhead: (time of the tests - time of as many empty tests) / tests, pytest's
start-up and collection left out. Peak RSS: ru_maxrss after - before, in a fresh process."""


# -- main ----------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    parser.add_argument("--scale", type=float, default=None, help="multiply every size")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each (default 5)")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of: {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the raw results"
    )
    parser.add_argument(
        "--original",
        choices=("install", "if-installed", "no"),
        default=None,
        help="run pytest-tcpclient 0.7.29 too, installing it in bench/.original if "
        "missing (default: install; with --quick: if-installed)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--style", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.scale is None:
        options.scale = 0.01 if options.quick else 1.0
    if options.original is None:
        options.original = "if-installed" if options.quick else "install"
    if options.repeat is None:
        options.repeat = 1 if options.quick else 5
    if options.scale <= 0 or options.repeat < 1:
        parser.error("--scale must be > 0 and --repeat >= 1")
    options.only = {name.strip() for name in options.only.split(",") if name.strip()}
    unknown = options.only - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return options


def main(argv: list[str]) -> int:
    options = parse(argv)
    sizes = Sizes().scaled(options.scale)
    common = ["--scale", repr(options.scale), "--repeat", str(options.repeat)]
    if options.child == "timed":
        result = timed_workloads(options.style, sizes, options.repeat, options.only)
        print(json.dumps(result))
        return 0
    if options.child == "memory":
        print(
            json.dumps(
                memory_run(options.style, options.kind, sizes.throughput, sizes.chunk)
            )
        )
        return 0

    print(
        "pytest-tcpclient benchmarks: the plugin against raw Twisted, raw asyncio "
        "and a raw threaded server"
    )
    for line in machine():
        print(line)
    print(f"command: {command_line()}")
    print(f"setup: {SETUP}")
    start_load = load()
    print(f"sizes: {asdict(sizes)}", flush=True)

    results: dict[str, Any] = {"sizes": asdict(sizes)}
    original_python = None
    if options.original != "no":
        import original

        original_python = original.python(install=options.original == "install")
    timed = {"throughput", "segmentation", "round_trips", "frames"} & options.only
    if timed:
        results["timed"] = {}
        for style in STYLES:
            print(f"running the {style}-style workloads ...", flush=True)
            arguments = ["--child", "timed", "--style", style, "--only", ",".join(timed)]
            results["timed"][style] = child([*arguments, *common])
        if original_python is not None:
            print("running the asyncio workloads through the original ...", flush=True)
            ran = original.timed(original_python, sizes, options.repeat, timed)
            for workload, runs in ran.items():
                results["timed"]["asyncio"][workload].update(runs)
    if "memory" in options.only:
        print("running the memory runs, each in a fresh process ...", flush=True)
        results["memory"] = {}
        for style in MEMORY_STYLES:
            runs = results["memory"][style] = {"plugin": [], "raw": []}
            for index in range(options.repeat):
                for kind in ("plugin", "raw") if index % 2 == 0 else ("raw", "plugin"):
                    arguments = ["--child", "memory", "--style", style, "--kind", kind]
                    runs[kind].append(child([*arguments, *common]))
    if "per_test" in options.only:
        print("running the per-test pytest runs ...", flush=True)
        results["per_test"] = per_test(sizes, options.repeat, original_python)

    print()
    print(render(rows(results, sizes)))
    print()
    print(NOTES.format(repeat=options.repeat, throughput=REPEAT_FACTOR["throughput"]))
    slack = [
        run["slack"]
        for style in results.get("memory", {}).values()
        for runs in style.values()
        for run in runs
    ]
    if slack and max(slack) > 1024:
        print(
            f"warning: a memory run's peak RSS before exceeded its RSS by "
            f"{max(slack) / 1024:.1f} MiB; growth below that would not show"
        )
    print(f"load average at start: {start_load}, at end: {load()}")
    if options.json is not None:
        options.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
