"""The stapling Lambda's settings: its table of environment variables and the ``Settings`` read
from them once. Any bad value is a ``ConfigError`` listing every problem.

Names, defaults and bounds are listed in ``docs/stapling-domain-config.md``; the construct's copy
of :data:`SETTINGS` is ``ocsp_iot_constructs._stapling_function.SETTINGS`` (a test compares them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ocsp_core import settings as table
from ocsp_core.chain import is_directly_issued_by
from ocsp_core.settings import ConfigError, Problems, Setting, read_settings

__all__ = [
    "DEFAULTS",
    "IOT_MAX_STAPLE_BYTES",
    "SETTINGS",
    "ConfigError",
    "Settings",
    "load_settings",
]

#: IoT Core refuses a staple larger than this (bytes of DER).
IOT_MAX_STAPLE_BYTES = 4096

#: Every setting the handler reads, in the order its problems are reported.
SETTINGS: tuple[Setting, ...] = (
    table.OCSP_RESPONDER_URL,
    table.TRUSTED_CA_PEM,
    table.OCSP_AUTHORIZED_RESPONDER_PEM,
    table.OCSP_TIMEOUT_SECONDS,
    table.OCSP_CACHE_MAX_SECONDS,
    table.OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS,
    # An answer IoT Core would refuse is never worth reading.
    dataclasses.replace(
        table.OCSP_MAX_RESPONSE_BYTES,
        default=str(IOT_MAX_STAPLE_BYTES),
        maximum=IOT_MAX_STAPLE_BYTES,
    ),
)

#: The default text of every setting (``""``: none), as the docs and the construct quote it.
DEFAULTS: Mapping[str, str] = table.defaults(SETTINGS)


@dataclass(frozen=True, slots=True)
class Settings:
    """The handler's settings (every field is read from the environment: no defaults here)."""

    #: The one responder every request is forwarded to (normalized).
    responder_url: str
    #: The CAs that issue the server certificate.
    trusted_cas: tuple[x509.Certificate, ...]
    #: The delegate IoT Core verifies staples against (``OcspAuthorizedResponderArn``); when
    #: ``None``, only answers signed by a trusted CA itself are returned.
    authorized_responder: x509.Certificate | None
    timeout_seconds: float
    cache_max_seconds: int
    max_age_without_next_update_seconds: int
    max_response_bytes: int


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()[:200]
    except ValueError:  # pragma: no cover - a name cryptography parsed but cannot render
        return "?"


def _delegate_problem(
    delegate: x509.Certificate, trusted_cas: tuple[x509.Certificate, ...]
) -> str | None:
    """Why ``delegate`` can never sign an answer IoT Core accepts for these CAs (RFC 6960
    4.2.2.2: issued directly by the CA, with the OCSPSigning EKU); validity is checked on each
    answer."""
    name = f"OCSP_AUTHORIZED_RESPONDER_PEM ({_subject(delegate)})"
    if not any(is_directly_issued_by(delegate, ca) for ca in trusted_cas):
        return f"{name} must be issued directly by a certificate of TRUSTED_CA_PEM"
    try:
        eku = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        signs_ocsp = ExtendedKeyUsageOID.OCSP_SIGNING in eku
    except (x509.ExtensionNotFound, ValueError):
        signs_ocsp = False
    if not signs_ocsp:
        return f"{name} must carry the OCSPSigning extended key usage"
    return None


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read every setting from ``env`` (``os.environ``); raise one ``ConfigError`` listing all
    problems."""
    problems = Problems(SETTINGS)
    values = read_settings(env, SETTINGS, problems)
    if not env.get("OCSP_RESPONDER_URL", "").strip():
        problems.add(
            "OCSP_RESPONDER_URL",
            "OCSP_RESPONDER_URL must be the http(s) URL of the responder to forward to, "
            "got nothing",
        )
    delegate = values.get("OCSP_AUTHORIZED_RESPONDER_PEM")
    cas = values.get("TRUSTED_CA_PEM")
    if isinstance(delegate, x509.Certificate) and isinstance(cas, tuple) and cas:
        problem = _delegate_problem(delegate, cas)
        if problem is not None:
            problems.add("OCSP_AUTHORIZED_RESPONDER_PEM", problem)
    problems.raise_if_any()
    responder_url = values.optional_url("OCSP_RESPONDER_URL")
    if responder_url is None:  # pragma: no cover - reported above
        raise ConfigError(["OCSP_RESPONDER_URL is missing"])
    return Settings(
        responder_url=responder_url,
        trusted_cas=values.certificates("TRUSTED_CA_PEM"),
        authorized_responder=values.optional_certificate("OCSP_AUTHORIZED_RESPONDER_PEM"),
        timeout_seconds=values.seconds("OCSP_TIMEOUT_SECONDS"),
        cache_max_seconds=values.integer("OCSP_CACHE_MAX_SECONDS"),
        max_age_without_next_update_seconds=values.integer(
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS"
        ),
        max_response_bytes=values.integer("OCSP_MAX_RESPONSE_BYTES"),
    )
