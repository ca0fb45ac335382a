"""``ocsp_core.chain``: validity periods, direct issuance, and the certificates that can be
trusted CAs."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.x509.oid import ExtensionOID
from ocsp_core.chain import (
    CA_EXTENSIONS,
    DESCRIPTIVE_EXTENSIONS,
    DEVICE_EXTENSIONS,
    RESPONDER_EXTENSIONS,
    ca_problem,
    is_directly_issued_by,
    validity_problem,
)
from ocsp_core.reasons import OcspReason

from tests.lambdas.support.cas import CA_VARIANTS, candidate
from tests.lambdas.support.pki import Pki


def test_validity_problem(pki: Pki) -> None:
    device = pki.issue_device()
    start, end = device.cert.not_valid_before_utc, device.cert.not_valid_after_utc
    assert validity_problem(device.cert, start) is None
    assert validity_problem(device.cert, end) is None
    assert validity_problem(device.cert, start - dt.timedelta(seconds=1)) is (
        OcspReason.CERT_NOT_YET_VALID
    )
    assert validity_problem(device.cert, end + dt.timedelta(seconds=1)) is OcspReason.CERT_EXPIRED


def test_direct_issuance(pki: Pki) -> None:
    device = pki.issue_device()
    assert is_directly_issued_by(device.cert, pki.issuing_ca.cert)
    assert not is_directly_issued_by(device.cert, pki.rogue_ca.cert)  # same name, other key
    assert not is_directly_issued_by(device.cert, pki.root.cert)  # the CA's own issuer
    assert not is_directly_issued_by(device.cert, pki.rsa_ca.cert)  # other name and key type


# -- which certificates can be a trusted CA (RFC 5280 4.2) ---------------------------------------


@pytest.mark.parametrize("name", list(CA_VARIANTS))
def test_trusted_ca_rules(name: str) -> None:
    extensions, problem = CA_VARIANTS[name]
    assert ca_problem(candidate(name, extensions).cert) == problem


def test_the_test_pki_cas_are_usable_trust_anchors(pki: Pki) -> None:
    for ca in (pki.root, pki.issuing_ca, pki.other_ca, pki.rsa_ca):
        assert ca_problem(ca.cert) is None


def test_each_role_understands_the_descriptive_extensions_and_its_own() -> None:
    assert DESCRIPTIVE_EXTENSIONS <= DEVICE_EXTENSIONS & RESPONDER_EXTENSIONS & CA_EXTENSIONS
    assert ExtensionOID.NAME_CONSTRAINTS not in CA_EXTENSIONS  # refused, never ignored
    assert ExtensionOID.OCSP_NO_CHECK in RESPONDER_EXTENSIONS - DEVICE_EXTENSIONS
    assert ExtensionOID.EXTENDED_KEY_USAGE in DEVICE_EXTENSIONS - CA_EXTENSIONS
    policy = {
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.INHIBIT_ANY_POLICY,
    }
    assert not policy & (DEVICE_EXTENSIONS | RESPONDER_EXTENSIONS | CA_EXTENSIONS)
