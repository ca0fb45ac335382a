"""The pre-auth handler against a real ``openssl ocsp`` responder on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import SignatureAlgorithmOID

from ocsp_iot.errors import MissingProgramError
from tests.lambdas.support import openssl as openssl_support
from tests.lambdas.support.forge import (
    compressed_point_ca,
    parse_request,
)
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.openssl import OpensslResponder
from tests.lambdas.support.pki import Issued, Pki
from tests.lambdas.support.unit import SHA1

Configure = Callable[..., None]


def test_fails_loudly_when_openssl_is_missing(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The project installs openssl (``make test``): a machine without it fails, never skips."""
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without openssl
    with pytest.raises(MissingProgramError, match=r"openssl is not installed: .*`make setup`"):
        OpensslResponder(ca=pki.issuing_ca, signer=pki.issuing_ca)
    with pytest.raises(MissingProgramError, match=r"openssl is not installed"):
        openssl_support.openssl_binary()


@pytest.fixture(scope="module")
def ca_signed(pki: Pki) -> Iterator[OpensslResponder]:
    with OpensslResponder(ca=pki.issuing_ca, signer=pki.issuing_ca) as responder:
        yield responder


@pytest.fixture(scope="module")
def delegate_signed(pki: Pki) -> Iterator[OpensslResponder]:
    with OpensslResponder(ca=pki.issuing_ca, signer=pki.delegate) as responder:
        yield responder


def _device(pki: Pki, responder: OpensslResponder, status: str, *, aia: bool) -> Issued:
    device = pki.issue_device(ocsp_url=responder.url if aia else None)
    if status == "good":
        responder.set_good(device)
    elif status == "revoked":
        responder.set_revoked(device)
    return device


EXPECTED = {"good": (ALLOW, "GOOD"), "revoked": (DENY, "REVOKED"), "unknown": (DENY, "UNKNOWN")}


@pytest.mark.parametrize("status", ["good", "revoked", "unknown"])
@pytest.mark.parametrize("signer", ["ca_signed", "delegate_signed"])
@pytest.mark.parametrize("route", ["aia", "override"])
def test_status_from_openssl(
    *,
    request: pytest.FixtureRequest,
    pki: Pki,
    configure: Configure,
    invoke: Invoker,
    status: str,
    signer: str,
    route: str,
) -> None:
    responder: OpensslResponder = request.getfixturevalue(signer)
    device = _device(pki, responder, status, aia=route == "aia")
    if route == "aia":
        configure(trusted=[pki.issuing_ca], allowed=[responder.url])
    else:
        configure(trusted=[pki.issuing_ca], responder_url=responder.url)
    before = responder.request_count
    outcome = invoke(make_event(device))
    answer, reason = EXPECTED[status]
    assert outcome.answer == answer, outcome
    assert outcome.reason == reason, outcome
    assert responder.request_count == before + 1
    assert outcome.log["cacheHit"] is False
    assert int(str(outcome.log["serial"]), 16) == device.serial


def test_override_replaces_aia_url(
    pki: Pki, configure: Configure, invoke: Invoker, ca_signed: OpensslResponder
) -> None:
    # The device names a URL nobody allowed; the override is used instead and the AIA never is.
    device = pki.issue_device(ocsp_url="http://127.0.0.1:9/not-allowed")
    ca_signed.set_good(device)
    configure(trusted=[pki.issuing_ca], responder_url=ca_signed.url)
    before = ca_signed.request_count
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
    assert ca_signed.request_count == before + 1


def test_bare_base64_der_chain_is_accepted(
    pki: Pki, configure: Configure, invoke: Invoker, ca_signed: OpensslResponder
) -> None:
    device = _device(pki, ca_signed, "good", aia=True)
    configure(trusted=[pki.issuing_ca], allowed=[ca_signed.url])
    outcome = invoke(make_event(device, pki.issuing_ca, encoding="der"))
    assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome


def test_allow_list_match_is_normalized(
    pki: Pki, configure: Configure, invoke: Invoker, ca_signed: OpensslResponder
) -> None:
    device = _device(pki, ca_signed, "good", aia=True)
    shouting = ca_signed.url.replace("http://127.0.0.1", "HTTP://127.0.0.1")
    configure(trusted=[pki.issuing_ca], allowed=[f"  {shouting} ", "http://127.0.0.1:9/other"])
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome


@pytest.mark.parametrize(
    ("options", "settings"),
    [
        pytest.param({"nmin": None}, {}, id="no-next-update-but-fresh"),
        pytest.param({"key_id": True}, {}, id="responder-id-by-key-hash"),
        pytest.param({}, {"OCSP_HASH_ALGORITHM": "sha256"}, id="sha256-certid"),
        pytest.param({}, {"OCSP_NONCE": "on"}, id="nonce-echoed"),
    ],
)
@pytest.mark.parametrize("signer_name", ["issuing_ca", "delegate"])
def test_openssl_variants_allow_good(
    *,
    pki: Pki,
    configure: Configure,
    invoke: Invoker,
    options: dict[str, Any],
    settings: dict[str, str],
    signer_name: str,
) -> None:
    signer = getattr(pki, signer_name)
    with OpensslResponder(ca=pki.issuing_ca, signer=signer, **options) as responder:
        device = _device(pki, responder, "good", aia=True)
        configure(trusted=[pki.issuing_ca], allowed=[responder.url], **settings)
        outcome = invoke(make_event(device))
        assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
        assert responder.request_count == 1
        if settings.get("OCSP_NONCE") == "on":
            request = parse_request(responder.requests[0])
            assert request is not None
            assert request.nonce is not None


def test_rsa_ca_with_rsa_delegate(pki: Pki, configure: Configure, invoke: Invoker) -> None:
    with OpensslResponder(ca=pki.rsa_ca, signer=pki.rsa_delegate) as responder:
        good = pki.issue_device(issuer=pki.rsa_ca, ocsp_url=responder.url, key_kind="rsa")
        revoked = pki.issue_device(issuer=pki.rsa_ca, ocsp_url=responder.url)
        responder.set_good(good)
        responder.set_revoked(revoked)
        configure(trusted=[pki.issuing_ca, pki.rsa_ca], allowed=[responder.url])
        assert invoke(make_event(good)).answer == ALLOW
        outcome = invoke(make_event(revoked))
        assert (outcome.answer, outcome.reason) == (DENY, "REVOKED"), outcome


def test_responder_for_another_ca_says_unknown(
    pki: Pki, configure: Configure, invoke: Invoker, ca_signed: OpensslResponder
) -> None:
    # Both CAs are trusted, but this responder only serves issuing_ca: openssl says unknown.
    device = pki.issue_device(issuer=pki.other_ca, ocsp_url=ca_signed.url)
    ca_signed.set_good(device)
    configure(trusted=[pki.issuing_ca, pki.other_ca], allowed=[ca_signed.url])
    outcome = invoke(make_event(device))
    assert outcome.answer == DENY, outcome
    # openssl answers unknown signed by issuing_ca: either the status or the signer check fails.
    assert outcome.reason in {"UNKNOWN", "UNAUTHORIZED_RESPONDER"}, outcome


def test_no_responder_url_denies(pki: Pki, configure: Configure, invoke: Invoker) -> None:
    device = pki.issue_device()
    configure(trusted=[pki.issuing_ca], allowed=["http://127.0.0.1:9/ocsp"])
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "NO_RESPONDER_URL"), outcome
    configure(trusted=[pki.issuing_ca], allowed=["http://127.0.0.1:9/ocsp"], OCSP_FAIL_MODE="open")
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "NO_RESPONDER_URL"), outcome


# -- RSASSA-PSS, as AWS Private CA signs with SHA256/384/512WITHRSA_PSS -------------------------

PSS = SignatureAlgorithmOID.RSASSA_PSS


@pytest.mark.parametrize(
    ("digest", "salt", "signer"),
    [
        ("sha256", "digest", "rsa_ca"),
        ("sha384", "max", "rsa_ca"),
        ("sha512", "digest", "rsa_delegate"),
        ("sha256", "max", "rsa_delegate"),
    ],
)
@pytest.mark.parametrize("status", ["good", "revoked"])
def test_pss_signed_answers_from_openssl(
    *,
    pki: Pki,
    configure: Configure,
    invoke: Invoker,
    digest: str,
    salt: str,
    signer: str,
    status: str,
) -> None:
    pss_options = ["-rmd", digest, "-rsigopt", "rsa_padding_mode:pss"]
    pss_options += ["-rsigopt", f"rsa_pss_saltlen:{salt}"]
    with OpensslResponder(
        ca=pki.rsa_ca, signer=getattr(pki, signer), extra_args=pss_options
    ) as responder:
        # The device certificate itself is PSS-signed too, as a PSS CA would issue it.
        device = pki.issue_device(issuer=pki.rsa_ca, ocsp_url=responder.url, pss=True)
        if status == "good":
            responder.set_good(device)
        else:
            responder.set_revoked(device)
        configure(trusted=[pki.rsa_ca], allowed=[responder.url])
        outcome = invoke(make_event(device))
        # What openssl sent is really PSS-signed (asked again, outside the handler).
        request = ocsp.OCSPRequestBuilder().add_certificate(device.cert, pki.rsa_ca.cert, SHA1)
        answer = responder.respond(request.build().public_bytes(serialization.Encoding.DER))
    assert (outcome.answer, outcome.reason) == EXPECTED[status], outcome
    assert answer is not None
    assert ocsp.load_der_ocsp_response(answer).signature_algorithm_oid == PSS
    assert device.cert.signature_algorithm_oid == PSS


def test_openssl_responder_named_by_key_with_a_compressed_point_is_recognised(
    pki: Pki, configure: Configure, invoke: Invoker
) -> None:
    ca = compressed_point_ca(pki.root)
    with OpensslResponder(ca=ca, signer=ca, key_id=True) as responder:
        device = pki.issue_device(issuer=ca, ocsp_url=responder.url)
        responder.set_good(device)
        configure(trusted=[ca], allowed=[responder.url])
        outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
