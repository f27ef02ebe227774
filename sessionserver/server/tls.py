"""The daemon's TLS context, built once at start from ``--tls-cert``, ``--tls-key`` and
``--tls-client-ca``; a file that cannot be used is one line for the operator."""

from __future__ import annotations

import ssl

from ..exceptions import ConfigurationError
from .config import ServerConfig

__all__ = ["TLSConfigError", "describe", "server_context"]


class TLSConfigError(ConfigurationError):
    """A TLS option or file is unusable; the message is one line."""


def server_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The listener's context, or None for plain TCP.

    Raises:
        TLSConfigError: an option without its partner, or a file that is missing or not PEM.
    """
    cert, key, client_ca = config.tls_cert, config.tls_key, config.tls_client_ca
    if cert is None and key is None:
        if client_ca is not None:
            raise TLSConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise TLSConfigError("--tls-cert and --tls-key go together")
    # The defaults of the stdlib's server purpose: TLS 1.2 or later, no compression, modern
    # ciphers.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(
            f"cannot use --tls-cert {cert} with --tls-key {key}: {_reason(exc)}"
        ) from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(
                f"cannot use --tls-client-ca {client_ca}: {_reason(exc)}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def describe(config: ServerConfig) -> str:
    """For the startup line: what a client needs to know."""
    if config.tls_cert is None:
        return "plain TCP"
    return "TLS, client certificates required" if config.tls_client_ca else "TLS"


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        if exc.reason == "KEY_VALUES_MISMATCH":
            return "the key does not belong to the certificate"
        return f"not a usable PEM file ({exc.reason or exc})"
    return exc.strerror or str(exc)
