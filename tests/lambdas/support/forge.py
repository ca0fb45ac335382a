"""Forged and well-formed OCSP answers for the Lambda tests.

- ``build_answer``: a signed OCSP response for a parsed request, with every field overridable
  (signer, CertID, status, times, nonce, ResponderID, included certificates); ``answer_with``
  makes it a ``LoopbackServer`` behaviour.
- ``with_extra_single_responses`` / ``with_responder_id`` / ``resigned`` / ``pss`` / ...: DER
  surgery for what ``OCSPResponseBuilder`` refuses to build (several SingleResponses; a
  ResponderID that does not match the signing key; other signature algorithms); the result is
  re-signed with the given key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from .loopback import Behaviour, RecordedRequest, Reply
from .pki import Issued, PrivateKey, utcnow

#: (signatureAlgorithm AlgorithmIdentifier DER, function signing the tbsResponseData DER)
SignatureSpec = tuple[bytes, Callable[[bytes], bytes]]

# --------------------------------------------------------------------------------------------
# Building OCSP answers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedRequest:
    der: bytes
    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: hashes.HashAlgorithm
    nonce: bytes | None


def parse_request(request: RecordedRequest | bytes) -> ParsedRequest | None:
    der = request if isinstance(request, bytes) else request.ocsp_der
    if not der:
        return None
    try:
        req = ocsp.load_der_ocsp_request(der)
        nonce: bytes | None
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        return ParsedRequest(
            der=der,
            serial=req.serial_number,
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            hash_algorithm=req.hash_algorithm,
            nonce=nonce,
        )
    except ValueError:
        return None


def cert_id_hashes(
    issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of ``issuer`` under ``algorithm`` (RFC 6960 4.1.1).

    The name hash covers the issuer's subject DN; the key hash covers the subjectPublicKey BIT
    STRING's value (without its unused-bits octet).
    """
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _algorithm_id, bit_string = _children(spki)
    key_bits = _content(bit_string)[1:]

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()

    return digest(issuer.subject.public_bytes()), digest(key_bits)


_ECHO = "echo"
_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


def build_answer(
    request: ParsedRequest,
    *,
    signer: Issued,
    status: str = "good",
    serial: int | None = None,
    cert_id_issuer: x509.Certificate | None = None,
    this_update_offset: float = -60.0,
    next_update_offset: float | None = 300.0,
    nonce: bytes | str | None = _ECHO,
    responder_by: str = "name",
    responder_cert: x509.Certificate | None = None,
    certs: list[x509.Certificate] | None = None,
    include_signer: bool = True,
    revocation_reason: x509.ReasonFlags | None = None,
    cert_id_algorithm: hashes.HashAlgorithm | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """A successful, signed BasicOCSPResponse (DER) answering ``request``.

    By default the CertID echoes the request's; ``serial`` / ``cert_id_issuer`` replace parts
    of it; ``cert_id_algorithm`` (needs ``cert_id_issuer``) re-hashes it. Times are offsets
    in seconds from ``now`` (default: the wall clock, which also stamps producedAt; a given
    ``now`` stamps producedAt too) (``next_update_offset=None``: no nextUpdate).
    ``nonce="echo"`` copies the request nonce (if any), ``None`` omits it, bytes send those.
    ``responder_cert`` (default: the signer) names the ResponderID; its key must be the signer's
    key for ``OCSPResponseBuilder`` (use ``with_responder_id`` otherwise).
    """
    produced_at = now
    now = now or utcnow()
    algorithm = cert_id_algorithm or request.hash_algorithm
    name_hash, key_hash = (
        cert_id_hashes(cert_id_issuer, algorithm)
        if cert_id_issuer is not None
        else (request.issuer_name_hash, request.issuer_key_hash)
    )
    this_update = now + dt.timedelta(seconds=this_update_offset)
    next_update = (
        None if next_update_offset is None else now + dt.timedelta(seconds=next_update_offset)
    )
    included = list(certs or [])
    if include_signer and signer.cert not in included:
        included.insert(0, signer.cert)
    echoed = request.nonce if nonce == _ECHO else nonce
    return sign_response(
        CertIdParts(name_hash, key_hash, request.serial if serial is None else serial, algorithm),
        signer=signer,
        status=status,
        this_update=this_update,
        next_update=next_update,
        revocation_time=now - dt.timedelta(hours=1),
        revocation_reason=revocation_reason,
        responder_by=responder_by,
        responder_cert=responder_cert,
        certs=included,
        nonce=echoed if isinstance(echoed, bytes) else None,
        produced_at=produced_at,
    )


@dataclass(frozen=True)
class CertIdParts:
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    algorithm: hashes.HashAlgorithm


def sign_response(
    cert_id: CertIdParts,
    *,
    signer: Issued,
    status: str,
    this_update: dt.datetime,
    next_update: dt.datetime | None,
    revocation_time: dt.datetime,
    revocation_reason: x509.ReasonFlags | None = None,
    responder_by: str = "name",
    responder_cert: x509.Certificate | None = None,
    certs: list[x509.Certificate] | None = None,
    nonce: bytes | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] | None = None,
    signature_hash: hashes.HashAlgorithm | None = None,
    produced_at: dt.datetime | None = None,
) -> bytes:
    """DER of a successful BasicOCSPResponse with one SingleResponse, every field as given
    (``revocation_*`` only used when ``status="revoked"``); the core of ``build_answer`` and
    of the unit tests' ``respond``."""
    revoked = status == "revoked"
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=cert_id.issuer_name_hash,
        issuer_key_hash=cert_id.issuer_key_hash,
        serial_number=cert_id.serial,
        algorithm=cert_id.algorithm,
        cert_status=_STATUS[status],
        this_update=this_update,
        next_update=next_update,
        revocation_time=revocation_time if revoked else None,
        revocation_reason=revocation_reason if revoked else None,
    )
    by_key = responder_by == "key"
    encoding = ocsp.OCSPResponderEncoding.HASH if by_key else ocsp.OCSPResponderEncoding.NAME
    builder = builder.responder_id(encoding, responder_cert or signer.cert)
    if certs:
        builder = builder.certificates(certs)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    for extension, critical in extensions or []:
        builder = builder.add_extension(extension, critical=critical)
    response = builder.sign(signer.key, signature_hash or hashes.SHA256())
    der = response.public_bytes(serialization.Encoding.DER)
    if produced_at is None:  # the builder stamps producedAt with the wall clock
        return der
    return with_produced_at(der, produced_at, key=signer.key, hash_algorithm=signature_hash)


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


# -- minimal DER surgery ---------------------------------------------------------------------


def _read_tlv(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the TLV at ``offset``."""
    tag = der[offset]
    length = der[offset + 1]
    pos = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _children(der: bytes) -> list[bytes]:
    """The complete TLVs inside the (single) constructed TLV ``der``."""
    _tag, start, end = _read_tlv(der, 0)
    out: list[bytes] = []
    pos = start
    while pos < end:
        _t, _cstart, cend = _read_tlv(der, pos)
        out.append(der[pos:cend])
        pos = cend
    return out


def _content(tlv: bytes) -> bytes:
    _tag, start, end = _read_tlv(tlv, 0)
    return tlv[start:end]


def _wrap(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size), *size]) + content


@dataclass
class _Basic:
    status: bytes
    response_type: bytes
    tbs_parts: list[bytes]  # [version?], responderID, producedAt, responses, [extensions]
    sig_alg: bytes
    certs: list[bytes] = field(default_factory=list)

    @classmethod
    def parse(cls, response_der: bytes) -> _Basic:
        status, wrapped = _children(response_der)
        (response_bytes,) = _children(wrapped)
        response_type, octets = _children(response_bytes)
        basic = _content(octets)
        parts = _children(basic)
        tbs, sig_alg = parts[0], parts[1]
        return cls(status, response_type, _children(tbs), sig_alg, parts[3:])

    @property
    def _responses_index(self) -> int:
        # ResponseData: version [0]? , responderID, producedAt (GeneralizedTime), responses, ...
        return 3 if self.tbs_parts[0][0] == 0xA0 else 2

    @property
    def single_responses(self) -> list[bytes]:
        return _children(self.tbs_parts[self._responses_index])

    def set_single_responses(self, singles: list[bytes]) -> None:
        self.tbs_parts[self._responses_index] = _wrap(0x30, b"".join(singles))

    def set_responder_id(self, responder_id: bytes) -> None:
        self.tbs_parts[self._responses_index - 2] = responder_id

    def responder_id(self) -> bytes:
        return self.tbs_parts[self._responses_index - 2]

    def set_produced_at(self, when: dt.datetime) -> None:
        self.tbs_parts[self._responses_index - 1] = _wrap(
            0x18, when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode()
        )

    def sign(
        self,
        key: PrivateKey,
        *,
        algorithm: SignatureSpec | None = None,
        hash_algorithm: hashes.HashAlgorithm | None = None,
    ) -> bytes:
        """Re-sign with ``key``: ``algorithm`` = (AlgorithmIdentifier DER, signing function);
        by default ``hash_algorithm`` (SHA-256) with the key's own scheme and the original
        AlgorithmIdentifier (which must name that hash)."""
        tbs = _wrap(0x30, b"".join(self.tbs_parts))
        digest = hash_algorithm or hashes.SHA256()
        if algorithm is not None:
            self.sig_alg, sign = algorithm
            signature = sign(tbs)
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(tbs, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(tbs, padding.PKCS1v15(), digest)
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            signature = key.sign(tbs)
        else:  # pragma: no cover - the test PKI has only EC and RSA keys
            raise TypeError(type(key))
        basic = _wrap(
            0x30, tbs + self.sig_alg + _wrap(0x03, b"\x00" + signature) + b"".join(self.certs)
        )
        response_bytes = _wrap(0x30, self.response_type + _wrap(0x04, basic))
        return _wrap(0x30, self.status + _wrap(0xA0, response_bytes))


def with_extra_single_responses(base: bytes, others: list[bytes], *, key: PrivateKey) -> bytes:
    """``base``'s ResponseData with the SingleResponses of ``others`` appended, re-signed."""
    parsed = _Basic.parse(base)
    singles = parsed.single_responses
    for other in others:
        singles += _Basic.parse(other).single_responses
    parsed.set_single_responses(singles)
    return parsed.sign(key)


def with_single_responses_first(base: bytes, others: list[bytes], *, key: PrivateKey) -> bytes:
    """Like ``with_extra_single_responses`` but the others' SingleResponses come first."""
    parsed = _Basic.parse(base)
    singles: list[bytes] = []
    for other in others:
        singles += _Basic.parse(other).single_responses
    parsed.set_single_responses(singles + parsed.single_responses)
    return parsed.sign(key)


def resigned_with_sha1(base: bytes, *, key: PrivateKey) -> bytes:
    """``base`` re-signed with ECDSA over SHA-1 (a weak signature hash)."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(type(key))
    # ecdsa-with-SHA1 (1.2.840.10045.4.1): what builders refuse to produce
    sha1 = hashes.SHA1()  # noqa: S303 - the hostile case
    spec = (_algorithm_id("1.2.840.10045.4.1"), lambda tbs: key.sign(tbs, ec.ECDSA(sha1)))
    return _Basic.parse(base).sign(key, algorithm=spec)


def with_single_extension(base: bytes, *, key: PrivateKey, critical: bool) -> bytes:
    """``base`` whose first SingleResponse carries a private-OID singleExtension, re-signed."""
    parsed = _Basic.parse(base)
    first, *rest = parsed.single_responses
    flag = _wrap(0x01, b"\xff") if critical else b""
    extension = _wrap(0x30, _oid("1.3.6.1.4.1.55555.1") + flag + _wrap(0x04, b"\x05\x00"))
    first = _wrap(0x30, _content(first) + _wrap(0xA1, _wrap(0x30, extension)))
    parsed.set_single_responses([first, *rest])
    return parsed.sign(key)


def with_produced_at(
    base: bytes,
    when: dt.datetime,
    *,
    key: PrivateKey,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    """``base`` with producedAt set to ``when`` (``OCSPResponseBuilder`` always stamps the wall
    clock), re-signed by ``key`` with ``hash_algorithm`` (default SHA-256; none for Ed25519)."""
    parsed = _Basic.parse(base)
    parsed.set_produced_at(when)
    return parsed.sign(key, hash_algorithm=hash_algorithm)


def resigned(base: bytes, *, key: PrivateKey, algorithm: SignatureSpec) -> bytes:
    """``base`` re-signed with ``algorithm`` (see ``pss``)."""
    return _Basic.parse(base).sign(key, algorithm=algorithm)


# -- RSASSA-PSS (RFC 4055), including parameters that a strict verifier must refuse -------------

HASH_OIDS = {
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - only to build refused cases
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out += bytes(reversed(chunk))
    return _wrap(0x06, bytes(out))


def _algorithm_id(dotted: str, params: bytes = b"") -> bytes:
    return _wrap(0x30, _oid(dotted) + params)


def _int(value: int) -> bytes:
    return _wrap(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def pss(
    key: PrivateKey,
    hash_name: str = "sha256",
    *,
    declared_hash: str | None = None,
    mgf_hash: str | None = None,
    salt: int | None = None,
    declared_salt: int | None = None,
    trailer: int | None = None,
    omit_params: bool = False,
) -> SignatureSpec:
    """An RSASSA-PSS (AlgorithmIdentifier, signer) pair. The signature really uses
    ``hash_name``, MGF1 with ``mgf_hash`` (default: the same) and ``salt`` (default: the hash
    length); ``declared_*``/``trailer`` make the parameters say otherwise, and
    ``omit_params`` sends an empty RSASSA-PSS-params (all defaults: SHA-1)."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(type(key))
    digest = _HASHES[hash_name]
    mgf = mgf_hash or hash_name
    salt_length = digest.digest_size if salt is None else salt
    declared = declared_hash or hash_name
    salt_field = salt_length if declared_salt is None else declared_salt
    # DER: a field equal to its DEFAULT (SHA-1, MGF1-SHA-1, salt 20, trailer 1) is omitted.
    fields = (
        (b"" if declared == "sha1" else _wrap(0xA0, _algorithm_id(HASH_OIDS[declared])))
        + (
            b""
            if mgf == "sha1"
            else _wrap(0xA1, _algorithm_id("1.2.840.113549.1.1.8", _algorithm_id(HASH_OIDS[mgf])))
        )
        + (b"" if salt_field == 20 else _wrap(0xA2, _int(salt_field)))
        + (b"" if trailer in (None, 1) else _wrap(0xA3, _int(trailer)))
    )
    params = _wrap(0x30, b"" if omit_params else fields)
    padder = padding.PSS(mgf=padding.MGF1(_HASHES[mgf]), salt_length=salt_length)
    return (
        _algorithm_id("1.2.840.113549.1.1.10", params),
        lambda tbs: key.sign(tbs, padder, digest),
    )


def with_responder_id(base: bytes, responder_id_from: bytes, *, key: PrivateKey) -> bytes:
    """``base`` with the ResponderID of ``responder_id_from``, re-signed with ``key``."""
    parsed = _Basic.parse(base)
    parsed.set_responder_id(_Basic.parse(responder_id_from).responder_id())
    return parsed.sign(key)


def with_response_type(base: bytes) -> bytes:
    """``base`` whose responseType is id-pkix-ocsp.2 instead of .1 (basic); body unchanged."""
    status, wrapped = _children(base)
    (response_bytes,) = _children(wrapped)
    old_type, octets = _children(response_bytes)
    new_type = old_type[:-1] + bytes([old_type[-1] ^ 0x03])
    new_bytes = _wrap(0x30, new_type + octets)
    return _wrap(0x30, status + _wrap(0xA0, new_bytes))


def flip_signature_bit(base: bytes) -> bytes:
    """``base`` with one bit of its signature flipped (structure intact)."""
    status, wrapped = _children(base)
    (response_bytes,) = _children(wrapped)
    response_type, octets = _children(response_bytes)
    parts = _children(_content(octets))
    sig = bytearray(_content(parts[2]))
    sig[-1] ^= 0x01
    basic = _wrap(0x30, parts[0] + parts[1] + _wrap(0x03, bytes(sig)) + b"".join(parts[3:]))
    return _wrap(0x30, status + _wrap(0xA0, _wrap(0x30, response_type + _wrap(0x04, basic))))


#: Public names of the DER helpers, for tests that build certificates by hand.
der_children = _children
der_content = _content
der_wrap = _wrap


# -- behaviours --------------------------------------------------------------------------------


def answer_with(make: Callable[[ParsedRequest], bytes], **reply: Any) -> Behaviour:
    """A behaviour that parses the OCSP request and replies ``make(request)`` (400 if none)."""

    def behave(recorded: RecordedRequest) -> Reply:
        parsed = parse_request(recorded)
        if parsed is None:
            return Reply(status=400, body=b"not an OCSP request", content_type="text/plain")
        return Reply(body=make(parsed), **reply)

    return behave


def compressed_point_ca(root: Issued) -> Issued:
    """A CA (issued by ``root``) whose certificate encodes its EC key as a compressed point."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Compressed Point CA")])
    template = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utcnow() - dt.timedelta(hours=1))
        .not_valid_after(utcnow() + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    tbs, signature_algorithm, _signature = _children(
        template.public_bytes(serialization.Encoding.DER)
    )
    fields = _children(tbs)
    spki_algorithm, _bits = _children(fields[6])
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    fields[6] = _wrap(0x30, spki_algorithm + _wrap(0x03, b"\x00" + point))
    new_tbs = _wrap(0x30, b"".join(fields))
    root_key = root.key
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    signature = root_key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    der = _wrap(0x30, new_tbs + signature_algorithm + _wrap(0x03, b"\x00" + signature))
    cert = x509.load_der_x509_certificate(der)
    assert _content(_children(fields[6])[1]) == b"\x00" + point
    return Issued(cert, key)
