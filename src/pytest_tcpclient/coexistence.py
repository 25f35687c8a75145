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

Trial test cases (``twisted.trial.unittest.TestCase``) run the reactor
themselves: to wait for a test's Deferred, trial calls ``reactor.run()``
until its callback calls ``reactor.crash()``, and after the test it calls
``reactor.iterate()`` to flush timers. Once pytest-twisted runs the reactor
in its greenlet, ``run()`` raises ``ReactorAlreadyRunning`` (and trial's
``crash()`` would end pytest-twisted's run of it). :func:`pytest_runtest_call`
then gives trial, for the time of its test, stand-ins of those three methods
on the reactor (:class:`TrialOnRunningReactor`): ``run()`` waits for
``crash()`` with pytest-twisted's ``blockon``, while the reactor turns in
its greenlet, and ``iterate()`` waits for one turn. Trial replaces reactor
methods during a test the same way. Before pytest-twisted starts its
reactor, trial runs it as it always does.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

__all__ = ["TrialOnRunningReactor", "is_pytest_asyncio_test", "running_loop_per_greenlet"]


_per_greenlet: list[None] = []
"""Not empty while :func:`running_loop_per_greenlet` is active."""


@contextmanager
def running_loop_per_greenlet() -> Iterator[None]:
    """While active, each greenlet has its own running asyncio loop.

    Inside an active one (a nested pytest session), it changes nothing: a
    second trace would save, as the origin's loop, the loop the first one set
    for the target."""
    if _per_greenlet:
        yield
        return
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
    _per_greenlet.append(None)
    try:
        yield
    finally:
        _per_greenlet.clear()
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


_ABSENT = object()


class TrialOnRunningReactor:
    """What trial calls on the reactor, for one test, while pytest-twisted runs
    that reactor in its greenlet: the reactor turns there, never in trial."""

    _METHODS = ("run", "crash", "iterate")

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self._waiting: Deferred[None] | None = None  # what crash() fires
        self._saved: dict[str, object] = {}  # the reactor's own attributes, if any

    def run(self) -> None:
        """Trial's wait for a Deferred: the reactor turns until :meth:`crash`."""
        import pytest_twisted
        from twisted.internet.defer import Deferred

        waiting: Deferred[None] = Deferred()
        self._waiting = waiting
        try:
            pytest_twisted.blockon(waiting)
        finally:
            self._waiting = None

    def crash(self) -> None:
        """End the wait of :meth:`run`; the reactor runs on."""
        if self._waiting is not None and not self._waiting.called:
            self._waiting.callback(None)

    def iterate(self, delay: float = 0) -> None:
        """One turn of the reactor (trial flushes timers this way)."""
        import greenlet
        import pytest_twisted
        from twisted.internet.task import deferLater

        if greenlet.getcurrent() is pytest_twisted._instances.gr_twisted:
            type(self.reactor).iterate(self.reactor, delay)  # in the reactor: as is
            return
        pytest_twisted.blockon(deferLater(self.reactor, delay, lambda: None))

    def __enter__(self) -> TrialOnRunningReactor:
        for name in self._METHODS:
            self._saved[name] = self.reactor.__dict__.get(name, _ABSENT)
            setattr(self.reactor, name, getattr(self, name))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, method in self._saved.items():
            if method is _ABSENT:
                self.reactor.__dict__.pop(name, None)
            else:
                setattr(self.reactor, name, method)


def _trial_test_on_running_reactor(item: pytest.Item) -> bool:
    """Whether ``item`` is a trial TestCase's test, to run while pytest-twisted
    runs the reactor in its greenlet, and this is not that greenlet."""
    trial = sys.modules.get("twisted.trial.unittest")
    if trial is None or not isinstance(getattr(item, "instance", None), trial.TestCase):
        return False
    import greenlet
    import pytest_twisted

    reactor_greenlet = pytest_twisted._instances.gr_twisted
    # a greenlet is true once started, until it ends
    return bool(reactor_greenlet) and greenlet.getcurrent() is not reactor_greenlet


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run a trial TestCase's test on pytest-twisted's reactor, if it is running."""
    if not _trial_test_on_running_reactor(item):
        return (yield)
    import pytest_twisted

    with TrialOnRunningReactor(pytest_twisted._instances.reactor):
        return (yield)
