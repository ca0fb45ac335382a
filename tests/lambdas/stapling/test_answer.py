"""``stapling.answer``: what IoT Core gets, through the real fetcher and a loopback responder,
at explicit instants (``now``), so that cache, nextUpdate and outage boundaries are exact."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from ocsp_core.cache import ResponseCache
from ocsp_core.transport import HttpFetcher
from stapling.answer import CACHE_MAX_ENTRIES, answer, cache_key
from stapling.models import Outcome, Reason, Result
from stapling.request import Question, parse_event
from stapling.settings import Settings, load_settings

from tests.lambdas.support.forge import parse_request, unsuccessful
from tests.lambdas.support.loopback import LoopbackServer, Reply, closed_port_url, fixed
from tests.lambdas.support.pki import Issued, Pki
from tests.lambdas.support.stapling import SHA1, event_for, stapling_env
from tests.lambdas.support.unit import NOW, respond

MINUTE = dt.timedelta(minutes=1)
SECOND = dt.timedelta(seconds=1)
#: nextUpdate of ``respond``'s answers.
NEXT_UPDATE = NOW + 5 * MINUTE


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


class Stapling:
    """Calls ``answer`` with one cache and the real ``HttpFetcher``."""

    def __init__(self, settings: Settings, *, fetch_cap: int | None = None) -> None:
        self.settings = settings
        self.cache = ResponseCache(max_entries=CACHE_MAX_ENTRIES)
        self.fetch_cap = fetch_cap or settings.max_response_bytes

    def __call__(self, question: Question, *, now: dt.datetime = NOW) -> Result:
        fetcher = HttpFetcher(
            allowed_urls=frozenset({self.settings.responder_url}),
            max_response_bytes=self.fetch_cap,
            deadline=time.monotonic() + 3,
        )
        return answer(question, settings=self.settings, now=now, fetcher=fetcher, cache=self.cache)


def stapling(
    pki: Pki,
    server: LoopbackServer | str,
    *,
    authorized: Issued | None = None,
    fetch_cap: int | None = None,
    **extra: Any,
) -> Stapling:
    url = server if isinstance(server, str) else server.url
    env = stapling_env(
        responder_url=url,
        trusted=[pki.issuing_ca, pki.rsa_ca],
        authorized=authorized,
        extra={"OCSP_TIMEOUT_SECONDS": 2, **extra},
    )
    return Stapling(load_settings(env), fetch_cap=fetch_cap)


def question_for(server_cert: Issued, issuer: Issued, **request: Any) -> Question:
    return parse_event(event_for(server_cert, issuer, **request))


def serve(server: LoopbackServer, body: bytes) -> None:
    server.behaviour = fixed(Reply(body=body))


def expect(result: Result, reason: Reason, outcome: Outcome) -> Result:
    assert (result.reason, result.outcome) == (reason, outcome), result
    return result


# -- good and revoked, byte for byte, and cached ----------------------------------------------


@pytest.mark.parametrize("status", ["good", "revoked"])
def test_a_verified_answer_is_returned_byte_for_byte_and_cached(
    pki: Pki, server: LoopbackServer, status: str
) -> None:
    cert = pki.issue_device()
    body = respond(cert, pki.issuing_ca, status=status)
    serve(server, body)
    run = stapling(pki, server)
    first = expect(run(question_for(cert, pki.issuing_ca)), Reason(status.upper()), Outcome.STAPLE)
    assert first.der == body
    assert (first.cache_hit, first.responder_requests, first.responder_error) == (False, 1, False)
    assert (first.this_update, first.next_update) == (NOW - MINUTE, NEXT_UPDATE)
    assert first.usable_until == NEXT_UPDATE
    second = run(question_for(cert, pki.issuing_ca), now=NOW + MINUTE)
    assert (second.der, second.cache_hit, second.responder_requests) == (body, True, 0)
    assert server.request_count == 1


def test_the_request_is_our_own_for_the_same_cert_id_without_a_nonce(
    pki: Pki, server: LoopbackServer
) -> None:
    """IoT Core's nonce is not forwarded: a staple is shared by every handshake for an hour,
    and AWS Private CA ignores nonces anyway. The CertID (and its hash) is the one asked."""
    cert = pki.issue_device(issuer=pki.rsa_ca)
    body = respond(cert, pki.rsa_ca, cert_id_hash=hashes.SHA256())
    serve(server, body)
    question = question_for(cert, pki.rsa_ca, algorithm=hashes.SHA256(), nonce=b"\x07" * 16)
    assert question.nonce
    result = expect(stapling(pki, server)(question), Reason.GOOD, Outcome.STAPLE)
    assert result.der == body
    sent = parse_request(server.requests[0])
    assert sent is not None
    assert sent.nonce is None
    assert (sent.serial, sent.hash_algorithm.name) == (cert.serial, "sha256")
    assert (sent.issuer_name_hash, sent.issuer_key_hash) == (
        question.cert_id.issuer_name_hash,
        question.cert_id.issuer_key_hash,
    )


def test_a_cert_id_of_no_trusted_ca_is_never_forwarded(pki: Pki, server: LoopbackServer) -> None:
    cert = pki.issue_device(issuer=pki.other_ca)
    serve(server, respond(cert, pki.other_ca))
    for issuer in (pki.other_ca, pki.rogue_ca):  # the namesake of a trusted CA, too
        result = stapling(pki, server)(question_for(cert, issuer))
        expect(result, Reason.UNTRUSTED_ISSUER, Outcome.EMPTY)
        assert result.responder_requests == 0
    assert server.request_count == 0


def test_unknown_returns_nothing_and_forgets_an_earlier_answer(
    pki: Pki, server: LoopbackServer
) -> None:
    cert = pki.issue_device()
    question = question_for(cert, pki.issuing_ca)
    run = stapling(pki, server, OCSP_CACHE_MAX_SECONDS=60)
    serve(server, respond(cert, pki.issuing_ca))
    expect(run(question), Reason.GOOD, Outcome.STAPLE)
    serve(server, respond(cert, pki.issuing_ca, status="unknown"))
    unknown = expect(run(question, now=NOW + 2 * MINUTE), Reason.UNKNOWN, Outcome.EMPTY)
    assert unknown.responder_error is False
    # ... so an outage now cannot bring the good answer back
    serve(server, unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER))
    expect(run(question, now=NOW + 3 * MINUTE), Reason.RESPONDER_UNAVAILABLE, Outcome.EMPTY)
    assert len(run.cache) == 0


# -- the cache: configured time, never at or past nextUpdate ------------------------------------


def test_the_cache_lasts_the_configured_time(pki: Pki, server: LoopbackServer) -> None:
    cert = pki.issue_device()
    serve(server, respond(cert, pki.issuing_ca))
    run = stapling(pki, server, OCSP_CACHE_MAX_SECONDS=60)
    question = question_for(cert, pki.issuing_ca)
    run(question)
    assert run(question, now=NOW + 59 * SECOND).cache_hit
    later = expect(run(question, now=NOW + 60 * SECOND), Reason.GOOD, Outcome.STAPLE)
    assert not later.cache_hit
    assert server.request_count == 2


def test_the_cache_never_reaches_next_update(pki: Pki, server: LoopbackServer) -> None:
    cert = pki.issue_device()
    serve(server, respond(cert, pki.issuing_ca))
    run = stapling(pki, server, OCSP_CACHE_MAX_SECONDS=86_400)
    question = question_for(cert, pki.issuing_ca)
    run(question)
    assert run(question, now=NEXT_UPDATE - SECOND).cache_hit
    # at nextUpdate the cached answer is gone, and the responder's copy is just as stale
    at = expect(run(question, now=NEXT_UPDATE), Reason.STALE_RESPONSE, Outcome.EMPTY)
    assert not at.cache_hit
    assert server.request_count == 2


def test_cache_max_zero_asks_every_time_but_still_covers_an_outage(
    pki: Pki, server: LoopbackServer
) -> None:
    cert = pki.issue_device()
    body = respond(cert, pki.issuing_ca)
    serve(server, body)
    run = stapling(pki, server, OCSP_CACHE_MAX_SECONDS=0)
    question = question_for(cert, pki.issuing_ca)
    assert not run(question).cache_hit
    assert not run(question).cache_hit
    assert server.request_count == 2
    server.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
    stale = expect(run(question, now=NOW + MINUTE), Reason.STALE_IF_ERROR, Outcome.STAPLE)
    assert stale.der == body


@pytest.mark.parametrize("past", [dt.timedelta(0), 30 * SECOND])
def test_an_answer_at_or_past_its_next_update_is_never_returned(
    pki: Pki, server: LoopbackServer, past: dt.timedelta
) -> None:
    """The core allows 60 s of clock skew; a client refuses a staple past nextUpdate."""
    cert = pki.issue_device()
    serve(
        server,
        respond(cert, pki.issuing_ca, this_update=NOW - 10 * MINUTE, next_update=NOW - past),
    )
    result = stapling(pki, server)(question_for(cert, pki.issuing_ca))
    expect(result, Reason.STALE_RESPONSE, Outcome.EMPTY)
    assert "nextUpdate" in result.detail


def test_without_next_update_the_freshness_window_applies(pki: Pki, server: LoopbackServer) -> None:
    cert = pki.issue_device()
    serve(server, respond(cert, pki.issuing_ca, this_update=NOW - MINUTE, next_update=None))
    run = stapling(pki, server, OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS=120)
    result = expect(run(question_for(cert, pki.issuing_ca)), Reason.GOOD, Outcome.STAPLE)
    assert result.usable_until == NOW + MINUTE
    late = run(question_for(cert, pki.issuing_ca), now=NOW + MINUTE)
    expect(late, Reason.STALE_RESPONSE, Outcome.EMPTY)
    assert "freshness (no nextUpdate)" in late.detail


def test_usable_until_never_outlives_the_delegate(pki: Pki, server: LoopbackServer) -> None:
    short = pki.issue_delegate(not_before=NOW - MINUTE, not_after=NOW + 2 * MINUTE)
    cert = pki.issue_device()
    serve(server, respond(cert, pki.issuing_ca, signer=short))
    run = stapling(pki, server, authorized=short)
    question = question_for(cert, pki.issuing_ca)
    result = expect(run(question), Reason.GOOD, Outcome.STAPLE)
    assert result.usable_until == short.cert.not_valid_after_utc
    assert not run(question, now=NOW + 2 * MINUTE + SECOND).cache_hit


# -- the responder fails: the last verified answer, until it stops being usable ------------------


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (
            lambda _pki, _cert: Reply(status=503, body=b"", content_type=None),
            "RESPONDER_UNAVAILABLE",
        ),
        (lambda _pki, _cert: Reply(status=404, body=b"", content_type=None), "BAD_HTTP_STATUS"),
        (lambda _pki, _cert: Reply(body=b"\x30\x00"), "MALFORMED_RESPONSE"),
        (
            lambda pki, cert: Reply(body=respond(cert, pki.issuing_ca, signer=pki.rogue_ca)),
            "BAD_SIGNATURE",
        ),
        (
            lambda pki, cert: Reply(body=respond(cert, pki.issuing_ca, signer=pki.delegate)),
            "UNEXPECTED_SIGNER",
        ),
        (lambda _pki, _cert: Reply(hang_up=True), "RESPONDER_UNAVAILABLE"),
    ],
    ids=["http-503", "http-404", "garbage", "forged", "delegate-not-configured", "hang-up"],
)
def test_while_the_responder_fails_the_last_verified_answer_is_returned_until_next_update(
    pki: Pki, server: LoopbackServer, failure: Any, reason: str
) -> None:
    cert = pki.issue_device()
    body = respond(cert, pki.issuing_ca, status="revoked")
    serve(server, body)
    run = stapling(pki, server, OCSP_CACHE_MAX_SECONDS=60)
    question = question_for(cert, pki.issuing_ca)
    run(question)
    server.behaviour = fixed(failure(pki, cert))
    stale = expect(run(question, now=NOW + 2 * MINUTE), Reason.STALE_IF_ERROR, Outcome.STAPLE)
    assert stale.der == body
    assert stale.detail.startswith(f"{reason}: ")
    assert (stale.responder_requests, stale.responder_error) == (1, True)
    assert stale.usable_until == NEXT_UPDATE
    still = run(question, now=NEXT_UPDATE - SECOND)
    assert (still.reason, still.der) == (Reason.STALE_IF_ERROR, body)
    gone = expect(run(question, now=NEXT_UPDATE), Reason(reason), Outcome.EMPTY)
    assert gone.der == b""


def test_an_unreachable_responder_without_a_cached_answer_returns_nothing(pki: Pki) -> None:
    result = stapling(pki, closed_port_url())(question_for(pki.issue_device(), pki.issuing_ca))
    expect(result, Reason.RESPONDER_UNAVAILABLE, Outcome.EMPTY)
    assert (result.responder_requests, result.responder_error) == (1, True)


# -- who may sign: what IoT Core checks the staple against --------------------------------------


@pytest.mark.parametrize(
    ("signer", "authorized", "reason"),
    [
        ("issuing_ca", None, "GOOD"),
        ("delegate", None, "UNEXPECTED_SIGNER"),
        ("delegate", "delegate", "GOOD"),
        ("issuing_ca", "delegate", "UNEXPECTED_SIGNER"),
        ("another_delegate", "delegate", "UNEXPECTED_SIGNER"),
    ],
)
def test_only_the_key_iot_core_checks_against_may_sign(
    pki: Pki, server: LoopbackServer, signer: str, authorized: str | None, reason: str
) -> None:
    another = pki.issue_delegate()  # authorized by RFC 6960, but not the one IoT Core knows
    signers = {"issuing_ca": pki.issuing_ca, "delegate": pki.delegate, "another_delegate": another}
    cert = pki.issue_device()
    body = respond(cert, pki.issuing_ca, signer=signers[signer])
    serve(server, body)
    result = stapling(pki, server, authorized=signers[authorized] if authorized else None)(
        question_for(cert, pki.issuing_ca)
    )
    assert result.reason == Reason(reason), result
    assert result.der == (body if reason == "GOOD" else b"")


def test_a_staple_larger_than_allowed_is_never_returned(pki: Pki, server: LoopbackServer) -> None:
    """Checked on the verified answer itself, whatever the transport let through."""
    cert = pki.issue_device()
    padding_certs = [pki.root.cert, pki.other_ca.cert, pki.rsa_ca.cert]
    body = respond(cert, pki.issuing_ca, certs=padding_certs)
    assert len(body) > 1024
    serve(server, body)
    run = stapling(pki, server, fetch_cap=65_536, OCSP_MAX_RESPONSE_BYTES=1024)
    result = expect(
        run(question_for(cert, pki.issuing_ca)), Reason.RESPONSE_TOO_LARGE, Outcome.EMPTY
    )
    assert f"{len(body)} bytes" in result.detail
    # ... and the transport itself stops reading at the cap
    capped = stapling(pki, server, OCSP_MAX_RESPONSE_BYTES=1024)
    expect(capped(question_for(cert, pki.issuing_ca)), Reason.RESPONSE_TOO_LARGE, Outcome.EMPTY)


def test_cache_keys_tell_cert_ids_apart(pki: Pki) -> None:
    cert = pki.issue_device()
    one = question_for(cert, pki.issuing_ca).cert_id
    keys = {
        cache_key(one),
        cache_key(question_for(cert, pki.issuing_ca, algorithm=hashes.SHA256()).cert_id),
        cache_key(dataclasses.replace(one, serial=one.serial + 1)),
        cache_key(question_for(pki.issue_device(issuer=pki.rsa_ca), pki.rsa_ca).cert_id),
    }
    assert len(keys) == 4
    assert cache_key(question_for(cert, pki.issuing_ca, algorithm=SHA1).cert_id) == cache_key(one)
