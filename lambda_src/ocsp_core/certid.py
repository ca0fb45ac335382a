"""The CertID an OCSP question is keyed on (RFC 6960 4.1.1): serial number, issuer name hash,
issuer key hash and their hash algorithm.

It is made from a certificate and its issuer (:meth:`CertId.for_certificate`, the pre-auth
Lambda, which has the device certificate) or read from an OCSP request
(:meth:`CertId.from_request`, the stapling Lambda, which only gets IoT Core's request): the pairing
``cryptography`` offers as ``add_certificate`` and ``add_certificate_by_hash``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp


class HashName(enum.StrEnum):
    """Hash of the CertID we send (responses may use any hash; we recompute with theirs)."""

    SHA1 = "sha1"
    SHA256 = "sha256"


HASHES: dict[HashName, hashes.HashAlgorithm] = {
    HashName.SHA1: hashes.SHA1(),  # noqa: S303 - CertID hash (RFC 5019 default), not a signature
    HashName.SHA256: hashes.SHA256(),
}

#: Hashes an OCSP CertID may use that ``cryptography`` can compute (what its request builder
#: accepts), by their name.
_CERT_ID_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_by_name(name: str) -> hashes.HashAlgorithm | None:
    """The CertID hash called ``name`` (``"sha1"``, ``"sha256"``, ...), or ``None``."""
    kind = _CERT_ID_HASHES.get(name)
    return None if kind is None else kind()


def issuer_key_hash(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    """The hash of ``issuer``'s subjectPublicKey BIT STRING *as encoded in* the certificate (a
    re-encoded key, e.g. an uncompressed EC point for a compressed one, would hash differently):
    the CertID issuerKeyHash, and SHA-1 of it is the ResponderID ``byKey`` (RFC 6960 4.2.1)."""
    probe = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, algorithm).build()
    return probe.issuer_key_hash


def issuer_name_hash(name: x509.Name, algorithm: hashes.HashAlgorithm) -> bytes:
    """The hash of the DER of ``name`` (the CertID issuerNameHash)."""
    digest = hashes.Hash(algorithm)
    digest.update(name.public_bytes())
    return digest.finalize()


@dataclass(frozen=True, slots=True)
class CertId:
    """One CertID. ``hash_name`` is the name ``cryptography`` gives its hash (``"sha1"``)."""

    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_name: str
    #: The certificate the CertID was made for, when known: the hashes for another algorithm
    #: are then recomputed from its own issuer field, byte for byte as a responder sees it.
    certificate: x509.Certificate | None = field(default=None, compare=False, repr=False)

    @classmethod
    def for_certificate(
        cls, cert: x509.Certificate, issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
    ) -> CertId:
        """The CertID of ``cert`` issued by ``issuer``, hashed with ``algorithm``."""
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()
        return cls(
            serial=cert.serial_number,
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            hash_name=algorithm.name,
            certificate=cert,
        )

    @classmethod
    def from_request(cls, request: ocsp.OCSPRequest) -> CertId:
        """The (only) CertID of a parsed OCSP request; ``ValueError`` for an unusable one."""
        algorithm = request.hash_algorithm  # raises for a hash cryptography does not know
        return cls(
            serial=request.serial_number,
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            hash_name=algorithm.name,
        )

    @property
    def hash_algorithm(self) -> hashes.HashAlgorithm | None:
        return hash_by_name(self.hash_name)

    def hashes_for(
        self, algorithm: hashes.HashAlgorithm, issuer: x509.Certificate
    ) -> tuple[bytes, bytes] | None:
        """(issuer name hash, issuer key hash) of this CertID under ``algorithm``, for an answer
        that uses another hash than ours; ``None`` when ``algorithm`` cannot be computed."""
        if algorithm.name == self.hash_name:
            return self.issuer_name_hash, self.issuer_key_hash
        try:
            if self.certificate is not None:
                request = (
                    ocsp.OCSPRequestBuilder()
                    .add_certificate(self.certificate, issuer, algorithm)
                    .build()
                )
                return request.issuer_name_hash, request.issuer_key_hash
            return issuer_name_hash(issuer.subject, algorithm), issuer_key_hash(issuer, algorithm)
        except Exception:  # a hash OCSP requests cannot carry: not our CertID
            return None

    def is_issued_by(self, issuer: x509.Certificate) -> bool:
        """Do the CertID's issuer hashes name ``issuer`` (its subject and its key)?"""
        algorithm = self.hash_algorithm
        if algorithm is None:
            return False
        try:
            return (
                issuer_name_hash(issuer.subject, algorithm) == self.issuer_name_hash
                and issuer_key_hash(issuer, algorithm) == self.issuer_key_hash
            )
        except Exception:  # an issuer key type OCSP cannot hash
            return False
