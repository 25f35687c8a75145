"""What a Deferred of the core fired with, read at once: the unit tests run
on a MemoryReactorClock, where nothing fires later unless told to."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from pytest_tcpclient.core import ScriptFailure

PENDING = object()
"""What :func:`outcome` returns for a Deferred that has not fired."""


def outcome(deferred: Deferred[Any]) -> Any:
    """What ``deferred`` fired with (a Failure if it failed), or PENDING."""
    results: list[Any] = []
    deferred.addBoth(results.append)
    return results[0] if results else PENDING


def failure_of(deferred: Deferred[Any]) -> ScriptFailure:
    """The ScriptFailure ``deferred`` failed with."""
    result = outcome(deferred)
    assert isinstance(result, Failure), result
    assert result.check(ScriptFailure)
    return result.value
