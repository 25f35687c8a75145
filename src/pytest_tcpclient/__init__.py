"""A pytest plugin that gives tests a scripted TCP server to test clients against.

The server core lives in :mod:`pytest_tcpclient.core`; the pytest fixtures in
:mod:`pytest_tcpclient.plugin`; the wire format of frames in
:mod:`pytest_tcpclient.framing`.
"""

from .core import ScriptedServer, ScriptFailure, ServerGroup, ServerStopped

__all__ = ["ScriptFailure", "ScriptedServer", "ServerGroup", "ServerStopped"]
