"""Let pytest run in-process inside a session where pytest-twisted runs a reactor.

pytester's ``runpytest()`` (in-process by default) and ``inline_run()`` run a
nested pytest session: a second config in the same process, with the same
pytest-twisted module. pytest-twisted keeps one reactor and the greenlet that
runs it in module globals (``pytest_twisted._instances``): its
``pytest_configure`` installs the reactor and makes the greenlet, its
``pytest_unconfigure`` stops the reactor, and it runs every test function
inside that greenlet. So, unaided:

1. the outer test that calls pytester runs inside the reactor's greenlet, in
   one of its callbacks; the nested session's tests wait on the reactor from
   there, which pytest-twisted refuses ("blockon cannot be called from the
   twisted greenlet");
2. the nested configure installs a reactor again: Twisted refuses, but only
   after a new reactor was made and dropped, file descriptors and all;
3. the nested unconfigure stops the reactor, and a reactor runs once per
   process: back in the outer session, "illegal switch in blockon", then
   "twisted reactor has stopped" for every later Twisted test.

This module, registered in every session where pytest-twisted is active:

- runs a plain ``def`` test that requests ``pytester`` in the calling
  greenlet, as plain pytest would, not inside the reactor's; a Deferred it
  returns is waited for, as pytest-twisted would;
- makes a session configured while another one is (a nested session) use the
  outer session's reactor and greenlet: its configure installs nothing and
  its unconfigure stops nothing, so its Twisted tests run on the reactor of
  the outermost session, which alone starts and stops it, as it does today;
- lets a nested session that does not ask for a ``--reactor`` run on the
  outer one, and refuses, with a usage error, one that asks for another
  reactor or that is started inside the reactor's greenlet (by a Twisted
  test, whose reactor cannot turn until the test returns);
- imports, before a test that requests ``pytester``, the Twisted modules
  that the plugin's faces import and that cannot be imported twice
  (:func:`pytest_runtest_setup`).

It is registered by the plugin's ``pytest_configure``, which runs first
(``tryfirst``), so that a nested session is known as such before
pytest-twisted's ``pytest_configure`` runs.

No plugin is disabled; the only changes to pytest-twisted are two of its
module globals, replaced for a nested session only: its installer of the
reactor, until the session ends, and ``stop_twisted_greenlet``, during its
unconfigure.
"""

from __future__ import annotations

import importlib
import os
import shlex
import sys
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["configure", "is_nested"]

_SESSIONS: list[pytest.Config] = []
"""The configured sessions where pytest-twisted is active, outermost first."""
_OWNER = pytest.StashKey[pytest.Config]()
"""In a nested session: the outermost session, whose reactor it runs on."""


def configure(config: pytest.Config) -> None:
    """Set ``config`` up as the outermost session or as a nested one; called
    before pytest-twisted's ``pytest_configure``."""
    if not config.pluginmanager.has_plugin("twisted"):
        return
    config.pluginmanager.register(sys.modules[__name__], "tcpclient-nesting")
    owner = _SESSIONS[0] if _SESSIONS else None
    _SESSIONS.append(config)
    config.add_cleanup(lambda: _SESSIONS.remove(config))
    if owner is None:
        return
    # before any usage error: its unconfigure, which follows, must stop nothing
    config.stash[_OWNER] = owner
    import greenlet
    import pytest_twisted

    if greenlet.getcurrent() is pytest_twisted._instances.gr_twisted:
        raise pytest.UsageError(
            "pytest runs in-process inside a test that runs in pytest-twisted's "
            "reactor (a Twisted test): the reactor cannot turn until that test "
            "returns, so the tests of this session could not use it. Run pytester "
            "from a plain def test, or use pytester.runpytest_subprocess()"
        )
    _use_the_outer_reactor(config, owner)
    installers = pytest_twisted.reactor_installers
    name = config.getoption("reactor")
    installer = installers[name]
    installers[name] = _already_installed
    config.add_cleanup(lambda: installers.__setitem__(name, installer))


def is_nested(config: pytest.Config) -> bool:
    """Whether ``config`` is a session run inside another one."""
    return _OWNER in config.stash


def _use_the_outer_reactor(config: pytest.Config, owner: pytest.Config) -> None:
    """Let ``config`` run on the reactor of ``owner``: one process, one reactor."""
    wanted = config.getoption("reactor")
    running = owner.getoption("reactor")
    if wanted == running:
        return
    if not _asks_for_reactor(config):
        config.option.reactor = running
        return
    raise pytest.UsageError(
        f"--reactor={wanted} was asked for, but this pytest session runs inside "
        f"another one (pytester's runpytest() or inline_run()), whose reactor is "
        f"--reactor={running}, and a process has one reactor: run it with "
        f"--reactor={running}, or in a subprocess (pytester.runpytest_subprocess())"
    )


def _asks_for_reactor(config: pytest.Config) -> bool:
    """Whether ``--reactor`` is given to ``config``: on its command line, in
    ``PYTEST_ADDOPTS`` or in the ``addopts`` of its ini file."""
    words = [
        *map(str, config.invocation_params.args),
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *config.getini("addopts"),
    ]
    return any(word == "--reactor" or word.startswith("--reactor=") for word in words)


def _already_installed() -> None:
    """pytest-twisted's reactor installer in a nested session: the outer session's
    reactor and greenlet are installed already, and stay."""


def _leave_running() -> None:
    """pytest-twisted's ``stop_twisted_greenlet`` in a nested session: the reactor
    is the outer session's, which stops it when it ends."""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> Generator[None, Any, Any]:
    """A nested session ends without stopping the outer session's reactor."""
    if not is_nested(config):
        return (yield)
    import pytest_twisted

    stop = pytest_twisted.stop_twisted_greenlet
    pytest_twisted.stop_twisted_greenlet = _leave_running
    try:
        return (yield)
    finally:
        pytest_twisted.stop_twisted_greenlet = stop


_REGISTERING = ("twisted.python.modules", "twisted.trial.unittest")
"""Twisted modules that the faces of this plugin import, and that register
adapters in Twisted's global registry when they are imported."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a test that requests ``pytester``, import :data:`_REGISTERING`.

    An in-process run restores ``sys.modules`` as it found it, so a module
    first imported during a run is imported again by the next one; and a
    module that registers an adapter then fails ("an adapter ... was already
    registered"), as the registry is kept. Imported before, they are kept.
    """
    if "pytester" in getattr(item, "fixturenames", ()):
        for name in _REGISTERING:
            importlib.import_module(name)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object | None:
    """Run a plain test that requests ``pytester`` in this greenlet, not in the
    reactor's: the sessions it runs wait on the reactor, which must turn."""
    if "pytester" not in pyfuncitem.fixturenames:
        return None
    from . import coexistence
    from .plugin import _is_twisted_style

    if coexistence.is_pytest_asyncio_test(pyfuncitem) or _is_twisted_style(pyfuncitem):
        return None
    import pytest_twisted
    from twisted.internet.defer import Deferred

    funcargs = pyfuncitem.funcargs
    arguments = {name: funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    result = pyfuncitem.obj(**arguments)
    if isinstance(result, Deferred):  # as pytest-twisted would: wait for it
        pytest_twisted.blockon(result)
    return True
