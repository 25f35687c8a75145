"""What every part of the bench shares: the sizes of the workloads and their data.

The client is the same code for the plugin and for the raw server it is
compared with, and so is the data: only the server differs.
"""

from __future__ import annotations

import resource
import struct
import time
from dataclasses import dataclass, fields, replace

KiB = 1024
MiB = 1024 * KiB
HOST = "127.0.0.1"
DEADLINE = 120.0
"""Seconds any one measured run may take before the bench gives up on it."""
STEP_TIMEOUT = DEADLINE
"""The plugin's step timeout in the bench: longer than any run, so it never fires."""
FRAME_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class Sizes:
    """The size of every workload; :meth:`scaled` shrinks them for a smoke run."""

    throughput: int = 64 * MiB
    chunk: int = 64 * KiB
    segmentation_small: int = 50_000
    segmentation_large: int = 200_000
    round_trips: int = 5_000
    message: int = 10
    frames: int = 50_000
    frame_payload: int = 16
    tests: int = 500

    def scaled(self, factor: float) -> Sizes:
        """Every count multiplied by ``factor`` (the sizes of one write stay)."""
        minimum = {"throughput": 4 * self.chunk, "tests": 2}
        changes = {}
        for field in fields(self):
            if field.name in ("chunk", "message", "frame_payload"):
                continue
            value = getattr(self, field.name)
            changes[field.name] = max(minimum.get(field.name, 8), round(value * factor))
        changes["throughput"] -= changes["throughput"] % self.chunk  # whole writes
        return replace(self, **changes)


def payload(size: int) -> bytes:
    """``size`` bytes of a repeating, non-constant pattern."""
    pattern = bytes(range(256)) * 4 + b"pytest-tcpclient"  # 1040 bytes: no 2**k period
    whole, rest = divmod(size, len(pattern))
    # One allocation of ``size`` bytes, with no transient copy: a copy would
    # raise the peak RSS that the memory runs take as their baseline.
    return b"".join([pattern] * whole + [pattern[:rest]])


def messages(count: int, size: int) -> tuple[list[bytes], list[bytes]]:
    """``count`` distinct requests and replies of ``size`` bytes each."""
    digits = size - 1
    requests = [b"q" + b"%0*d" % (digits, i % 10**digits) for i in range(count)]
    replies = [b"r" + b"%0*d" % (digits, i % 10**digits) for i in range(count)]
    return requests, replies


def encode_frames(payloads: list[bytes]) -> bytes:
    """The wire bytes of ``payloads`` as consecutive frames."""
    return b"".join(FRAME_HEADER.pack(len(p)) + p for p in payloads)


def max_rss_kib() -> int:
    """The peak resident set size of this process so far, in KiB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kib() -> int | None:
    """The resident set size of this process now, in KiB; None if unknown."""
    try:
        with open("/proc/self/statm") as statm:
            resident = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident * resource.getpagesize() // 1024


Timing = tuple[float, float]
"""Wall-clock seconds and CPU seconds of this process (user + system)."""


class Stopwatch:
    """Started when made: :meth:`read` returns the :data:`Timing` since then.

    Client and server both run in this process, so its CPU time counts all
    the work of a run; other processes on a busy machine disturb it less than
    the wall clock.
    """

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def read(self) -> Timing:
        return time.perf_counter() - self._wall, time.process_time() - self._cpu
