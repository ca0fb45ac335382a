"""Public value types of :class:`~ocsp_iot_constructs.ocsp_private_ca.OcspPrivateCa`.

Kept apart from the construct so that the prop validation (``_pca_props``) can use them too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aws_cdk import aws_acmpca as acmpca

__all__ = [
    "DEFAULT_SIGNING_ALGORITHM",
    "CaHierarchy",
    "CaSubject",
    "KeyAlgorithm",
    "SigningAlgorithm",
    "UsageMode",
]


class KeyAlgorithm(enum.Enum):
    """Key pair of the CAs (``KeyAlgorithm`` of ``AWS::ACMPCA::CertificateAuthority``).

    Only the RSA and ECDSA algorithms that AWS IoT Core accepts in device certificate chains are
    offered; Private CA's ML-DSA and SM2 keys are left out on purpose.
    """

    EC_PRIME256V1 = "EC_prime256v1"
    EC_SECP384R1 = "EC_secp384r1"
    EC_SECP521R1 = "EC_secp521r1"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"

    @property
    def family(self) -> str:
        """``"ECDSA"`` or ``"RSA"``: the signing algorithm must be of the same family."""
        return "ECDSA" if self.value.startswith("EC_") else "RSA"


class SigningAlgorithm(enum.Enum):
    """Algorithm the CAs sign certificates, CRLs and OCSP responses with."""

    SHA256WITHECDSA = "SHA256WITHECDSA"
    SHA384WITHECDSA = "SHA384WITHECDSA"
    SHA512WITHECDSA = "SHA512WITHECDSA"
    SHA256WITHRSA = "SHA256WITHRSA"
    SHA384WITHRSA = "SHA384WITHRSA"
    SHA512WITHRSA = "SHA512WITHRSA"
    SHA256WITHRSA_PSS = "SHA256WITHRSA_PSS"
    SHA384WITHRSA_PSS = "SHA384WITHRSA_PSS"
    SHA512WITHRSA_PSS = "SHA512WITHRSA_PSS"

    @property
    def family(self) -> str:
        """``"ECDSA"`` or ``"RSA"``."""
        return "ECDSA" if self.value.endswith("WITHECDSA") else "RSA"


#: Signing algorithm used when none is given: the hash matches the strength of the key.
DEFAULT_SIGNING_ALGORITHM: dict[KeyAlgorithm, SigningAlgorithm] = {
    KeyAlgorithm.EC_PRIME256V1: SigningAlgorithm.SHA256WITHECDSA,
    KeyAlgorithm.EC_SECP384R1: SigningAlgorithm.SHA384WITHECDSA,
    KeyAlgorithm.EC_SECP521R1: SigningAlgorithm.SHA512WITHECDSA,
    KeyAlgorithm.RSA_2048: SigningAlgorithm.SHA256WITHRSA,
    KeyAlgorithm.RSA_3072: SigningAlgorithm.SHA256WITHRSA,
    KeyAlgorithm.RSA_4096: SigningAlgorithm.SHA256WITHRSA,
}


class UsageMode(enum.Enum):
    """Private CA usage mode (create-only: it cannot be changed once the CA exists)."""

    #: Certificates of any validity; $400 per CA per month.
    GENERAL_PURPOSE = "GENERAL_PURPOSE"
    #: Certificates valid at most 7 days; $50 per CA per month. Revocation is then rarely
    #: worth checking, which defeats the purpose of this construct (a warning is added).
    SHORT_LIVED_CERTIFICATE = "SHORT_LIVED_CERTIFICATE"


class CaHierarchy(enum.Enum):
    """Which CAs are created."""

    #: A root CA that signs only a subordinate issuing CA, which issues device and server
    #: certificates (the recommended hierarchy; two CAs are billed).
    ROOT_AND_ISSUING = "ROOT_AND_ISSUING"
    #: A single root CA issues device and server certificates itself (one CA is billed).
    ROOT_ONLY = "ROOT_ONLY"


@dataclass(frozen=True, kw_only=True)
class CaSubject:
    """X.500 subject of a CA certificate. Fields left ``None`` are omitted.

    :param common_name: CN, 1-64 characters.
    :param organization: O, 1-64 characters.
    :param organizational_unit: OU, 1-64 characters.
    :param country: C, a two-letter ISO 3166 code such as ``"DE"``.
    :param state: ST, 1-128 characters.
    :param locality: L, 1-128 characters.
    """

    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None

    def to_cfn(self) -> acmpca.CfnCertificateAuthority.SubjectProperty:
        """The ``Subject`` property of ``AWS::ACMPCA::CertificateAuthority``."""
        return acmpca.CfnCertificateAuthority.SubjectProperty(
            common_name=self.common_name,
            organization=self.organization,
            organizational_unit=self.organizational_unit,
            country=self.country,
            state=self.state,
            locality=self.locality,
        )
