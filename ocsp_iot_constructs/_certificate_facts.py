"""What the constructs can tell about a PEM certificate at synth, without a crypto library: its
issuer and subject names, key identifiers, whether it is a CA, whether it may sign OCSP answers.

The library does not depend on ``cryptography`` (the Lambda bundle does): this is a small, strict
reader of the few DER fields the synth-time checks need. It never verifies a signature, so
"issued by" here means what path building uses (issuer name = CA subject, and authority key
identifier = CA subject key identifier when both are present); the Lambda verifies signatures on
every answer at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._ocsp_client import pem_certificate_der

_SEQUENCE = 0x30
_BOOLEAN = 0x01
_OID = 0x06
_OCTET_STRING = 0x04
_VERSION = 0xA0  # [0] EXPLICIT
_EXTENSIONS = 0xA3  # [3] EXPLICIT
_KEY_IDENTIFIER = 0x80  # [0] IMPLICIT in AuthorityKeyIdentifier

#: DER contents of the extension and usage OIDs read here.
_BASIC_CONSTRAINTS = bytes.fromhex("551d13")  # 2.5.29.19
_SUBJECT_KEY_ID = bytes.fromhex("551d0e")  # 2.5.29.14
_AUTHORITY_KEY_ID = bytes.fromhex("551d23")  # 2.5.29.35
_EXTENDED_KEY_USAGE = bytes.fromhex("551d25")  # 2.5.29.37
_OCSP_SIGNING = bytes.fromhex("2b06010505070309")  # 1.3.6.1.5.5.7.3.9


class _DerError(ValueError):
    pass


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """(tag, contents, offset after) of the DER TLV at ``offset``."""
    if offset + 2 > len(data):
        raise _DerError("truncated")
    tag, first = data[offset], data[offset + 1]
    position = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or position + count > len(data):
            raise _DerError("bad length")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    end = position + length
    if end > len(data):
        raise _DerError("truncated")
    return tag, data[position:end], end


def _children(contents: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, contents, whole TLV) of each element inside a constructed value."""
    found = []
    offset = 0
    while offset < len(contents):
        tag, inner, end = _tlv(contents, offset)
        found.append((tag, inner, contents[offset:end]))
        offset = end
    return found


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


def _extension_facts(extensions: bytes) -> dict[bytes, bytes]:
    """extnID -> extnValue contents."""
    values: dict[bytes, bytes] = {}
    for tag, extension, _ in _children(extensions):
        if tag != _SEQUENCE:
            raise _DerError("extension")
        parts = _children(extension)
        if not parts or parts[0][0] != _OID or parts[-1][0] != _OCTET_STRING:
            raise _DerError("extension")
        values[parts[0][1]] = parts[-1][1]
    return values


def _is_ca(value: bytes | None) -> bool:
    if value is None:
        return False
    tag, constraints, _ = _tlv(value, 0)
    fields = _children(constraints) if tag == _SEQUENCE else []
    return bool(fields) and fields[0][0] == _BOOLEAN and fields[0][1] == b"\xff"


def _authority_key_id(value: bytes | None) -> bytes | None:
    if value is None:
        return None
    _tag, identifier, _ = _tlv(value, 0)
    fields = _children(identifier)
    return fields[0][1] if fields and fields[0][0] == _KEY_IDENTIFIER else None


def certificate_facts(pem: str) -> CertificateFacts | None:
    """The facts of the single certificate in ``pem``; ``None`` when it cannot be read."""
    der = pem_certificate_der(pem)
    if der is None:
        return None
    try:
        _tag, certificate, end = _tlv(der, 0)
        if end != len(der):
            return None
        (tbs_tag, tbs, _), *_rest = _children(certificate)
        if tbs_tag != _SEQUENCE:
            return None
        fields = _children(tbs)
        if fields and fields[0][0] == _VERSION:
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
        issuer, subject = fields[2][2], fields[4][2]
        extensions: dict[bytes, bytes] = {}
        for tag, contents, _ in fields[6:]:
            if tag == _EXTENSIONS:
                _seq, inner, _ = _tlv(contents, 0)
                extensions = _extension_facts(inner)
        eku = extensions.get(_EXTENDED_KEY_USAGE)
        ski = extensions.get(_SUBJECT_KEY_ID)
        return CertificateFacts(
            issuer=issuer,
            subject=subject,
            is_ca=_is_ca(extensions.get(_BASIC_CONSTRAINTS)),
            ocsp_signing=eku is not None
            and any(
                tag == _OID and oid == _OCSP_SIGNING for tag, oid, _ in _children(_tlv(eku, 0)[1])
            ),
            subject_key_id=_tlv(ski, 0)[1] if ski is not None else None,
            authority_key_id=_authority_key_id(extensions.get(_AUTHORITY_KEY_ID)),
        )
    except (_DerError, IndexError, ValueError):
        return None
