"""The scripted TCP server: steps as data, a sans-IO script, a Twisted driver.

Nothing in this package knows pytest, asyncio or trial, and nothing imports a
global reactor: every entry point takes the reactor to run on.

- :mod:`.steps`: the steps a test declares, each kind one class with its
  matching, progress and diagnostics;
- :mod:`.script`: the state machine that runs them, in order, against what the
  client does, and offers what no step takes to the rules (:mod:`.rules`);
- :mod:`.inbox`: what the client did that no step has taken yet;
- :mod:`.framings` and :mod:`.matching`: how messages are cut from the byte
  stream and matched;
- :mod:`.protocol`: the Twisted ``Protocol``/``Factory`` that drives the script;
- :mod:`.methods`: :class:`StepMethods`, the methods that declare steps;
- :mod:`.server`: :class:`ScriptedServer`, the API a test uses, and :class:`ServerGroup`;
- :mod:`.transcript`: the bounded record shown in failure messages.
"""

from .matching import Received
from .methods import StepMethods
from .rules import Rule
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
    "Received",
    "Rule",
    "ScriptFailure",
    "ScriptedServer",
    "ServerFactory",
    "ServerGroup",
    "ServerStopped",
    "StepMethods",
]
