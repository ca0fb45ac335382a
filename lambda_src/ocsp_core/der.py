"""A minimal, strict DER reader for the two things ``cryptography`` does not expose on an
``OCSPResponse``: the RSASSA-PSS parameters of its signature algorithm, and the
``singleExtensions`` of each SingleResponse (to refuse unknown critical ones).

(As of cryptography 50: ``signature_algorithm_parameters`` exists on certificates, CRLs and CSRs
but not on OCSP responses, whose ``signature_hash_algorithm`` raises for RSASSA-PSS; and
``OCSPResponse.single_extensions`` raises when there is more than one SingleResponse, while
``OCSPSingleResponse`` has no extensions at all.)

Only definite, minimal lengths and single-byte tags are accepted; anything else raises
``DerError`` (a ``ValueError``). The input has already been parsed by ``cryptography``; this
reader only walks it, and every caller turns a ``DerError`` into a denial.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
OCTET_STRING = 0x04
OID = 0x06
INTEGER = 0x02
BOOLEAN = 0x01
NULL = 0x05
ENUMERATED = 0x0A
GENERALIZED_TIME = 0x18
BIT_STRING = 0x03


def _context(number: int, *, constructed: bool = True) -> int:
    return (0xA0 if constructed else 0x80) | number


#: Object identifiers, as the content octets of their DER encoding.
OID_RSASSA_PSS = bytes.fromhex("2a864886f70d01010a")
OID_MGF1 = bytes.fromhex("2a864886f70d010108")
OID_SHA1 = bytes.fromhex("2b0e03021a")
OID_SHA256 = bytes.fromhex("608648016503040201")
OID_SHA384 = bytes.fromhex("608648016503040202")
OID_SHA512 = bytes.fromhex("608648016503040203")

#: Largest integer value this reader decodes (salt lengths and trailer fields are tiny).
_MAX_INT_OCTETS = 4


class DerError(ValueError):
    """The bytes are not the strict DER structure expected."""


@dataclass(frozen=True, slots=True)
class Tlv:
    """One tag-length-value inside ``data``."""

    data: bytes
    tag: int
    start: int
    content_start: int
    end: int

    @property
    def content(self) -> bytes:
        return self.data[self.content_start : self.end]

    @property
    def encoded(self) -> bytes:
        return self.data[self.start : self.end]

    def children(self) -> list[Tlv]:
        if not self.tag & 0x20:
            msg = f"tag {self.tag:#04x} is not constructed"
            raise DerError(msg)
        out: list[Tlv] = []
        pos = self.content_start
        while pos < self.end:
            child = read_tlv(self.data, pos, self.end)
            out.append(child)
            pos = child.end
        return out

    def expect(self, tag: int) -> Tlv:
        if self.tag != tag:
            msg = f"expected tag {tag:#04x}, found {self.tag:#04x}"
            raise DerError(msg)
        return self


def read_tlv(data: bytes, offset: int, limit: int) -> Tlv:
    """The TLV starting at ``offset``, which must end at or before ``limit``."""
    if offset + 2 > limit:
        raise DerError("truncated header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > _MAX_INT_OCTETS or pos + count > limit:
            raise DerError("indefinite, oversized or truncated length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise DerError("non-minimal length")
        pos += count
    end = pos + length
    if end > limit:
        raise DerError("content runs past its container")
    return Tlv(data, tag, offset, pos, end)


def parse_one(data: bytes) -> Tlv:
    """``data`` must be exactly one TLV."""
    tlv = read_tlv(data, 0, len(data))
    if tlv.end != len(data):
        raise DerError("trailing bytes")
    return tlv


def _small_int(tlv: Tlv) -> int:
    content = tlv.expect(INTEGER).content
    if not content or len(content) > _MAX_INT_OCTETS:
        raise DerError("integer empty or too large")
    if content[0] & 0x80:
        raise DerError("negative integer")
    if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
        raise DerError("non-minimal integer")
    return int.from_bytes(content, "big")


# -- the BasicOCSPResponse signature algorithm ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class BasicParts:
    """Where the parts of a BasicOCSPResponse are, inside the OCSPResponse DER."""

    tbs_response_data: Tlv
    signature_algorithm: Tlv
    #: How many certificates the response carries (counted without parsing them).
    certificate_count: int


def basic_response_parts(response_der: bytes) -> BasicParts:
    """Walk ``OCSPResponse -> responseBytes -> BasicOCSPResponse`` (RFC 6960 4.2.1)."""
    outer = parse_one(response_der).expect(SEQUENCE).children()
    if len(outer) != 2:
        raise DerError("OCSPResponse without responseBytes")
    outer[0].expect(ENUMERATED)
    wrapped = outer[1].expect(_context(0)).children()
    if len(wrapped) != 1:
        raise DerError("responseBytes is not one SEQUENCE")
    response_bytes = wrapped[0].expect(SEQUENCE).children()
    if len(response_bytes) != 2:
        raise DerError("responseBytes has no response")
    response_bytes[0].expect(OID)
    basic = parse_one(response_bytes[1].expect(OCTET_STRING).content).expect(SEQUENCE).children()
    if len(basic) not in (3, 4):
        raise DerError("BasicOCSPResponse has the wrong number of fields")
    if basic[2].expect(BIT_STRING).content[:1] != b"\x00":
        raise DerError("signature BIT STRING must have no unused bits")
    count = 0
    if len(basic) == 4:
        wrapped_certs = basic[3].expect(_context(0)).children()
        if len(wrapped_certs) != 1:
            raise DerError("certs must be one SEQUENCE")
        count = len(wrapped_certs[0].expect(SEQUENCE).children())
    return BasicParts(basic[0].expect(SEQUENCE), basic[1].expect(SEQUENCE), count)


@dataclass(frozen=True, slots=True)
class PssParameters:
    """RSASSA-PSS-params (RFC 4055 section 3.1), OIDs as DER content octets."""

    hash_oid: bytes
    mgf_oid: bytes
    mgf_hash_oid: bytes
    salt_length: int
    trailer_field: int


def _hash_algorithm_oid(tlv: Tlv) -> bytes:
    """The OID of a hash AlgorithmIdentifier whose parameters are absent or NULL."""
    parts = tlv.expect(SEQUENCE).children()
    if not parts or len(parts) > 2:
        raise DerError("malformed hash AlgorithmIdentifier")
    if len(parts) == 2 and (parts[1].tag != NULL or parts[1].content):
        raise DerError("hash AlgorithmIdentifier parameters must be absent or NULL")
    return parts[0].expect(OID).content


def pss_parameters(algorithm_identifier: Tlv) -> PssParameters:
    """Decode an ``id-RSASSA-PSS`` AlgorithmIdentifier; defaults filled in (SHA-1, MGF1-SHA-1,
    salt 20, trailer 1) so the caller can refuse them."""
    parts = algorithm_identifier.expect(SEQUENCE).children()
    if len(parts) != 2 or parts[0].expect(OID).content != OID_RSASSA_PSS:
        raise DerError("not an RSASSA-PSS AlgorithmIdentifier with parameters")
    hash_oid, mgf_oid, mgf_hash_oid, salt, trailer = OID_SHA1, OID_MGF1, OID_SHA1, 20, 1
    last = -1
    for field in parts[1].expect(SEQUENCE).children():
        number = field.tag - 0xA0
        if not 0 <= number <= 3 or number <= last:
            raise DerError("unexpected or repeated RSASSA-PSS-params field")
        last = number
        inner = field.children()
        if len(inner) != 1:
            raise DerError("explicit tag must hold exactly one value")
        value = inner[0]
        if number == 0:
            hash_oid = _hash_algorithm_oid(value)
        elif number == 1:
            mgf = value.expect(SEQUENCE).children()
            if len(mgf) != 2:
                raise DerError("malformed maskGenAlgorithm")
            mgf_oid = mgf[0].expect(OID).content
            mgf_hash_oid = _hash_algorithm_oid(mgf[1])
        elif number == 2:
            salt = _small_int(value)
        else:
            trailer = _small_int(value)
    return PssParameters(hash_oid, mgf_oid, mgf_hash_oid, salt, trailer)


# -- SingleResponse extensions -------------------------------------------------------------------


def critical_single_extension_oids(tbs_response_data: Tlv) -> list[bytes]:
    """OIDs (DER content) of every extension marked critical in any SingleResponse of the
    ``ResponseData`` (``BasicParts.tbs_response_data``)."""
    fields = tbs_response_data.expect(SEQUENCE).children()
    index = 1 if fields and fields[0].tag == _context(0) else 0  # optional version
    # responderID, producedAt, responses
    if len(fields) < index + 3:
        raise DerError("ResponseData is missing fields")
    fields[index + 1].expect(GENERALIZED_TIME)
    found: list[bytes] = []
    for single in fields[index + 2].expect(SEQUENCE).children():
        parts = single.expect(SEQUENCE).children()
        extensions = [p for p in parts[3:] if p.tag == _context(1)]
        for wrapper in extensions:
            inner = wrapper.children()
            if len(inner) != 1:
                raise DerError("singleExtensions must hold one SEQUENCE")
            for extension in inner[0].expect(SEQUENCE).children():
                items = extension.expect(SEQUENCE).children()
                if len(items) == 3 and items[1].expect(BOOLEAN).content == b"\xff":
                    found.append(items[0].expect(OID).content)
    return found
