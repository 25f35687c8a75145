"""A pytest plugin that gives tests a scripted TCP server to test clients against.

The server core lives in :mod:`pytest_tcpclient.core`; the pytest fixtures in
:mod:`pytest_tcpclient.plugin`; servers for blocking clients, and
:func:`scripted_server` for runners other than pytest, in
:mod:`pytest_tcpclient.blocking`; the wire format of frames in
:mod:`pytest_tcpclient.framing`.
"""

from .blocking import scripted_server
from .core import Received, Rule, ScriptedServer, ScriptFailure, ServerGroup, ServerStopped
from .core.certificates import CertificateAuthority, ClientCertificate, default_ca

__all__ = [
    "CertificateAuthority",
    "ClientCertificate",
    "Received",
    "Rule",
    "ScriptFailure",
    "ScriptedServer",
    "ServerGroup",
    "ServerStopped",
    "default_ca",
    "scripted_server",
]
