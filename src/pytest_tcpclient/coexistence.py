"""Let pytest-asyncio tests run in a session where pytest-twisted runs a reactor.

pytest-twisted runs its reactor in a greenlet and runs every test function
inside it. With ``--reactor=asyncio`` that reactor is an asyncio loop, and
two things break every pytest-asyncio test:

1. asyncio keeps the running loop per thread, and greenlets share a thread:
   once the reactor's loop runs in its greenlet, the main greenlet, where
   fixtures are set up, also sees it as running, and pytest-asyncio's runner
   refuses to start ("Cannot run the event loop while another loop is
   running"). :func:`running_loop_per_greenlet` fixes that by saving and
   restoring the running loop on every greenlet switch, as if each greenlet
   were a thread.
2. The test function itself would run inside the reactor's loop, where no
   other loop may run. :func:`pytest_pyfunc_call` runs pytest-asyncio tests in
   the main greenlet instead, as plain pytest would; they need no reactor.

Neither change touches a test that is not a pytest-asyncio test, and neither
plugin is disabled.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["is_pytest_asyncio_test", "running_loop_per_greenlet"]


@contextmanager
def running_loop_per_greenlet() -> Iterator[None]:
    """While active, each greenlet has its own running asyncio loop."""
    import greenlet

    saved: weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop | None]
    saved = weakref.WeakKeyDictionary()
    previous: Callable[[str, Any], Any] | None = greenlet.gettrace()

    def trace(event: str, args: Any) -> None:
        if event in ("switch", "throw"):
            origin, target = args
            saved[origin] = asyncio._get_running_loop()
            asyncio._set_running_loop(saved.pop(target, None))
        if previous is not None:
            previous(event, args)

    greenlet.settrace(trace)
    try:
        yield
    finally:
        greenlet.settrace(previous)


def is_pytest_asyncio_test(item: pytest.Item) -> bool:
    """Whether pytest-asyncio runs ``item``."""
    try:
        from pytest_asyncio import is_async_test
    except ImportError:
        return False
    return bool(is_async_test(item))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object | None:
    """Run a pytest-asyncio test in the main greenlet, not in the reactor's."""
    if not is_pytest_asyncio_test(pyfuncitem):
        return None
    if not pyfuncitem.config.pluginmanager.has_plugin("twisted"):
        return None
    from _pytest.python import pytest_pyfunc_call as call_as_pytest_does

    return call_as_pytest_does(pyfuncitem)
