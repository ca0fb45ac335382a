"""``preauth.device``: the device certificate must be a client certificate directly issued by a
trusted, valid CA."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from preauth.device import (
    UntrustedIssuer,
    device_usage_problem,
    find_issuer,
    unknown_device_extension,
)

from tests.lambdas.support.cas import (
    UNKNOWN_OID,
    Extension,
    malformed_constraints,
    policies,
    subject_alt_name,
    unknown,
)
from tests.lambdas.support.forge import (
    der_children,
    der_wrap,
)
from tests.lambdas.support.pki import Pki, custom_certificate, usage
from tests.lambdas.support.unit import NOW


def _denied(result: x509.Certificate | UntrustedIssuer, needle: str) -> None:
    assert isinstance(result, UntrustedIssuer), result
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


def test_sha1_signed_device_certificate_is_untrusted(pki: Pki) -> None:
    """A device certificate genuinely signed by the trusted CA, but with sha1WithRSAEncryption
    (``cryptography`` refuses to verify it; builders refuse to make one, hence the surgery)."""
    device = pki.issue_device(issuer=pki.rsa_ca)
    tbs, _algorithm, _signature = der_children(device.der)
    fields = der_children(tbs)
    sha1_with_rsa = bytes.fromhex("300d06092a864886f70d0101050500")
    fields[2] = sha1_with_rsa
    new_tbs = der_wrap(0x30, b"".join(fields))
    key = pki.rsa_ca.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    forged = der_wrap(0x30, new_tbs + sha1_with_rsa + der_wrap(0x03, b"\x00" + signature))
    cert = x509.load_der_x509_certificate(forged)
    decision = find_issuer(cert, (pki.rsa_ca.cert,), NOW)
    assert isinstance(decision, UntrustedIssuer), decision


# -- device certificates and RFC 5280 4.2 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("extensions", "key_usage", "usage_problem", "unknown"),
    [
        pytest.param([], None, None, None, id="plain"),
        pytest.param([subject_alt_name(critical=True)], None, None, None, id="critical-san"),
        pytest.param([unknown(critical=False)], None, None, None, id="non-critical-unknown"),
        pytest.param([unknown(critical=True)], None, None, UNKNOWN_OID.dotted_string, id="unknown"),
        pytest.param([policies()], None, None, "2.5.29.32", id="critical-policies"),
        pytest.param(
            [], usage(digital_signature=False), "digitalSignature", None, id="no-digital-signature"
        ),
    ],
)
def test_device_extension_rules(
    pki: Pki,
    extensions: list[Extension],
    key_usage: x509.KeyUsage | None,
    usage_problem: str | None,
    unknown: str | None,
) -> None:
    device = pki.issue_device(extensions=extensions, key_usage=key_usage).cert
    problem = device_usage_problem(device)
    if usage_problem is None:
        assert problem is None
    else:
        assert problem is not None
        assert usage_problem in problem
    assert unknown_device_extension(device) == unknown


def test_a_device_whose_extensions_do_not_parse_is_not_a_device(pki: Pki) -> None:
    device = custom_certificate(
        "broken device", issuer=pki.issuing_ca, extensions=[malformed_constraints()]
    )
    assert device_usage_problem(device.cert) == "its extensions do not parse"
