"""Fixtures shared by the unit tests of the core and of framing."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import pytest

TOO_LONG = 2**32
"""One byte more than a 4-byte frame length can describe."""


@pytest.fixture
def too_long_payload(tmp_path) -> Iterator[memoryview]:
    """A payload of 2**32 bytes that costs no memory: a sparse file, mapped read-only."""
    path = tmp_path / "sparse"
    with path.open("wb") as file:
        file.truncate(TOO_LONG)
    with (
        path.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mm,
    ):
        view = memoryview(mm)
        assert view.nbytes == TOO_LONG
        yield view
        view.release()
