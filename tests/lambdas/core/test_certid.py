"""``ocsp_core.certid``: a CertID made from a certificate equals the one a real OCSP request
carries, and a CertID read from a request (the stapling path: no certificate) answers the same
questions."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from ocsp_core.certid import (
    HASHES,
    CertId,
    HashName,
    hash_by_name,
    issuer_key_hash,
    issuer_name_hash,
)
from ocsp_core.ocsp import build_request, build_request_for

from tests.lambdas.support.pki import Pki

SHA1 = hashes.SHA1()  # noqa: S303 - the CertID hash RFC 5019 responders use


def _request(pki: Pki, algorithm: hashes.HashAlgorithm) -> tuple[x509.Certificate, bytes]:
    device = pki.issue_device()
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(device.cert, pki.issuing_ca.cert, algorithm)
        .build()
        .public_bytes(Encoding.DER)
    )
    return device.cert, der


@pytest.mark.parametrize("algorithm", [SHA1, hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_from_request_equals_for_certificate(pki: Pki, algorithm: hashes.HashAlgorithm) -> None:
    device, der = _request(pki, algorithm)
    read = CertId.from_request(ocsp.load_der_ocsp_request(der))
    made = CertId.for_certificate(device, pki.issuing_ca.cert, algorithm)
    assert read == made  # the certificate a CertID was made from does not take part
    assert read.hash_name == algorithm.name
    assert read.serial == device.serial_number


def test_a_request_built_from_a_cert_id_is_byte_identical(pki: Pki) -> None:
    """``add_certificate_by_hash`` (the stapling path) and ``add_certificate`` build the same
    request for the same CertID."""
    device, der = _request(pki, SHA1)
    cert_id = CertId.from_request(ocsp.load_der_ocsp_request(der))
    assert build_request(cert_id, nonce=None) == der
    assert (
        build_request_for(device, pki.issuing_ca.cert, hash_name=HashName.SHA1, nonce=None) == der
    )


@pytest.mark.parametrize("other", [hashes.SHA256(), hashes.SHA384(), SHA1])
def test_hashes_for_another_algorithm_match_a_real_request(
    pki: Pki, other: hashes.HashAlgorithm
) -> None:
    """An answer may use another hash than our request: both kinds of CertID recompute it."""
    device, der = _request(pki, SHA1)
    expected = ocsp.OCSPRequestBuilder().add_certificate(device, pki.issuing_ca.cert, other).build()
    for cert_id in (
        CertId.from_request(ocsp.load_der_ocsp_request(der)),
        CertId.for_certificate(device, pki.issuing_ca.cert, SHA1),
    ):
        assert cert_id.hashes_for(other, pki.issuing_ca.cert) == (
            expected.issuer_name_hash,
            expected.issuer_key_hash,
        )


def test_hashes_for_an_unusable_algorithm_is_none(pki: Pki) -> None:
    device, _ = _request(pki, SHA1)
    for cert_id in (
        CertId.for_certificate(device, pki.issuing_ca.cert, SHA1),
        CertId(serial=1, issuer_name_hash=b"n", issuer_key_hash=b"k", hash_name="sha1"),
    ):
        assert cert_id.hashes_for(hashes.MD5(), pki.issuing_ca.cert) is None  # noqa: S303


def test_is_issued_by_names_exactly_the_issuer(pki: Pki) -> None:
    """The stapling Lambda finds the trusted CA of a request by its CertID hashes: the name
    *and* the key must match (a CA with the same name and another key is not the issuer)."""
    _, der = _request(pki, hashes.SHA256())
    cert_id = CertId.from_request(ocsp.load_der_ocsp_request(der))
    assert cert_id.is_issued_by(pki.issuing_ca.cert)
    assert not cert_id.is_issued_by(pki.rogue_ca.cert)  # same subject, other key
    assert not cert_id.is_issued_by(pki.other_ca.cert)
    assert not cert_id.is_issued_by(pki.root.cert)
    unknown_hash = CertId(
        serial=cert_id.serial,
        issuer_name_hash=cert_id.issuer_name_hash,
        issuer_key_hash=cert_id.issuer_key_hash,
        hash_name="md5",
    )
    assert unknown_hash.hash_algorithm is None
    assert not unknown_hash.is_issued_by(pki.issuing_ca.cert)
    with pytest.raises(ValueError, match="cannot be used in a request"):
        build_request(unknown_hash, nonce=None)


def test_helpers_hash_what_a_request_carries(pki: Pki) -> None:
    _, der = _request(pki, SHA1)
    request = ocsp.load_der_ocsp_request(der)
    assert issuer_name_hash(pki.issuing_ca.cert.subject, SHA1) == request.issuer_name_hash
    assert issuer_key_hash(pki.issuing_ca.cert, SHA1) == request.issuer_key_hash
    assert isinstance(hash_by_name("sha256"), hashes.SHA256)
    assert hash_by_name("md5") is None
    assert {name.value for name in HASHES} == {"sha1", "sha256"}
