"""Public value types of the IoT domain constructs: their enums and the trusted-CA types.

Re-exported unchanged by ``ocsp_validating_domain`` and the package (``__all__``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

__all__ = [
    "DomainApplicationProtocol",
    "DomainAuthenticationType",
    "OcspFailMode",
    "OcspHashAlgorithm",
    "TlsSecurityPolicy",
    "TrustedCa",
    "TrustedIssuer",
]


class OcspFailMode(Enum):
    """What the pre-auth Lambda answers when the OCSP status *cannot be established*."""

    #: Deny the connection (the secure default).
    CLOSED = "closed"
    #: Allow the connection when the responder is unreachable, answers tryLater, HTTP 5xx or
    #: times out. An answer that arrives and fails a check, or an untrusted device certificate,
    #: still denies.
    OPEN = "open"


class OcspHashAlgorithm(Enum):
    """Hash of the CertID in OCSP requests (AWS Private CA's RFC 5019 responder expects SHA-1)."""

    SHA1 = "sha1"
    SHA256 = "sha256"


class DomainAuthenticationType(Enum):
    """Authentication types that support custom client certificate validation."""

    AWS_X509 = "AWS_X509"
    CUSTOM_AUTH_X509 = "CUSTOM_AUTH_X509"


class DomainApplicationProtocol(Enum):
    """Application protocols that support custom client certificate validation."""

    SECURE_MQTT = "SECURE_MQTT"
    HTTPS = "HTTPS"


class TlsSecurityPolicy:
    """Documented IoT Core TLS security policies (``TlsConfig.SecurityPolicy``)."""

    #: TLS 1.2 and 1.3 (the IoT default for new domain configurations).
    TLS13_1_2_2022_10 = "IoTSecurityPolicy_TLS13_1_2_2022_10"
    #: TLS 1.3 only.
    TLS13_1_3_2022_10 = "IoTSecurityPolicy_TLS13_1_3_2022_10"
    #: TLS 1.2 only.
    TLS12_1_2_2022_10 = "IoTSecurityPolicy_TLS12_1_2_2022_10"
    #: Every policy the construct accepts as a literal.
    ALL: tuple[str, ...] = (TLS13_1_2_2022_10, TLS13_1_3_2022_10, TLS12_1_2_2022_10)


@runtime_checkable
class TrustedIssuer(Protocol):
    """A CA whose directly issued device certificates the pre-auth Lambda accepts.

    ``OcspPrivateCa`` fits this protocol; use :meth:`TrustedCa.from_pem` for other CAs.
    """

    @property
    def issuing_ca_certificate_pem(self) -> str:
        """The CA certificate, PEM (may be a deploy-time token)."""
        ...

    @property
    def ocsp_responder_url(self) -> str | None:
        """The CA's OCSP responder URL, allow-listed automatically; ``None`` if not known."""
        ...


@dataclass(frozen=True, kw_only=True)
class TrustedCa:
    """An external (or any PEM-known) issuing CA. Create it with :meth:`from_pem`."""

    issuing_ca_certificate_pem: str
    ocsp_responder_url: str | None = None

    @classmethod
    def from_pem(cls, pem: str, ocsp_responder_url: str | None = None) -> TrustedCa:
        """Trust the CA certificate ``pem`` (one ``CERTIFICATE`` block).

        :param ocsp_responder_url: the CA's responder (``http://...``), allow-listed for the
            Lambda. Default: none; then allow the URLs in the certificates' AIA through
            ``allowed_responder_urls``.
        """
        return cls(issuing_ca_certificate_pem=pem, ocsp_responder_url=ocsp_responder_url)
