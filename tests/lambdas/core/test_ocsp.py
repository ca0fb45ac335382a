"""``ocsp_core.ocsp``: every RFC 6960 section 3.2 check, on responses signed by real keys."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import NameOID
from ocsp_core.certid import CertId, HashName
from ocsp_core.ocsp import (
    CLOCK_SKEW,
    MAX_RESPONSE_CERTIFICATES,
    Answer,
    build_request_for,
    responder_key_hash,
    verify_response,
)
from ocsp_core.reasons import OcspReason, Rejection

from tests.lambdas.support.forge import (
    CertIdParts,
    compressed_point_ca,
    flip_signature_bit,
    pss,
    resigned,
    sign_response,
    unsuccessful,
    with_extra_single_responses,
    with_produced_at,
    with_response_type,
    with_single_extension,
)
from tests.lambdas.support.forge import with_responder_id as swap_responder_id
from tests.lambdas.support.pki import Issued, Pki
from tests.lambdas.support.unit import NOW, SHA1, respond

MAX_AGE = dt.timedelta(seconds=300)
MARGIN = dt.timedelta(seconds=5)
SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")
RSASSA_PSS = x509.ObjectIdentifier("1.2.840.113549.1.1.10")


def verify(
    data: bytes,
    device: Issued,
    issuer: Issued,
    *,
    now: dt.datetime = NOW,
    nonce: bytes | None = None,
    max_age: dt.timedelta = MAX_AGE,
) -> Answer | Rejection:
    return verify_response(
        data,
        cert_id=CertId.for_certificate(device.cert, issuer.cert, SHA1),
        issuer=issuer.cert,
        now=now,
        nonce=nonce,
        max_age_without_next_update=max_age,
    )


def rejected(result: Answer | Rejection, reason: OcspReason) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result
    return result


def accepted(result: Answer | Rejection) -> Answer:
    assert isinstance(result, Answer), result
    return result


# -- the good path, across key types, signers, ResponderID forms and CertID hashes -------------


@pytest.mark.parametrize("family", ["ec", "rsa"])
@pytest.mark.parametrize("role", ["issuer", "delegate"])
@pytest.mark.parametrize("responder_by", ["name", "key"])
@pytest.mark.parametrize("cert_id_hash", [SHA1, hashes.SHA256()], ids=["sha1", "sha256"])
def test_good_answer_is_accepted(
    pki: Pki, family: str, role: str, responder_by: str, cert_id_hash: hashes.HashAlgorithm
) -> None:
    ca = pki.issuing_ca if family == "ec" else pki.rsa_ca
    delegate = pki.delegate if family == "ec" else pki.rsa_delegate
    device = pki.issue_device(issuer=ca)
    signer = ca if role == "issuer" else delegate
    data = respond(device, ca, signer=signer, responder_by=responder_by, cert_id_hash=cert_id_hash)
    answer = accepted(verify(data, device, ca))
    assert answer.status is x509_ocsp.OCSPCertStatus.GOOD
    assert answer.signer == role
    # the certificate whose key verified: what a stapling client checks the answer against
    assert answer.signer_certificate == signer.cert
    assert answer.der == data  # byte for byte as received
    assert answer.next_update == NOW + dt.timedelta(minutes=5)
    assert answer.fresh_until == answer.next_update


def test_cert_id_is_recomputed_with_the_responses_hash(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, cert_id_hash=hashes.SHA512())
    assert accepted(verify(data, device, pki.issuing_ca)).status is x509_ocsp.OCSPCertStatus.GOOD


def test_revoked_answer_carries_time_and_reason(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(
        device,
        pki.issuing_ca,
        status="revoked",
        revocation_reason=x509.ReasonFlags.key_compromise,
    )
    answer = accepted(verify(data, device, pki.issuing_ca))
    assert answer.status is x509_ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_time == NOW - dt.timedelta(hours=1)
    assert answer.revocation_reason == "keyCompromise"


def test_unknown_answer_is_reported_as_unknown(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, status="unknown")
    assert accepted(verify(data, device, pki.issuing_ca)).status is x509_ocsp.OCSPCertStatus.UNKNOWN


# -- 1. response status and type --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (
            x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
            OcspReason.RESPONSE_STATUS_MALFORMED_REQUEST,
        ),
        (x509_ocsp.OCSPResponseStatus.INTERNAL_ERROR, OcspReason.RESPONSE_STATUS_INTERNAL_ERROR),
        (x509_ocsp.OCSPResponseStatus.SIG_REQUIRED, OcspReason.RESPONSE_STATUS_SIG_REQUIRED),
        (x509_ocsp.OCSPResponseStatus.UNAUTHORIZED, OcspReason.RESPONSE_STATUS_UNAUTHORIZED),
    ],
)
def test_fails_when_response_status_is_not_successful(
    pki: Pki, status: x509_ocsp.OCSPResponseStatus, reason: OcspReason
) -> None:
    device = pki.issue_device()
    result = rejected(verify(unsuccessful(status), device, pki.issuing_ca), reason)
    assert not result.try_later


def test_try_later_is_marked_as_an_availability_failure(pki: Pki) -> None:
    device = pki.issue_device()
    data = unsuccessful(x509_ocsp.OCSPResponseStatus.TRY_LATER)
    assert rejected(
        verify(data, device, pki.issuing_ca), OcspReason.RESPONDER_UNAVAILABLE
    ).try_later


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"garbage" * 10, b"\x30\x03\x0a\x01\x00", b"\x30\x80" + b"\x00" * 40],
    ids=["empty", "nul", "text", "successful-without-body", "indefinite-length"],
)
def test_fails_when_bytes_are_not_an_ocsp_response(pki: Pki, data: bytes) -> None:
    device = pki.issue_device()
    rejected(verify(data, device, pki.issuing_ca), OcspReason.MALFORMED_RESPONSE)


def test_fails_when_response_is_truncated(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca)
    for cut in (1, len(data) // 2, len(data) - 1):
        rejected(verify(data[:cut], device, pki.issuing_ca), OcspReason.MALFORMED_RESPONSE)


def test_fails_when_response_type_is_not_basic(pki: Pki) -> None:
    device = pki.issue_device()
    data = with_response_type(respond(device, pki.issuing_ca))
    rejected(verify(data, device, pki.issuing_ca), OcspReason.MALFORMED_RESPONSE)


# -- 3./4. signature and signer ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["issuer", "delegate"])
def test_fails_when_signature_is_tampered(pki: Pki, role: str) -> None:
    device = pki.issue_device()
    signer = pki.issuing_ca if role == "issuer" else pki.delegate
    data = flip_signature_bit(respond(device, pki.issuing_ca, signer=signer))
    rejected(verify(data, device, pki.issuing_ca), OcspReason.BAD_SIGNATURE)


def test_fails_when_signed_by_a_rogue_ca_with_the_issuers_name(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, signer=pki.rogue_ca, certs=[pki.rogue_ca.cert])
    rejected(verify(data, device, pki.issuing_ca), OcspReason.BAD_SIGNATURE)


def test_fails_when_a_rogue_ca_names_itself_by_key(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(
        device,
        pki.issuing_ca,
        signer=pki.rogue_ca,
        responder_by="key",
        certs=[pki.rogue_ca.cert],
    )
    rejected(verify(data, device, pki.issuing_ca), OcspReason.UNAUTHORIZED_RESPONDER)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("delegate_no_eku", "OCSPSigning"),
        ("delegate_other_ca", "not issued directly"),
        ("delegate_expired", "not valid now"),
        ("other_ca", "not issued directly"),
        ("root", "not issued directly"),
    ],
)
@pytest.mark.parametrize("responder_by", ["name", "key"])
def test_fails_when_signer_is_not_an_authorized_responder(
    pki: Pki, name: str, needle: str, responder_by: str
) -> None:
    device = pki.issue_device()
    signer: Issued = getattr(pki, name)
    data = respond(device, pki.issuing_ca, signer=signer, responder_by=responder_by)
    result = rejected(verify(data, device, pki.issuing_ca), OcspReason.UNAUTHORIZED_RESPONDER)
    assert needle in result.detail


def test_fails_when_a_device_certificate_of_the_same_ca_signs(pki: Pki) -> None:
    """A certificate that chains to the trusted CA is not a responder without the EKU."""
    device = pki.issue_device()
    other_device = pki.issue_device()
    data = respond(device, pki.issuing_ca, signer=other_device)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.UNAUTHORIZED_RESPONDER)


def test_fails_when_the_delegate_certificate_is_not_included(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, signer=pki.delegate, include_signer=False)
    result = rejected(verify(data, device, pki.issuing_ca), OcspReason.UNAUTHORIZED_RESPONDER)
    assert "ResponderID" in result.detail


def test_delegate_of_another_issuer_is_not_accepted_for_this_one(pki: Pki) -> None:
    """The RSA CA's delegate is valid for the RSA CA only."""
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, signer=pki.rsa_delegate)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.UNAUTHORIZED_RESPONDER)


@pytest.mark.parametrize("responder_by", ["name", "key"])
def test_fails_when_responder_id_names_the_delegate_but_the_issuer_signed(
    pki: Pki, responder_by: str
) -> None:
    device = pki.issue_device()
    by_delegate = respond(device, pki.issuing_ca, signer=pki.delegate, responder_by=responder_by)
    by_issuer = respond(device, pki.issuing_ca, certs=[pki.delegate.cert])
    data = swap_responder_id(by_issuer, by_delegate, key=pki.issuing_ca.key)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.BAD_SIGNATURE)


@pytest.mark.parametrize("responder_by", ["name", "key"])
def test_fails_when_responder_id_names_the_issuer_but_the_delegate_signed(
    pki: Pki, responder_by: str
) -> None:
    device = pki.issue_device()
    names_issuer = respond(device, pki.issuing_ca, responder_by=responder_by)
    by_delegate = respond(device, pki.issuing_ca, signer=pki.delegate)
    data = swap_responder_id(by_delegate, names_issuer, key=pki.delegate.key)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.BAD_SIGNATURE)


def test_fails_when_the_signature_hash_is_sha1(pki: Pki) -> None:
    """A genuine sha1WithRSAEncryption signature by the CA (builders refuse to make one, so
    the SHA-256 one is swapped: same OID length, same signature length)."""
    device = pki.issue_device(issuer=pki.rsa_ca)
    data = respond(device, pki.rsa_ca)
    parsed = x509_ocsp.load_der_ocsp_response(data)
    key = pki.rsa_ca.key
    assert isinstance(key, rsa.RSAPrivateKey)
    sha1_signature = key.sign(parsed.tbs_response_bytes, padding.PKCS1v15(), SHA1)
    assert data.count(SHA256_WITH_RSA) == 1
    forged = data.replace(parsed.signature, sha1_signature).replace(SHA256_WITH_RSA, SHA1_WITH_RSA)
    assert isinstance(x509_ocsp.load_der_ocsp_response(forged).signature_hash_algorithm, type(SHA1))
    result = rejected(verify(forged, device, pki.rsa_ca), OcspReason.BAD_SIGNATURE)
    assert "weak" in result.detail


def test_responder_key_hash_is_sha1_of_the_public_key_bits(pki: Pki) -> None:
    ski = pki.issuing_ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert responder_key_hash(pki.issuing_ca.cert) == ski.value.digest


# -- 2. CertID --------------------------------------------------------------------------------


def test_fails_when_serial_differs(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, serial=device.serial + 1)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.CERTID_MISMATCH)


def test_fails_when_cert_id_names_another_issuer(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, cert_id_issuer=pki.other_ca.cert)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.CERTID_MISMATCH)


def test_fails_when_cert_id_names_a_ca_with_the_same_name_but_another_key(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, cert_id_issuer=pki.rogue_ca.cert)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.CERTID_MISMATCH)


def test_our_answer_is_found_among_several(pki: Pki) -> None:
    device, other = pki.issue_device(), pki.issue_device()
    ours = respond(device, pki.issuing_ca)
    theirs = respond(other, pki.issuing_ca, status="revoked")
    for first, second in ((ours, theirs), (theirs, ours)):
        data = with_extra_single_responses(first, [second], key=pki.issuing_ca.key)
        answer = accepted(verify(data, device, pki.issuing_ca))
        assert answer.status is x509_ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("other_status", ["revoked", "unknown"])
def test_fails_when_two_answers_for_our_cert_id_disagree(pki: Pki, other_status: str) -> None:
    device = pki.issue_device()
    good = respond(device, pki.issuing_ca)
    bad = respond(device, pki.issuing_ca, status=other_status)
    for first, second in ((good, bad), (bad, good)):
        data = with_extra_single_responses(first, [second], key=pki.issuing_ca.key)
        rejected(verify(data, device, pki.issuing_ca), OcspReason.CONFLICTING_RESPONSES)


def test_two_agreeing_answers_are_accepted_with_the_earliest_expiry(pki: Pki) -> None:
    device = pki.issue_device()
    late = respond(device, pki.issuing_ca)
    early = respond(device, pki.issuing_ca, next_update=NOW + dt.timedelta(minutes=2))
    data = with_extra_single_responses(late, [early], key=pki.issuing_ca.key)
    assert accepted(verify(data, device, pki.issuing_ca)).fresh_until == NOW + dt.timedelta(
        minutes=2
    )


def test_sha1_and_sha256_cert_ids_for_us_are_both_recognised(pki: Pki) -> None:
    device = pki.issue_device()
    sha1 = respond(device, pki.issuing_ca)
    sha256 = respond(device, pki.issuing_ca, cert_id_hash=hashes.SHA256(), status="revoked")
    data = with_extra_single_responses(sha1, [sha256], key=pki.issuing_ca.key)
    rejected(verify(data, device, pki.issuing_ca), OcspReason.CONFLICTING_RESPONSES)


# -- 5./6. time -------------------------------------------------------------------------------


#: (thisUpdate, nextUpdate or None, the expected rejection or None for accepted), each just
#: inside or just outside a bound.
TIMES: dict[str, tuple[dt.datetime, dt.datetime | None, OcspReason | None]] = {
    "this-update-in-the-future": (
        NOW + CLOCK_SKEW + MARGIN,
        NOW + CLOCK_SKEW + MARGIN + MAX_AGE,
        OcspReason.FUTURE_RESPONSE,
    ),
    "this-update-within-the-skew": (
        NOW + CLOCK_SKEW - MARGIN,
        NOW + CLOCK_SKEW - MARGIN + MAX_AGE,
        None,
    ),
    "next-update-passed": (
        NOW - dt.timedelta(hours=1),
        NOW - CLOCK_SKEW - MARGIN,
        OcspReason.STALE_RESPONSE,
    ),
    "next-update-passed-within-the-skew": (
        NOW - dt.timedelta(hours=1),
        NOW - CLOCK_SKEW + MARGIN,
        None,
    ),
    "next-update-precedes-this-update": (
        NOW - dt.timedelta(seconds=30),
        NOW - dt.timedelta(seconds=40),
        OcspReason.MALFORMED_RESPONSE,
    ),
    "no-next-update-and-older-than-the-age": (
        NOW - MAX_AGE - CLOCK_SKEW - MARGIN,
        None,
        OcspReason.STALE_RESPONSE,
    ),
}


@pytest.mark.parametrize("case", list(TIMES))
def test_update_times_just_inside_or_outside_each_bound(pki: Pki, case: str) -> None:
    this_update, next_update, reason = TIMES[case]
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, this_update=this_update, next_update=next_update)
    result = verify(data, device, pki.issuing_ca)
    if reason is None:
        accepted(result)
    else:
        rejected(result, reason)


def test_fails_when_produced_at_is_in_the_future(pki: Pki) -> None:
    """``producedAt`` is the signing time (about ``NOW``); check as if it were 5 minutes ago."""
    device = pki.issue_device()
    earlier = NOW - dt.timedelta(minutes=5)
    data = respond(device, pki.issuing_ca, this_update=earlier - dt.timedelta(minutes=5))
    rejected(verify(data, device, pki.issuing_ca, now=earlier), OcspReason.FUTURE_RESPONSE)


def test_without_next_update_an_answer_is_fresh_for_the_configured_age(pki: Pki) -> None:
    device = pki.issue_device()
    this = NOW - dt.timedelta(seconds=100)
    data = respond(device, pki.issuing_ca, this_update=this, next_update=None)
    answer = accepted(verify(data, device, pki.issuing_ca))
    assert answer.next_update is None
    assert answer.fresh_until == this + MAX_AGE


@pytest.mark.parametrize(
    "age",
    [dt.timedelta(0), dt.timedelta(seconds=30), CLOCK_SKEW + dt.timedelta(seconds=5)],
    ids=["just-produced", "inside-the-clock-skew", "beyond-the-clock-skew"],
)
def test_age_zero_requires_a_next_update(pki: Pki, age: dt.timedelta) -> None:
    """``OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS=0`` means what the docs say: an answer without
    nextUpdate is refused, however recent (the clock skew admits none of them)."""
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, this_update=NOW - age, next_update=None)
    rejection = rejected(
        verify(data, device, pki.issuing_ca, max_age=dt.timedelta(0)), OcspReason.STALE_RESPONSE
    )
    assert "required" in rejection.detail
    # while with any age at all, a just-produced one is accepted
    if age == dt.timedelta(0):
        accepted(verify(data, device, pki.issuing_ca, max_age=dt.timedelta(seconds=1)))


# -- 8. nonce ---------------------------------------------------------------------------------


def test_echoed_nonce_is_accepted(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, nonce=b"n" * 32)
    accepted(verify(data, device, pki.issuing_ca, nonce=b"n" * 32))


def test_fails_when_nonce_differs(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, nonce=b"m" * 32)
    rejected(verify(data, device, pki.issuing_ca, nonce=b"n" * 32), OcspReason.NONCE_MISMATCH)


def test_missing_nonce_is_tolerated_like_aws_private_ca(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca)
    accepted(verify(data, device, pki.issuing_ca, nonce=b"n" * 32))


def test_nonce_is_not_checked_when_none_was_sent(pki: Pki) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, nonce=b"m" * 32)
    accepted(verify(data, device, pki.issuing_ca, nonce=None))


# -- the request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "algorithm"), [(HashName.SHA1, type(SHA1)), (HashName.SHA256, hashes.SHA256)]
)
@pytest.mark.parametrize("nonce", [None, b"\x01" * 32])
def test_request_carries_our_cert_id_and_nonce(
    pki: Pki, name: HashName, algorithm: type[hashes.HashAlgorithm], nonce: bytes | None
) -> None:
    device = pki.issue_device()
    der = build_request_for(device.cert, pki.issuing_ca.cert, hash_name=name, nonce=nonce)
    request = x509_ocsp.load_der_ocsp_request(der)
    assert isinstance(request.hash_algorithm, algorithm)
    assert request.serial_number == device.serial
    expected = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(device.cert, pki.issuing_ca.cert, algorithm())
        .build()
    )
    assert request.issuer_key_hash == expected.issuer_key_hash
    assert request.issuer_name_hash == expected.issuer_name_hash
    if nonce is None:
        assert len(request.extensions) == 0
    else:
        assert request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


def _ed25519_ca() -> Issued:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ed25519 CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, None)
    )
    return Issued(cert=cert, key=key)  # type: ignore[arg-type]


def test_ed25519_issuer_signature_is_verified(pki: Pki) -> None:
    """EdDSA signers (no separate hash) are verified too."""
    ca = _ed25519_ca()
    device_key = pki.issue_device().key
    device_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed25519-device")]))
        .issuer_name(ca.cert.subject)
        .public_key(device_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(ca.key, None)
    )
    device = Issued(cert=device_cert, key=device_key)
    probe = x509_ocsp.OCSPRequestBuilder().add_certificate(device.cert, ca.cert, SHA1).build()
    response = (
        x509_ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=probe.issuer_name_hash,
            issuer_key_hash=probe.issuer_key_hash,
            serial_number=device.serial,
            algorithm=SHA1,
            cert_status=x509_ocsp.OCSPCertStatus.GOOD,
            this_update=NOW - dt.timedelta(minutes=1),
            next_update=NOW + dt.timedelta(minutes=5),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(x509_ocsp.OCSPResponderEncoding.HASH, ca.cert)
        .sign(ca.key, None)
    )
    data = with_produced_at(response.public_bytes(serialization.Encoding.DER), NOW, key=ca.key)
    assert accepted(verify(data, device, ca)).signer == "issuer"
    rejected(verify(flip_signature_bit(data), device, ca), OcspReason.BAD_SIGNATURE)


# -- RSASSA-PSS (AWS Private CA: SHA256/384/512WITHRSA_PSS) -----------------------------------


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("role", ["issuer", "delegate"])
@pytest.mark.parametrize("salt", [None, 0], ids=["salt-hash-length", "salt-0"])
def test_pss_signed_answer_is_accepted(
    pki: Pki, hash_name: str, role: str, salt: int | None
) -> None:
    device = pki.issue_device(issuer=pki.rsa_ca)
    signer = pki.rsa_ca if role == "issuer" else pki.rsa_delegate
    base = respond(device, pki.rsa_ca, signer=signer)
    data = resigned(base, key=signer.key, algorithm=pss(signer.key, hash_name, salt=salt))
    assert x509_ocsp.load_der_ocsp_response(data).signature_algorithm_oid == RSASSA_PSS
    assert accepted(verify(data, device, pki.rsa_ca)).signer == role


PSS_REFUSED = {
    # the parameters lie about how it was signed
    "declared-hash-differs": {"hash_name": "sha256", "declared_hash": "sha384"},
    "declared-salt-differs": {"salt": 32, "declared_salt": 48},
    # genuinely signed this way, but refused
    "sha1-defaults": {"hash_name": "sha1", "salt": 20, "omit_params": True},
    "sha1-explicit": {"hash_name": "sha1"},
    "mgf-hash-differs": {"hash_name": "sha256", "mgf_hash": "sha1"},
    "trailer-field-2": {"trailer": 2},
}


@pytest.mark.parametrize("case", list(PSS_REFUSED))
def test_pss_with_bad_or_lying_parameters_is_refused(pki: Pki, case: str) -> None:
    device = pki.issue_device(issuer=pki.rsa_ca)
    base = respond(device, pki.rsa_ca)
    spec = pss(pki.rsa_ca.key, **PSS_REFUSED[case])  # type: ignore[arg-type]
    data = resigned(base, key=pki.rsa_ca.key, algorithm=spec)
    rejected(verify(data, device, pki.rsa_ca), OcspReason.BAD_SIGNATURE)


def test_pss_and_pkcs1_are_not_interchangeable(pki: Pki) -> None:
    device = pki.issue_device(issuer=pki.rsa_ca)
    base = respond(device, pki.rsa_ca)
    key = pki.rsa_ca.key
    assert isinstance(key, rsa.RSAPrivateKey)
    pss_id, pss_signer = pss(key)
    pkcs1_id = bytes.fromhex("300d06092a864886f70d01010b0500")  # sha256WithRSAEncryption
    pkcs1 = (pss_id, lambda tbs: key.sign(tbs, padding.PKCS1v15(), hashes.SHA256()))
    rejected(
        verify(resigned(base, key=key, algorithm=pkcs1), device, pki.rsa_ca),
        OcspReason.BAD_SIGNATURE,
    )
    labelled_pkcs1 = (pkcs1_id, pss_signer)
    rejected(
        verify(resigned(base, key=key, algorithm=labelled_pkcs1), device, pki.rsa_ca),
        OcspReason.BAD_SIGNATURE,
    )


def test_pss_oid_with_an_ec_signer_is_refused(pki: Pki) -> None:
    """A PSS AlgorithmIdentifier on a response whose named signer has an EC key."""
    device = pki.issue_device()
    base = respond(device, pki.issuing_ca)
    pss_id, _ = pss(pki.rsa_ca.key)
    ec_key = pki.issuing_ca.key
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
    spec = (pss_id, lambda tbs: ec_key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    data = resigned(base, key=ec_key, algorithm=spec)
    result = rejected(verify(data, device, pki.issuing_ca), OcspReason.BAD_SIGNATURE)
    assert "pss signature cannot come from" in result.detail


@pytest.mark.parametrize("critical", [True, False])
def test_unknown_critical_response_extension_is_refused(pki: Pki, *, critical: bool) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, extensions=[(_private_extension(), critical)])
    result = verify(data, device, pki.issuing_ca)
    if critical:
        rejected(result, OcspReason.UNSUPPORTED_CRITICAL_EXTENSION)
    else:
        accepted(result)  # unknown non-critical extensions are ignored


@pytest.mark.parametrize("critical", [True, False])
def test_unknown_critical_single_extension_is_refused(pki: Pki, *, critical: bool) -> None:
    device = pki.issue_device()
    base = respond(device, pki.issuing_ca)
    data = with_single_extension(base, key=pki.issuing_ca.key, critical=critical)
    result = verify(data, device, pki.issuing_ca)
    if critical:
        found = rejected(result, OcspReason.UNSUPPORTED_CRITICAL_EXTENSION)
        assert isinstance(found, Rejection)
    else:
        accepted(result)


def _private_extension() -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"\x05\x00")


def test_responder_key_hash_covers_the_encoded_key_bits(pki: Pki) -> None:
    ca = compressed_point_ca(pki.root)
    point = ca.key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 - what RFC 6960 byKey is
    digest.update(point)
    assert responder_key_hash(ca.cert) == digest.finalize()


@pytest.mark.parametrize("extra", [7, 8])
def test_a_response_packed_with_certificates_is_refused_unparsed(pki: Pki, extra: int) -> None:
    device = pki.issue_device()
    packing = [pki.issue_delegate().cert for _ in range(extra)]
    # The real delegate comes first, so only the count can make this fail.
    data = respond(device, pki.issuing_ca, signer=pki.delegate, certs=packing)
    result = verify(data, device, pki.issuing_ca)
    if extra + 1 <= MAX_RESPONSE_CERTIFICATES:
        assert accepted(result).signer == "delegate"
    else:
        found = rejected(result, OcspReason.MALFORMED_RESPONSE)
        assert f"{extra + 1} certificates" in found.detail


def test_revocation_dated_in_the_future_still_denies(pki: Pki) -> None:
    device = pki.issue_device()
    cert_id = x509_ocsp.load_der_ocsp_response(respond(device, pki.issuing_ca))
    data = sign_response(
        CertIdParts(cert_id.issuer_name_hash, cert_id.issuer_key_hash, device.serial, SHA1),
        signer=pki.issuing_ca,
        status="revoked",
        this_update=NOW - dt.timedelta(minutes=1),
        next_update=NOW + dt.timedelta(minutes=5),
        revocation_time=NOW + dt.timedelta(days=1),
        produced_at=NOW,
    )
    answer = accepted(verify(data, device, pki.issuing_ca))
    assert answer.status is x509_ocsp.OCSPCertStatus.REVOKED


@pytest.mark.parametrize("scheme", ["ecdsa", "rsa-pkcs1", "rsa-pss"])
def test_no_single_bit_flip_of_a_signed_answer_is_accepted(pki: Pki, scheme: str) -> None:
    """Every byte, flipped in its lowest and highest bit. (Found in review: a signature BIT
    STRING re-encoded with an unused-bits count was accepted, harmless but malleable; the
    strict DER walk now refuses it.)"""
    ca = pki.issuing_ca if scheme == "ecdsa" else pki.rsa_ca
    device = pki.issue_device(issuer=ca)
    data = respond(device, ca)
    if scheme == "rsa-pss":
        data = resigned(data, key=ca.key, algorithm=pss(ca.key, "sha384"))
    accepted(verify(data, device, ca))
    survivors = [
        (index, flip)
        for index in range(len(data))
        for flip in (0x01, 0x80)
        if not isinstance(
            verify(data[:index] + bytes([data[index] ^ flip]) + data[index + 1 :], device, ca),
            Rejection,
        )
    ]
    assert survivors == []
