"""``ocsp_core.chain``: the device certificate must be directly issued by a trusted, valid CA."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocsp_core.chain import device_usage_problem, find_issuer, validity_problem
from ocsp_core.models import Decision, Reason

from .pki import Pki
from .unit_support import NOW


def _denied(result: x509.Certificate | Decision, needle: str) -> None:
    assert isinstance(result, Decision), result
    assert result.reason is Reason.UNTRUSTED_ISSUER
    assert needle in result.detail


def test_directly_issued_device_finds_its_ca(pki: Pki) -> None:
    device = pki.issue_device()
    trusted = (pki.other_ca.cert, pki.issuing_ca.cert)
    assert find_issuer(device.cert, trusted, NOW) == pki.issuing_ca.cert


def test_rsa_ca_is_supported(pki: Pki) -> None:
    device = pki.issue_device(issuer=pki.rsa_ca)
    assert find_issuer(device.cert, (pki.rsa_ca.cert,), NOW) == pki.rsa_ca.cert


def test_fails_when_issuer_is_not_trusted(pki: Pki) -> None:
    device = pki.issue_device(issuer=pki.other_ca)
    _denied(find_issuer(device.cert, (pki.issuing_ca.cert,), NOW), "not a trusted CA")


def test_fails_when_a_rogue_ca_with_the_trusted_name_signed(pki: Pki) -> None:
    device = pki.issue_device(issuer=pki.rogue_ca)
    _denied(find_issuer(device.cert, (pki.issuing_ca.cert,), NOW), "signature does not verify")


def test_same_named_cas_are_each_tried(pki: Pki) -> None:
    """Key rollover: two trusted CAs share a subject; the one whose key signed is found."""
    device = pki.issue_device(issuer=pki.rogue_ca)
    trusted = (pki.issuing_ca.cert, pki.rogue_ca.cert)
    assert find_issuer(device.cert, trusted, NOW) == pki.rogue_ca.cert


def test_fails_when_only_the_root_is_trusted(pki: Pki) -> None:
    """Only direct issuance counts: trusting the root does not trust its intermediate's
    devices."""
    device = pki.issue_device()
    _denied(find_issuer(device.cert, (pki.root.cert,), NOW), "not a trusted CA")


def test_fails_when_the_ca_is_not_valid_now(pki: Pki) -> None:
    device = pki.issue_device()
    later = pki.issuing_ca.cert.not_valid_after_utc + dt.timedelta(seconds=1)
    _denied(find_issuer(device.cert, (pki.issuing_ca.cert,), later), "not valid now")


def test_validity_problem(pki: Pki) -> None:
    device = pki.issue_device()
    start, end = device.cert.not_valid_before_utc, device.cert.not_valid_after_utc
    assert validity_problem(device.cert, start) is None
    assert validity_problem(device.cert, end) is None
    assert validity_problem(device.cert, start - dt.timedelta(seconds=1)) is (
        Reason.CERT_NOT_YET_VALID
    )
    assert validity_problem(device.cert, end + dt.timedelta(seconds=1)) is Reason.CERT_EXPIRED


def _no_eku_device(pki: Pki) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no-eku")]))
        .issuer_name(pki.issuing_ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(pki.issuing_ca.key, hashes.SHA256())
    )


def test_device_usage(pki: Pki) -> None:
    assert device_usage_problem(pki.issue_device().cert) is None
    assert device_usage_problem(_no_eku_device(pki)) is None
    ca_problem = device_usage_problem(pki.issuing_ca.cert)
    assert ca_problem is not None
    assert "cA=TRUE" in ca_problem
    responder_problem = device_usage_problem(pki.delegate.cert)
    assert responder_problem is not None
    assert "clientAuth" in responder_problem
