"""The sample events under ``tests/events/`` (shaped as in the AWS IoT Core docs) through the
handler."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from tests.lambdas.support.forge import answer_with, build_answer
from tests.lambdas.support.harness import ALLOW, DENY, EVENTS_DIR, Invoker, load_event
from tests.lambdas.support.loopback import LoopbackServer
from tests.lambdas.support.openssl import OpensslResponder
from tests.lambdas.support.pki import Pki

Configure = Callable[..., None]
DOCUMENTED_KEYS = {"connectionMetadata", "principalId", "serverName", "clientCertificateChain"}


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_sample_events_have_the_documented_shape(path: object) -> None:
    event = json.loads(path.read_text())  # type: ignore[attr-defined]
    assert set(event) == DOCUMENTED_KEYS
    assert set(event["connectionMetadata"]) == {"id"}
    assert isinstance(event["clientCertificateChain"], list)
    assert all(isinstance(entry, str) for entry in event["clientCertificateChain"])


def test_docs_placeholder_event_is_malformed(
    pki: Pki, configure: Configure, invoke: Invoker
) -> None:
    configure(trusted=[pki.issuing_ca], allowed=["http://127.0.0.1:9/ocsp"])
    outcome = invoke(load_event("preauth-docs-example.json"))
    assert (outcome.answer, outcome.reason) == (DENY, "MALFORMED_EVENT"), outcome
    assert outcome.log["connectionId"] == "string"


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_untrusted_device_event_is_denied_without_request(
    pki: Pki, configure: Configure, invoke: Invoker, mode: str
) -> None:
    with LoopbackServer(answer_with(lambda r: build_answer(r, signer=pki.issuing_ca))) as server:
        configure(trusted=[pki.issuing_ca], responder_url=server.url, OCSP_FAIL_MODE=mode)
        outcome = invoke(load_event("preauth-untrusted-device.json"))
        assert (outcome.answer, outcome.reason) == (DENY, "UNTRUSTED_ISSUER"), outcome
        assert server.request_count == 0


def test_template_event_with_a_good_device_is_allowed(
    pki: Pki, configure: Configure, invoke: Invoker
) -> None:
    with OpensslResponder(ca=pki.issuing_ca, signer=pki.delegate) as responder:
        device = pki.issue_device(ocsp_url=responder.url)
        responder.set_good(device)
        text = (
            (EVENTS_DIR / "preauth-template.json")
            .read_text()
            .replace("{{PRINCIPAL_ID}}", hashlib.sha256(device.der).hexdigest())
            .replace("{{DEVICE_PEM}}", json.dumps(device.pem.decode())[1:-1])
            .replace("{{ISSUING_CA_PEM}}", json.dumps(pki.issuing_ca.pem.decode())[1:-1])
        )
        configure(trusted=[pki.issuing_ca], allowed=[responder.url])
        outcome = invoke(json.loads(text))
        assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
        assert responder.request_count == 1
