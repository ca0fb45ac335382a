"""Trusted CA certificates: the construct refuses at synth exactly the literal PEMs the pre-auth
Lambda would refuse at start (and then deny every device with ``CONFIG_ERROR``).

Both sides keep their own copy of the rules (``ocsp_core.chain`` and
``ocsp_iot_constructs._trusted_ca``); these tests feed the same certificates to both: the named
variants of ``tests/lambdas/support/cas.py``, certificates generated from the same building
blocks, and random DER in a PEM block.
"""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from ocsp_core import chain
from preauth import settings as preauth_settings

from ocsp_iot_constructs import _trusted_ca
from ocsp_iot_constructs._validation import PropsError
from ocsp_iot_constructs.ocsp_validating_domain import TrustedCa
from tests.constructs.domain_support import OCSP_URL, make_domain, new_stack
from tests.lambdas.support.cas import CA_VARIANTS, ca_candidates, candidate
from tests.lambdas.support.pki import Issued


def _lambda_refuses(pem: str) -> str | None:
    """The Lambda's verdict on ``pem`` as its only trusted CA: the problem, or ``None``."""
    try:
        preauth_settings.load_settings({"TRUSTED_CA_PEM": pem, "OCSP_ALLOWED_URLS": OCSP_URL})
    except preauth_settings.ConfigError as error:
        (problem,) = error.problems
        return problem
    return None


def _synth_refuses(pem: str) -> str | None:
    """The construct's verdict on ``pem`` as its only trusted CA: the problem, or ``None``."""
    try:
        make_domain(new_stack(), trusted_cas=[TrustedCa.from_pem(pem, ocsp_responder_url=OCSP_URL)])
    except PropsError as error:
        (problem,) = error.problems
        return problem
    return None


def test_both_sides_state_the_same_rules() -> None:
    assert chain.CA_EXTENSIONS == _trusted_ca.CA_EXTENSIONS
    assert chain.CA_NOT_A_CA == _trusted_ca.NOT_A_CA
    assert chain.CA_NO_KEY_CERT_SIGN == _trusted_ca.NO_KEY_CERT_SIGN
    assert chain.CA_NAME_CONSTRAINTS == _trusted_ca.NAME_CONSTRAINTS
    assert chain.CA_BAD_EXTENSIONS == _trusted_ca.BAD_EXTENSIONS
    assert chain.unknown_critical_phrase("1.2.3") == _trusted_ca.unknown_critical_phrase("1.2.3")


@pytest.mark.parametrize("name", list(CA_VARIANTS))
def test_synth_refuses_what_the_lambda_refuses(name: str) -> None:
    """The whole path on both sides: the construct's props check and the handler's settings."""
    extensions, problem = CA_VARIANTS[name]
    pem = candidate(name, extensions).pem.decode()
    at_start, at_synth = _lambda_refuses(pem), _synth_refuses(pem)
    if problem is None:
        assert (at_start, at_synth) == (None, None)
        return
    subject = f"CN={name},O=ocsp-iot-constructs tests"
    assert at_start == f"TRUSTED_CA_PEM certificate #1 ({subject}) must be {problem}"
    assert at_synth == (
        f"trusted_cas[0].issuing_ca_certificate_pem must be {problem}, got {subject!r}; the "
        "Lambda would refuse it and deny every device (CONFIG_ERROR)"
    )


@settings(max_examples=150)
@given(ca_candidates())
def test_generated_certificates_get_the_same_verdict(issued: Issued) -> None:
    lambda_side = chain.ca_problem(issued.cert)
    assert lambda_side == _trusted_ca.ca_problem(issued.cert)
    # and through each side's entry point (the PEM the construct renders, the handler reads)
    pem = issued.pem.decode()
    refused = _trusted_ca.pem_problem(pem)
    assert (refused[0] if refused else None) == lambda_side
    assert (_lambda_refuses(pem) is None) == (lambda_side is None)


@settings(max_examples=100)
@given(st.binary(min_size=65, max_size=600).map(lambda b: b"\x30\x82" + b))
def test_random_der_is_refused_by_both(der: bytes) -> None:
    """DER-looking bytes pass the construct's PEM format check; both sides must still refuse
    them (it is all but impossible for them to be a usable CA certificate)."""
    body = base64.encodebytes(der).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        cert = None
    if (
        cert is not None and chain.ca_problem(cert) is None
    ):  # pragma: no cover - astronomically rare
        return
    refused = _trusted_ca.pem_problem(pem)
    assert refused is not None
    assert _lambda_refuses(pem) is not None


def test_random_der_is_refused_at_synth_with_a_clear_message() -> None:
    der = b"\x30\x82\x01\x00" + bytes(range(256))
    body = base64.encodebytes(der).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    problem = _synth_refuses(pem)
    assert problem is not None
    assert problem.startswith(
        "trusted_cas[0].issuing_ca_certificate_pem must be an X.509 certificate (its DER does not "
        "parse), got '-----BEGIN CERTIFICATE-----"
    )
    assert _lambda_refuses(pem) is not None
