"""Throwaway certificates for the scripted servers' TLS, and for their clients.

A :class:`CertificateAuthority` is a CA made on the spot (with trustme): it
issues the servers' certificate, valid for ``localhost``, ``127.0.0.1`` and
``::1``, and client certificates for mutual TLS, and gives clients what they
need to trust it: an :class:`ssl.SSLContext`, the PEM of the CA (and a file
of it) or a Twisted trust root.

The pytest plugin makes one per session (the ``tcpserver_ca`` fixture);
:func:`default_ca` is the one of the process, for ``scripted_server()`` and
trial tests. It needs ``pip install pytest-tcpclient[tls]``.
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
import threading
import warnings
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .tls import EXTRA, require_tls

if TYPE_CHECKING:
    from trustme import LeafCert
    from twisted.internet.ssl import Certificate, CertificateOptions, PrivateCertificate

__all__ = ["CertificateAuthority", "ClientCertificate", "default_ca"]

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
"""What the servers' certificate is valid for."""


class CertificateAuthority:
    """A throwaway CA, and the servers' certificate it issued.

    :param directory: where :attr:`cert_path` and the client certificates'
        files are written (a temporary directory, removed at exit, if None).
    """

    def __init__(self, directory: Path | str | None = None) -> None:
        require_tls()
        try:
            import trustme
        except ImportError as error:
            raise ImportError(f"TLS needs the tls extra ({EXTRA}): {error}") from None
        self._ca = trustme.CA()
        self._server = self._ca.issue_cert(*SERVER_NAMES)
        if directory is None:
            directory = tempfile.mkdtemp(prefix="pytest-tcpclient-ca-")
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
        self.directory = Path(directory)
        self._contexts: dict[bool, CertificateOptions] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<CertificateAuthority {self.cert_path}>"

    @property
    def cert_pem(self) -> bytes:
        """The CA's certificate, PEM-encoded: what a client trusts."""
        return self._ca.cert_pem.bytes()

    @cached_property
    def cert_path(self) -> Path:
        """A file of :attr:`cert_pem`, for clients that want a path (``cafile=``)."""
        path = self.directory / "ca.pem"
        path.write_bytes(self.cert_pem)
        return path

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA: ``ssl.create_default_context()``
        plus the CA, hostname checks on."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    @cached_property
    def trust_root(self) -> Certificate:
        """The CA for Twisted clients:
        ``optionsForClientTLS("localhost", trustRoot=ca.trust_root)``."""
        from twisted.internet.ssl import Certificate

        return Certificate.loadPEM(self.cert_pem)

    def issue_client_certificate(
        self, name: str = "client@example.com"
    ) -> ClientCertificate:
        """A client certificate and its key, issued by this CA (for mutual TLS)."""
        return ClientCertificate(self._ca.issue_cert(name), self.directory)

    def server_context(self, client_certificate: bool = False) -> CertificateOptions:
        """The servers' TLS options (Twisted's ``CertificateOptions``): this
        CA's server certificate; with ``client_certificate``, a client must
        present one this CA issued."""
        with self._lock:
            if client_certificate not in self._contexts:
                from twisted.internet.ssl import Certificate, PrivateCertificate

                server = PrivateCertificate.loadPEM(
                    self._server.cert_chain_pems[0].bytes()
                    + self._server.private_key_pem.bytes()
                )
                trusted = [Certificate.loadPEM(self.cert_pem)] if client_certificate else []
                options: CertificateOptions = server.options(*trusted)
                with warnings.catch_warnings():
                    # Twisted hands pyOpenSSL the X509 objects it deprecates.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    options.getContext()  # made once, here, and kept
                self._contexts[client_certificate] = options
            return self._contexts[client_certificate]


class ClientCertificate:
    """A client certificate and its key, PEM-encoded and in files."""

    def __init__(self, leaf: LeafCert, directory: Path) -> None:
        self._leaf = leaf
        self._directory = directory

    @property
    def cert_pem(self) -> bytes:
        """The certificate (and its chain), PEM-encoded."""
        return b"".join(blob.bytes() for blob in self._leaf.cert_chain_pems)

    @property
    def key_pem(self) -> bytes:
        """The private key, PEM-encoded."""
        return self._leaf.private_key_pem.bytes()

    @cached_property
    def cert_path(self) -> Path:
        """A file of :attr:`cert_pem`."""
        path = self._directory / f"client-{id(self)}.pem"
        path.write_bytes(self.cert_pem)
        return path

    @cached_property
    def key_path(self) -> Path:
        """A file of :attr:`key_pem`."""
        path = self._directory / f"client-{id(self)}.key"
        path.write_bytes(self.key_pem)
        return path

    def configure(self, context: ssl.SSLContext) -> None:
        """Load the certificate and key into a client ``context``
        (``context.load_cert_chain(cert_path, key_path)``)."""
        context.load_cert_chain(self.cert_path, self.key_path)

    @cached_property
    def private_certificate(self) -> PrivateCertificate:
        """The certificate and key for Twisted clients:
        ``optionsForClientTLS(..., clientCertificate=cert.private_certificate)``."""
        from twisted.internet.ssl import PrivateCertificate

        certificate: PrivateCertificate = PrivateCertificate.loadPEM(
            self.cert_pem + self.key_pem
        )
        return certificate


_default: CertificateAuthority | None = None
_default_lock = threading.Lock()


def default_ca() -> CertificateAuthority:
    """The process's CA, made on first use: the one ``scripted_server(tls=True)``
    and trial tests use."""
    global _default
    require_tls()  # every time: the CA made, TLS still needs its modules
    with _default_lock:
        if _default is None:
            _default = CertificateAuthority()
        return _default
