"""The stapling handler against OpenSSL's own OCSP responder (``openssl ocsp``) on 127.0.0.1:
good and revoked answers come back byte for byte as the responder sent them, for CA-signed and
delegate-signed answers, EC and RSA (PKCS#1 v1.5 and PSS), ResponderID by name and by key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from tests.lambdas.support.loopback import RecordedRequest, Reply
from tests.lambdas.support.openssl import OpensslResponder
from tests.lambdas.support.pki import Issued, Pki
from tests.lambdas.support.stapling import Stapler, event_for

Configure = Callable[..., None]
PSS = ["-rmd", "sha256", "-rsigopt", "rsa_padding_mode:pss", "-rsigopt", "rsa_pss_saltlen:digest"]


@dataclass
class Recorded:
    """What the responder sent back, body by body."""

    bodies: list[bytes] = field(default_factory=list)


@contextmanager
def openssl_responder(
    ca: Issued, signer: Issued, *, extra: list[str] | None = None, **options: object
) -> Iterator[tuple[OpensslResponder, Recorded]]:
    with OpensslResponder(ca=ca, signer=signer, extra_args=extra, **options) as responder:  # type: ignore[arg-type]
        recorded = Recorded()
        answer = responder.server.behaviour

        def record(request: RecordedRequest) -> Reply:
            reply = answer(request)
            recorded.bodies.append(reply.body)
            return reply

        responder.server.behaviour = record
        yield responder, recorded


CASES = {
    "ec-ca": ("issuing_ca", "issuing_ca", None, []),
    "ec-delegate": ("issuing_ca", "delegate", "delegate", []),
    "ec-ca-by-key": ("issuing_ca", "issuing_ca", None, ["-resp_key_id"]),
    "ec-ca-no-certs": ("issuing_ca", "issuing_ca", None, ["-resp_no_certs"]),
    "rsa-ca": ("rsa_ca", "rsa_ca", None, []),
    "rsa-ca-pss": ("rsa_ca", "rsa_ca", None, PSS),
    "rsa-delegate-by-key": ("rsa_ca", "rsa_delegate", "rsa_delegate", ["-resp_key_id"]),
}


@pytest.mark.parametrize("status", ["good", "revoked"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_good_and_revoked_pass_through_byte_for_byte(
    pki: Pki, configure: Configure, staple: Stapler, case: str, status: str
) -> None:
    ca_name, signer_name, authorized_name, extra = CASES[case]
    ca: Issued = getattr(pki, ca_name)
    authorized = getattr(pki, authorized_name) if authorized_name else None
    with openssl_responder(ca, getattr(pki, signer_name), extra=extra) as (responder, recorded):
        server_cert = pki.issue_device(issuer=ca)
        if status == "good":
            responder.set_good(server_cert)
        else:
            responder.set_revoked(server_cert)
        configure(responder_url=responder.url, trusted=[ca], authorized=authorized)
        event = event_for(server_cert, ca)
        first = staple(event)
        second = staple(event)
    assert first.reason == status.upper(), first
    assert first.der == recorded.bodies[0]  # never re-encoded
    assert first.status is ocsp.OCSPCertStatus[status.upper()]
    assert (second.der, second.log["cacheHit"]) == (first.der, True)
    assert len(recorded.bodies) == 1
    assert first.log["ResponderRequests"] == 1
    assert first.log["nextUpdate"] is not None


def test_a_sha256_cert_id_is_answered_in_kind(
    pki: Pki, configure: Configure, staple: Stapler
) -> None:
    with openssl_responder(pki.issuing_ca, pki.issuing_ca) as (responder, recorded):
        server_cert = pki.issue_device()
        responder.set_good(server_cert)
        configure(responder_url=responder.url, trusted=[pki.issuing_ca])
        result = staple(event_for(server_cert, pki.issuing_ca, algorithm=hashes.SHA256()))
    assert result.reason == "GOOD", result
    assert result.der == recorded.bodies[0]
    single = next(iter(ocsp.load_der_ocsp_response(result.der).responses))
    assert single.hash_algorithm.name == "sha256"
    assert result.log["hashAlgorithm"] == "sha256"


def test_unknown_is_never_stapled(pki: Pki, configure: Configure, staple: Stapler) -> None:
    with openssl_responder(pki.issuing_ca, pki.issuing_ca) as (responder, _recorded):
        server_cert = pki.issue_device()  # not in the responder's index: unknown
        configure(responder_url=responder.url, trusted=[pki.issuing_ca])
        result = staple(event_for(server_cert, pki.issuing_ca))
        again = staple(event_for(server_cert, pki.issuing_ca))
        requests = responder.request_count
    assert (result.answer, result.reason) == ("", "UNKNOWN"), result
    assert (again.answer, again.reason, requests) == ("", "UNKNOWN", 2)  # never cached


@pytest.mark.parametrize(
    ("signer", "authorized", "extra", "reason"),
    [
        ("issuing_ca", "delegate", [], "UNEXPECTED_SIGNER"),
        ("delegate", None, [], "UNEXPECTED_SIGNER"),
        # IoT Core would know the delegate, but the answer must carry it for our own check
        ("delegate", "delegate", ["-resp_no_certs"], "UNAUTHORIZED_RESPONDER"),
    ],
)
def test_answers_iot_core_would_refuse_are_never_stapled(
    *,
    pki: Pki,
    configure: Configure,
    staple: Stapler,
    signer: str,
    authorized: str | None,
    extra: list[str],
    reason: str,
) -> None:
    with openssl_responder(pki.issuing_ca, getattr(pki, signer), extra=extra) as (responder, _):
        server_cert = pki.issue_device()
        responder.set_good(server_cert)
        configure(
            responder_url=responder.url,
            trusted=[pki.issuing_ca],
            authorized=getattr(pki, authorized) if authorized else None,
        )
        result = staple(event_for(server_cert, pki.issuing_ca))
    assert (result.answer, result.reason) == ("", reason), result
    assert result.log["ResponderErrors"] == 1


def test_an_answer_without_next_update_is_stapled_for_the_freshness_window(
    pki: Pki, configure: Configure, staple: Stapler
) -> None:
    with openssl_responder(pki.issuing_ca, pki.issuing_ca, nmin=None) as (responder, recorded):
        server_cert = pki.issue_device()
        responder.set_good(server_cert)
        configure(
            responder_url=responder.url,
            trusted=[pki.issuing_ca],
            OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS=600,
        )
        result = staple(event_for(server_cert, pki.issuing_ca))
    assert (result.reason, result.der) == ("GOOD", recorded.bodies[0]), result
    assert result.log["nextUpdate"] is None
    assert result.log["usableUntil"] > result.log["thisUpdate"]
