"""Build an OCSP request and verify the answer against every RFC 6960 section 3.2 check.

Both are keyed on a :class:`~ocsp_core.certid.CertId` (made from a certificate, or read from a
request). ``verify_response`` returns an ``Answer`` only when all checks pass; otherwise a
``Rejection`` naming the first failed check. Nothing here raises for hostile input.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, OCSPExtensionOID, SignatureAlgorithmOID

from . import der
from .certid import HASHES, CertId, HashName, issuer_key_hash
from .chain import (
    RESPONDER_EXTENSIONS,
    is_directly_issued_by,
    unknown_critical_extension,
    validity_problem,
)
from .reasons import OcspReason, Rejection

#: Certificates a response may include (a delegated responder sends one, perhaps with its chain).
MAX_RESPONSE_CERTIFICATES = 8
#: Tolerated difference between our clock and the responder's (thisUpdate, producedAt,
#: nextUpdate).
CLOCK_SKEW = dt.timedelta(seconds=60)

#: Signature algorithms accepted on a response, by the key type they need. The OID is bound to
#: the key type: an RSA key never verifies under an ECDSA OID, and so on.
_RSA_PKCS1 = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA224,
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
    }
)
_ECDSA = frozenset(
    {
        SignatureAlgorithmOID.ECDSA_WITH_SHA224,
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    }
)
#: Refused outright: collisions are practical.
_WEAK = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_MD5,
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA1,
    }
)
#: RSASSA-PSS hashes (AWS Private CA: SHA256/384/512WITHRSA_PSS). MGF1 must use the same hash.
_PSS_HASHES: dict[bytes, hashes.HashAlgorithm] = {
    der.OID_SHA256: hashes.SHA256(),
    der.OID_SHA384: hashes.SHA384(),
    der.OID_SHA512: hashes.SHA512(),
}
#: Response extensions this client understands (a critical unknown one must be refused).
_UNDERSTOOD_EXTENSIONS = frozenset({OCSPExtensionOID.NONCE})

_STATUS_REASONS = {
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: OcspReason.RESPONSE_STATUS_MALFORMED_REQUEST,
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: OcspReason.RESPONSE_STATUS_INTERNAL_ERROR,
    ocsp.OCSPResponseStatus.SIG_REQUIRED: OcspReason.RESPONSE_STATUS_SIG_REQUIRED,
    ocsp.OCSPResponseStatus.UNAUTHORIZED: OcspReason.RESPONSE_STATUS_UNAUTHORIZED,
}


@dataclass(frozen=True, slots=True)
class Answer:
    """A verified answer about our CertID."""

    status: ocsp.OCSPCertStatus
    this_update: dt.datetime
    #: ``None`` when the responder gave no nextUpdate (RFC 5019 allows it).
    next_update: dt.datetime | None
    #: The instant the answer stops being fresh: nextUpdate, or thisUpdate + the configured age.
    fresh_until: dt.datetime
    #: ``"issuer"`` (the CA's own key) or ``"delegate"`` (an authorized responder).
    signer: str
    revocation_time: dt.datetime | None = None
    revocation_reason: str | None = None
    #: The verified ``OCSPResponse`` DER, byte for byte as received (what a staple must be).
    der: bytes = b""
    #: The certificate whose key verified the signature: the CA, or the delegate's certificate
    #: included in the response (a stapling client verifies against one of them only).
    signer_certificate: x509.Certificate | None = None


def build_request(cert_id: CertId, *, nonce: bytes | None) -> bytes:
    """DER of an OCSP request for ``cert_id``; with an RFC 8954 nonce extension when given."""
    algorithm = cert_id.hash_algorithm
    if algorithm is None:
        msg = f"CertID hash {cert_id.hash_name!r} cannot be used in a request"
        raise ValueError(msg)
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        cert_id.issuer_name_hash, cert_id.issuer_key_hash, cert_id.serial, algorithm
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def build_request_for(
    cert: x509.Certificate, issuer: x509.Certificate, *, hash_name: HashName, nonce: bytes | None
) -> bytes:
    """DER of an OCSP request for ``cert`` issued by ``issuer`` (``build_request`` of its
    CertID)."""
    return build_request(CertId.for_certificate(cert, issuer, HASHES[hash_name]), nonce=nonce)


def responder_key_hash(cert: x509.Certificate) -> bytes:
    """The ResponderID ``byKey`` of ``cert`` (RFC 6960 4.2.1): SHA-1 of its subjectPublicKey."""
    return issuer_key_hash(cert, HASHES[HashName.SHA1])


@dataclass(frozen=True, slots=True)
class _Scheme:
    """How the response signature must be verified, decided from its AlgorithmIdentifier."""

    kind: str  # "pkcs1" | "pss" | "ecdsa" | "ed25519" | "ed448"
    hash_algorithm: hashes.HashAlgorithm | None = None
    salt_length: int = 0


def _pss_scheme(algorithm_identifier: der.Tlv) -> _Scheme | str:
    try:
        params = der.pss_parameters(algorithm_identifier)
    except der.DerError as exc:
        return f"RSASSA-PSS parameters cannot be read ({exc})"
    hash_algorithm = _PSS_HASHES.get(params.hash_oid)
    if hash_algorithm is None:
        return "RSASSA-PSS hash must be SHA-256, SHA-384 or SHA-512 (SHA-1 is too weak)"
    if params.mgf_oid != der.OID_MGF1 or params.mgf_hash_oid != params.hash_oid:
        return "RSASSA-PSS mask generation must be MGF1 with the signature hash"
    if params.trailer_field != 1:
        return f"RSASSA-PSS trailerField must be 1, got {params.trailer_field}"
    return _Scheme("pss", hash_algorithm, params.salt_length)


def _signature_scheme(parts: der.BasicParts, response: ocsp.OCSPResponse) -> _Scheme | str:
    """The verification scheme of the response signature, or why it is refused."""
    oid = response.signature_algorithm_oid
    if oid in _WEAK:
        return f"signature algorithm {oid.dotted_string} is too weak (MD5/SHA-1)"
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        return _pss_scheme(parts.signature_algorithm)
    if oid == SignatureAlgorithmOID.ED25519:
        return _Scheme("ed25519")
    if oid == SignatureAlgorithmOID.ED448:
        return _Scheme("ed448")
    if oid in _RSA_PKCS1 or oid in _ECDSA:
        return _Scheme("pkcs1" if oid in _RSA_PKCS1 else "ecdsa", response.signature_hash_algorithm)
    return f"signature algorithm {oid.dotted_string} is not supported"


def _verify_signature(
    cert: x509.Certificate, response: ocsp.OCSPResponse, scheme: _Scheme
) -> str | None:
    """``None`` when ``cert``'s key verifies the response signature under ``scheme``."""
    try:
        key = cert.public_key()
        data = response.tbs_response_bytes
        signature = response.signature
        hash_algorithm = scheme.hash_algorithm
        # One branch per (scheme, key type) pair, so each key type is narrowed for mypy.
        if scheme.kind == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):  # noqa: SIM114
            key.verify(signature, data)
        elif scheme.kind == "ed448" and isinstance(key, ed448.Ed448PublicKey):
            key.verify(signature, data)
        elif hash_algorithm is None:
            return "signature algorithm carries no hash"
        elif scheme.kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif scheme.kind == "pkcs1" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
        elif scheme.kind == "pss" and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=scheme.salt_length)
            key.verify(signature, data, pss, hash_algorithm)
        else:
            return f"{scheme.kind} signature cannot come from a {type(key).__name__}"
    except InvalidSignature:
        return "signature does not verify"
    except Exception as exc:  # unsupported algorithm or parameters
        return f"signature cannot be checked ({type(exc).__name__})"
    return None


def _delegate_problem(  # noqa: PLR0911 - one early return per failed check
    candidate: x509.Certificate, issuer: x509.Certificate, now: dt.datetime
) -> str | None:
    """Why ``candidate`` is not an authorized responder of ``issuer`` (RFC 6960 4.2.2.2)."""
    if not is_directly_issued_by(candidate, issuer):
        return "responder certificate is not issued directly by the device's CA"
    try:
        extensions = candidate.extensions
    except ValueError:
        return "responder certificate has malformed extensions"
    try:
        eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "responder certificate has no extended key usage"
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        return "responder certificate lacks the OCSPSigning extended key usage"
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            return "responder certificate's key usage forbids signatures"
    except x509.ExtensionNotFound:
        pass
    unknown = unknown_critical_extension(extensions, RESPONDER_EXTENSIONS)
    if unknown is not None:
        return (
            f"responder certificate carries the critical extension {unknown}, which the checker "
            "does not understand"
        )
    if validity_problem(candidate, now) is not None:
        return "responder certificate is not valid now"
    return None


def _identifies(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    """Does the ResponderID (by key hash or by name) name ``cert``?"""
    key_hash = response.responder_key_hash
    if key_hash is not None:
        try:
            return responder_key_hash(cert) == key_hash
        except Exception:  # unsupported key type in an embedded certificate
            return False
    return response.responder_name == cert.subject


def _check_signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime, scheme: _Scheme
) -> tuple[str, x509.Certificate] | Rejection:
    """Find who signed: the issuer or an authorized delegate named by the ResponderID (its role
    and certificate)."""
    candidates: list[tuple[str, x509.Certificate]] = []
    if _identifies(response, issuer):
        candidates.append(("issuer", issuer))
    candidates.extend(
        ("delegate", cert) for cert in response.certificates if _identifies(response, cert)
    )
    if not candidates:
        return Rejection(
            OcspReason.UNAUTHORIZED_RESPONDER,
            "ResponderID names neither the CA nor a certificate included in the response",
        )
    bad_signature: str | None = None
    unauthorized: str | None = None
    for role, cert in candidates:
        if role == "delegate":
            problem = _delegate_problem(cert, issuer, now)
            if problem is not None:
                unauthorized = unauthorized or problem
                continue
        problem = _verify_signature(cert, response, scheme)
        if problem is None:
            return role, cert
        bad_signature = bad_signature or f"{problem} with the {role}'s key"
    if bad_signature is not None:
        return Rejection(OcspReason.BAD_SIGNATURE, bad_signature)
    return Rejection(OcspReason.UNAUTHORIZED_RESPONDER, unauthorized or "no authorized signer")


def _unknown_critical_extension(response: ocsp.OCSPResponse, parts: der.BasicParts) -> str | None:
    """RFC 6960 4.4 / RFC 5280 4.2: a critical extension that is not understood is refused,
    in responseExtensions and in any SingleResponse's singleExtensions."""
    for extension in response.extensions:
        if extension.critical and extension.oid not in _UNDERSTOOD_EXTENSIONS:
            return f"critical response extension {extension.oid.dotted_string}"
    if der.critical_single_extension_oids(parts.tbs_response_data):
        return "critical singleExtensions are not supported"
    return None


def _nonce_problem(response: ocsp.OCSPResponse, nonce: bytes | None) -> str | None:
    if nonce is None:
        return None  # RFC 8954: checked only when sent
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None  # AWS Private CA (RFC 5019 responders) never echo one: tolerated
    if echoed != nonce:
        return "response nonce differs from the one sent"
    return None


def _ours(
    response: ocsp.OCSPResponse, cert_id: CertId, issuer: x509.Certificate
) -> list[ocsp.OCSPSingleResponse]:
    """The SingleResponses about ``cert_id`` (in whatever hash each one uses)."""
    ours = []
    for single in response.responses:
        if single.serial_number != cert_id.serial:
            continue
        try:
            algorithm: hashes.HashAlgorithm | None = single.hash_algorithm
        except Exception:  # unsupported hash OID: cannot be our CertID
            algorithm = None
        if algorithm is not None and cert_id.hashes_for(algorithm, issuer) == (
            single.issuer_name_hash,
            single.issuer_key_hash,
        ):
            ours.append(single)
    return ours


def _conflict(singles: list[ocsp.OCSPSingleResponse]) -> bool:
    first = singles[0]
    return any(
        (s.certificate_status, s.revocation_time_utc)
        != (first.certificate_status, first.revocation_time_utc)
        for s in singles[1:]
    )


def _timing(  # noqa: PLR0911 - one return per freshness rule
    single: ocsp.OCSPSingleResponse, now: dt.datetime, max_age_without_next: dt.timedelta
) -> Rejection | dt.datetime:
    """Freshness of one SingleResponse; returns when it stops being fresh."""
    this_update = single.this_update_utc
    next_update = single.next_update_utc
    if this_update > now + CLOCK_SKEW:
        return Rejection(OcspReason.FUTURE_RESPONSE, f"thisUpdate {this_update:%Y-%m-%dT%H:%M:%SZ}")
    if next_update is not None:
        if next_update < this_update:
            return Rejection(OcspReason.MALFORMED_RESPONSE, "nextUpdate precedes thisUpdate")
        if next_update < now - CLOCK_SKEW:
            return Rejection(
                OcspReason.STALE_RESPONSE, f"nextUpdate {next_update:%Y-%m-%dT%H:%M:%SZ} has passed"
            )
        return next_update
    if max_age_without_next <= dt.timedelta(0):
        # 0 means "nextUpdate required": the clock skew must not admit such answers either.
        return Rejection(
            OcspReason.STALE_RESPONSE, "no nextUpdate, and one is required (maximum age 0)"
        )
    fresh_until = this_update + max_age_without_next
    if fresh_until < now - CLOCK_SKEW:
        return Rejection(
            OcspReason.STALE_RESPONSE,
            f"no nextUpdate and thisUpdate {this_update:%Y-%m-%dT%H:%M:%SZ} is older than "
            f"{int(max_age_without_next.total_seconds())} s",
        )
    return fresh_until


def _strict_parts(data: bytes, response: ocsp.OCSPResponse) -> der.BasicParts | Rejection:
    """Walk the BasicOCSPResponse once more, strictly: the signed bytes must be exactly those
    ``cryptography`` parsed, the signature BIT STRING octet-aligned (no re-encodable variant of
    a signed answer), and there must be few certificates (``cryptography`` spends ~0.7 ms
    parsing each one, so a response packed with them could outlast the deadline)."""
    try:
        parts = der.basic_response_parts(data)
    except der.DerError as exc:
        return Rejection(
            OcspReason.MALFORMED_RESPONSE, f"BasicOCSPResponse is not strict DER ({exc})"
        )
    if parts.tbs_response_data.encoded != response.tbs_response_bytes:
        return Rejection(
            OcspReason.MALFORMED_RESPONSE, "signed data differs from the parsed response"
        )
    if parts.certificate_count > MAX_RESPONSE_CERTIFICATES:
        return Rejection(
            OcspReason.MALFORMED_RESPONSE,
            f"{parts.certificate_count} certificates included; at most "
            f"{MAX_RESPONSE_CERTIFICATES} are read",
        )
    return parts


@dataclass(frozen=True, slots=True)
class _Question:
    """What a response must answer: the status of ``cert_id``, issued by ``issuer``, at ``now``."""

    cert_id: CertId
    issuer: x509.Certificate
    now: dt.datetime
    nonce: bytes | None
    max_age_without_next_update: dt.timedelta


def verify_response(
    data: bytes,
    *,
    cert_id: CertId,
    issuer: x509.Certificate,
    now: dt.datetime,
    nonce: bytes | None,
    max_age_without_next_update: dt.timedelta,
) -> Answer | Rejection:
    """Verify a DER ``OCSPResponse`` about ``cert_id`` (of a certificate ``issuer`` issued) at
    ``now``."""
    question = _Question(cert_id, issuer, now, nonce, max_age_without_next_update)
    try:
        return _verify(data, question)
    except Exception as exc:  # lazily parsed fields of hostile DER raise ValueError & co.
        detail = f"response does not parse ({type(exc).__name__})"
        return Rejection(OcspReason.MALFORMED_RESPONSE, detail)


def _verify(data: bytes, question: _Question) -> Answer | Rejection:  # noqa: PLR0911
    response = ocsp.load_der_ocsp_response(data)
    status = response.response_status
    if status is ocsp.OCSPResponseStatus.TRY_LATER:
        return Rejection(
            OcspReason.RESPONDER_UNAVAILABLE, "responder said tryLater", try_later=True
        )
    if status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Rejection(_STATUS_REASONS[status], f"responseStatus {status.name}")
    produced_at = response.produced_at_utc
    parts = _strict_parts(data, response)
    if isinstance(parts, Rejection):
        return parts
    scheme = _signature_scheme(parts, response)
    if isinstance(scheme, str):
        return Rejection(OcspReason.BAD_SIGNATURE, scheme)
    signer = _check_signer(response, question.issuer, question.now, scheme)
    if isinstance(signer, Rejection):
        return signer
    role, signer_certificate = signer
    critical = _unknown_critical_extension(response, parts)
    if critical is not None:
        return Rejection(OcspReason.UNSUPPORTED_CRITICAL_EXTENSION, critical)
    nonce_problem = _nonce_problem(response, question.nonce)
    if nonce_problem is not None:
        return Rejection(OcspReason.NONCE_MISMATCH, nonce_problem)
    ours = _ours(response, question.cert_id, question.issuer)
    if not ours:
        serial = question.cert_id.serial
        return Rejection(OcspReason.CERTID_MISMATCH, f"no answer for serial {serial:x} of this CA")
    if _conflict(ours):
        return Rejection(OcspReason.CONFLICTING_RESPONSES, f"{len(ours)} disagreeing answers")
    if produced_at > question.now + CLOCK_SKEW:
        return Rejection(OcspReason.FUTURE_RESPONSE, f"producedAt {produced_at:%Y-%m-%dT%H:%M:%SZ}")
    fresh_until: dt.datetime | None = None
    for single in ours:
        timing = _timing(single, question.now, question.max_age_without_next_update)
        if isinstance(timing, Rejection):
            return timing
        fresh_until = timing if fresh_until is None else min(fresh_until, timing)
    single = ours[0]
    reason_flag = single.revocation_reason
    return Answer(
        status=single.certificate_status,
        this_update=single.this_update_utc,
        next_update=single.next_update_utc,
        fresh_until=fresh_until if fresh_until is not None else single.this_update_utc,
        signer=role,
        revocation_time=single.revocation_time_utc,
        revocation_reason=reason_flag.value if reason_flag is not None else None,
        der=data,
        signer_certificate=signer_certificate,
    )
