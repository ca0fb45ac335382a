"""A missing or malformed setting denies with CONFIG_ERROR (one log line, no request), and is
re-read after ``reset()``."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.lambdas.support.cas import CA_VARIANTS, candidate
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.loopback import LoopbackServer
from tests.lambdas.support.pki import Issued, Pki

Configure = Callable[..., None]


BAD_SETTINGS = {
    "fail-mode": {"OCSP_FAIL_MODE": "maybe"},
    "timeout-not-a-number": {"OCSP_TIMEOUT_SECONDS": "two"},
    "timeout-zero": {"OCSP_TIMEOUT_SECONDS": "0"},
    "timeout-above-deadline": {"OCSP_TIMEOUT_SECONDS": "3", "OCSP_DEADLINE_SECONDS": "2"},
    "deadline-beyond-iot-budget": {"OCSP_DEADLINE_SECONDS": "30"},
    "allowed-url-not-http": {"OCSP_ALLOWED_URLS": "ftp://127.0.0.1/ocsp"},
    "override-with-userinfo": {"OCSP_RESPONDER_URL": "http://user@127.0.0.1:9/ocsp"},
    "nonce": {"OCSP_NONCE": "yes"},
    "hash": {"OCSP_HASH_ALGORITHM": "md5"},
    "max-response-bytes": {"OCSP_MAX_RESPONSE_BYTES": "-1"},
    "cache-entries": {"OCSP_CACHE_MAX_ENTRIES": "lots"},
    "stale-if-error": {"OCSP_STALE_IF_ERROR_SECONDS": "1e9"},
}


@pytest.mark.parametrize("bad", list(BAD_SETTINGS.values()), ids=list(BAD_SETTINGS))
def test_malformed_setting_denies_with_config_error(
    *,
    pki: Pki,
    good_server: LoopbackServer,
    good_device: Issued,
    configure: Configure,
    invoke: Invoker,
    bad: dict[str, str],
) -> None:
    settings: dict[str, Any] = {"OCSP_FAIL_MODE": "open", **bad}
    configure(trusted=[pki.issuing_ca], allowed=[good_server.url], **settings)
    before = good_server.request_count
    outcome = invoke(make_event(good_device))
    assert (outcome.answer, outcome.reason) == (DENY, "CONFIG_ERROR"), outcome
    assert good_server.request_count == before
    # Fixed environment + reset(): the same device is allowed.
    configure(trusted=[pki.issuing_ca], allowed=[good_server.url])
    assert invoke(make_event(good_device)).answer == ALLOW


#: Trust anchors the Lambda refuses (``tests/lambdas/support/cas.py``), besides text and devices.
REFUSED_CAS = [name for name, (_, problem) in CA_VARIANTS.items() if problem is not None]
RANDOM_DER_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    + base64.encodebytes(b"\x30\x82\x01\x00" + bytes(range(256))).decode()
    + "-----END CERTIFICATE-----\n"
)


@pytest.mark.parametrize("trusted", ["", "not a pem", "device", "random-der", *REFUSED_CAS])
def test_bad_trusted_ca_pem_denies_with_config_error(
    *,
    pki: Pki,
    good_server: LoopbackServer,
    good_device: Issued,
    monkeypatch: pytest.MonkeyPatch,
    invoke: Invoker,
    trusted: str,
) -> None:
    """Whatever is not a usable trust anchor denies every device with CONFIG_ERROR (the
    construct refuses the same at synth: ``tests/contract``)."""
    if trusted in CA_VARIANTS:
        value = candidate(trusted, CA_VARIANTS[trusted][0]).pem.decode()
    else:
        value = {"device": good_device.pem.decode(), "random-der": RANDOM_DER_PEM}.get(
            trusted, trusted
        )
    monkeypatch.setenv("TRUSTED_CA_PEM", value)
    monkeypatch.setenv("OCSP_ALLOWED_URLS", good_server.url)
    monkeypatch.setenv("OCSP_FAIL_MODE", "open")
    invoke.reset()
    before = good_server.request_count
    outcome = invoke(make_event(good_device))
    assert (outcome.answer, outcome.reason) == (DENY, "CONFIG_ERROR"), outcome
    assert good_server.request_count == before
    assert "BEGIN CERTIFICATE" not in str(outcome.log)


def test_settings_are_read_once_until_reset(
    *,
    pki: Pki,
    good_server: LoopbackServer,
    good_device: Issued,
    configure: Configure,
    monkeypatch: pytest.MonkeyPatch,
    invoke: Invoker,
) -> None:
    configure(trusted=[pki.issuing_ca], allowed=[good_server.url], OCSP_CACHE_MAX_SECONDS=0)
    assert invoke(make_event(good_device)).answer == ALLOW
    monkeypatch.setenv("OCSP_FAIL_MODE", "nonsense")  # not seen until reset()
    assert invoke(make_event(good_device)).answer == ALLOW
    invoke.reset()
    assert invoke(make_event(good_device)).reason == "CONFIG_ERROR"
    monkeypatch.setenv("OCSP_FAIL_MODE", "closed")  # the error is kept until reset() too
    assert invoke(make_event(good_device)).reason == "CONFIG_ERROR"
    invoke.reset()
    assert invoke(make_event(good_device)).reason == "GOOD"


def test_function_name_comes_from_the_lambda_environment(
    *,
    pki: Pki,
    good_server: LoopbackServer,
    good_device: Issued,
    configure: Configure,
    monkeypatch: pytest.MonkeyPatch,
    invoke: Invoker,
) -> None:
    configure(trusted=[pki.issuing_ca], allowed=[good_server.url])
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "preauth-prod")
    log = invoke(make_event(good_device)).log
    assert (log["FunctionName"], log["verdict"]) == ("preauth-prod", "ALLOW")


@pytest.mark.parametrize("setting", ["OCSP_RESPONDER_URL", "OCSP_ALLOWED_URLS"])
def test_responder_url_that_cannot_be_connected_to_is_a_config_error(
    pki: Pki, configure: Configure, invoke: Invoker, setting: str
) -> None:
    device = pki.issue_device(ocsp_url="http://a..b/ocsp")
    configure(trusted=[pki.issuing_ca], OCSP_FAIL_MODE="open", **{setting: "http://a..b/ocsp"})
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "CONFIG_ERROR"), outcome
    assert "not a valid host name" in outcome.log["detail"]
