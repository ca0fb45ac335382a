"""What the constructs can tell about a PEM certificate at synth: its issuer and subject names,
key identifiers, whether it is a CA, whether it may sign OCSP answers (read with
``cryptography``, a dependency of the library).

It never verifies a signature, so "issued by" here means what path building uses (issuer name =
CA subject, and authority key identifier = CA subject key identifier when both are present); the
Lambda verifies signatures on every answer at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ._ocsp_client import pem_certificate_der

_Value = TypeVar("_Value", bound=x509.ExtensionType)


@dataclass(frozen=True, kw_only=True)
class CertificateFacts:
    """The fields of one certificate the synth-time checks use (names as DER)."""

    issuer: bytes
    subject: bytes
    is_ca: bool
    ocsp_signing: bool
    subject_key_id: bytes | None
    authority_key_id: bytes | None

    @property
    def self_issued(self) -> bool:
        return self.issuer == self.subject

    def names_as_issuer(self, ca: CertificateFacts) -> bool:
        """Does this certificate name ``ca`` as its issuer (name, and key identifier when both
        carry one)?"""
        if self.issuer != ca.subject:
            return False
        if self.authority_key_id is not None and ca.subject_key_id is not None:
            return self.authority_key_id == ca.subject_key_id
        return True


def _extension(extensions: x509.Extensions, kind: type[_Value]) -> _Value | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def certificate_facts(pem: str) -> CertificateFacts | None:
    """The facts of the single certificate in ``pem``; ``None`` when it cannot be read."""
    der = pem_certificate_der(pem)
    if der is None:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
        extensions = cert.extensions
        constraints = _extension(extensions, x509.BasicConstraints)
        usage = _extension(extensions, x509.ExtendedKeyUsage)
        subject_key = _extension(extensions, x509.SubjectKeyIdentifier)
        authority_key = _extension(extensions, x509.AuthorityKeyIdentifier)
        return CertificateFacts(
            issuer=cert.issuer.public_bytes(),
            subject=cert.subject.public_bytes(),
            is_ca=constraints is not None and constraints.ca,
            ocsp_signing=usage is not None and ExtendedKeyUsageOID.OCSP_SIGNING in usage,
            subject_key_id=subject_key.digest if subject_key is not None else None,
            authority_key_id=authority_key.key_identifier if authority_key is not None else None,
        )
    except ValueError:  # malformed DER, names or extensions
        return None
