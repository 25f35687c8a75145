"""The bridge that runs the core's Twisted server inside an asyncio test.

An asyncio test runs on its own event loop, not on pytest-twisted's reactor.
:func:`reactor_on` makes a Twisted ``AsyncioSelectorReactor`` bound to that
loop, so the server makes progress whenever the test awaits, whatever global
reactor is installed; :func:`release` gives back everything it opened.
:class:`AwaitableDeferred` lets an asyncio task ``await`` a Deferred.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

__all__ = ["AwaitableDeferred", "reactor_on", "release"]


def reactor_on(loop: asyncio.AbstractEventLoop) -> AsyncioSelectorReactor:
    """A Twisted reactor driven by ``loop``; it is never run or installed."""
    return AsyncioSelectorReactor(loop)


def release(reactor: AsyncioSelectorReactor) -> None:
    """Close the reactor's waker and timer so no descriptor or callback leaks.

    Call it once the servers on ``reactor`` are closed.
    """
    waker = reactor.waker
    if waker is not None:
        reactor.removeReader(waker)
        waker.connectionLost(None)
        reactor.waker = None
    handle = reactor._timerHandle
    if handle is not None:
        handle.cancel()
        reactor._timerHandle = None


class AwaitableDeferred(Deferred):  # type: ignore[type-arg]
    """A Deferred that an asyncio task on ``loop`` can ``await``.

    A failure is raised at the ``await`` with no frame of Twisted or of this
    module under it, so pytest reports it at the test's own line.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop

    def __await__(self) -> Generator[Any, None, Any]:  # type: ignore[override]
        __tracebackhide__ = True
        outcome: list[object] = []
        settled = self.loop.create_future()

        def settle(result: object) -> None:
            outcome.append(result)
            if not settled.done():
                settled.set_result(None)

        self.addBoth(settle)
        if not outcome:
            yield from settled
        result = outcome[0]
        if isinstance(result, Failure):
            raise result.value.with_traceback(result.tb)
        return result

    __iter__ = __await__  # type: ignore[assignment]
