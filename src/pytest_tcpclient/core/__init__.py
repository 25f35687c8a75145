"""The scripted TCP server: steps as data, a sans-IO script, a Twisted driver.

Nothing in this package knows pytest, asyncio or trial, and nothing imports a
global reactor: every entry point takes the reactor to run on.

- :mod:`.steps`: the steps a test declares, as plain data;
- :mod:`.script`: the state machine that runs them against what the client does;
- :mod:`.protocol`: the Twisted ``Protocol``/``Factory`` that drives the script;
- :mod:`.methods`: :class:`StepMethods`, the methods that declare steps;
- :mod:`.server`: :class:`ScriptedServer`, the API a test uses, and :class:`ServerGroup`;
- :mod:`.transcript`: the bounded record shown in failure messages.
"""

from .methods import StepMethods
from .script import ScriptFailure
from .server import (
    DEFAULT_TIMEOUT,
    ScriptedServer,
    ServerFactory,
    ServerGroup,
    ServerStopped,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ScriptFailure",
    "ScriptedServer",
    "ServerFactory",
    "ServerGroup",
    "ServerStopped",
    "StepMethods",
]
