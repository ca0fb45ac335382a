"""``ocsp_core.check``: the decision, through the real fetcher and loopback responders."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.x509 import ocsp as x509_ocsp
from ocsp_core.cache import ResponseCache
from ocsp_core.certid import HashName
from ocsp_core.transport import HttpFetcher
from preauth.decide import check
from preauth.event import parse_event
from preauth.models import Attempt, Decision, Reason, Verdict
from preauth.settings import FailMode, Settings

from tests.lambdas.support.forge import (
    answer_with,
    build_answer,
    parse_request,
    unsuccessful,
)
from tests.lambdas.support.loopback import (
    LoopbackServer,
    RawListener,
    Reply,
    closed_port_url,
    fixed,
)
from tests.lambdas.support.pki import Issued, Pki
from tests.lambdas.support.unit import NOW, respond, settings_for

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(path="/ocsp") as srv:
        yield srv


def attempt_of(device: Issued) -> Attempt:
    return parse_event(
        {
            "connectionMetadata": {"id": "c"},
            "principalId": "p",
            "serverName": "s",
            "clientCertificateChain": [device.pem.decode()],
        }
    )


class Checker:
    """Calls ``check`` with one cache and the real ``HttpFetcher``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ResponseCache(max_entries=settings.cache_max_entries)

    def __call__(self, device: Issued, *, now: dt.datetime = NOW) -> Decision:
        fetcher = HttpFetcher(
            allowed_urls=self.settings.allowed_urls,
            max_response_bytes=self.settings.max_response_bytes,
            deadline=time.monotonic() + self.settings.deadline_seconds,
        )
        return check(
            attempt_of(device), settings=self.settings, now=now, fetcher=fetcher, cache=self.cache
        )


def serve(server: LoopbackServer, device: Issued, issuer: Issued, **kwargs: Any) -> None:
    server.behaviour = answer_with(lambda _req: respond(device, issuer, **kwargs))


def checker(pki: Pki, server: LoopbackServer, **overrides: Any) -> Checker:
    return Checker(settings_for(pki, allowed=(server.url,), **overrides))


def expect(decision: Decision, verdict: Verdict, reason: Reason) -> Decision:
    assert (decision.verdict, decision.reason) == (verdict, reason), decision
    return decision


# -- the answer decides, and is cached ---------------------------------------------------------


def test_good_allows_and_the_repeat_is_a_cache_hit(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca)
    run = checker(pki, server)
    first = expect(run(device), Verdict.ALLOW, Reason.GOOD)
    assert (first.cache_hit, first.responder_requests, first.responder_error) == (False, 1, False)
    assert first.responder_latency_ms is not None
    second = expect(run(device, now=NOW + MINUTE), Verdict.ALLOW, Reason.GOOD)
    assert (second.cache_hit, second.responder_requests) == (True, 0)
    assert second.responder_latency_ms is None
    assert server.request_count == 1


def test_revoked_denies_and_is_cached(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca, status="revoked")
    run = checker(pki, server)
    assert "revoked at" in expect(run(device), Verdict.DENY, Reason.REVOKED).detail
    assert expect(run(device), Verdict.DENY, Reason.REVOKED).cache_hit
    assert server.request_count == 1


def test_unknown_denies_and_is_not_cached(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca, status="unknown")
    run = checker(pki, server)
    expect(run(device), Verdict.DENY, Reason.UNKNOWN)
    expect(run(device), Verdict.DENY, Reason.UNKNOWN)
    assert server.request_count == 2


def test_rsa_issuer_with_delegate_and_sha256_request(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(issuer=pki.rsa_ca, ocsp_url=server.url)
    server.behaviour = answer_with(
        lambda req: build_answer(req, signer=pki.rsa_delegate, responder_by="key", now=NOW)
    )
    run = checker(pki, server, hash_algorithm=HashName.SHA256)
    expect(run(device), Verdict.ALLOW, Reason.GOOD)
    parsed = parse_request(server.requests[0])
    assert parsed is not None
    assert parsed.hash_algorithm.name == "sha256"
    assert parsed.nonce is None


def test_nonce_is_sent_and_checked_when_on(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    run = checker(pki, server, nonce=True, cache_max_seconds=0)
    server.behaviour = answer_with(lambda req: build_answer(req, signer=pki.issuing_ca, now=NOW))
    expect(run(device), Verdict.ALLOW, Reason.GOOD)
    first = parse_request(server.requests[0])
    assert first is not None
    assert first.nonce is not None
    assert len(first.nonce) == 32
    server.behaviour = answer_with(
        lambda req: build_answer(req, signer=pki.issuing_ca, nonce=b"\x00" * 32, now=NOW)
    )
    expect(run(device), Verdict.DENY, Reason.NONCE_MISMATCH)
    second = parse_request(server.requests[1])
    assert second is not None
    assert second.nonce != first.nonce


# -- what is decided before any network call --------------------------------------------------


def test_untrusted_device_is_denied_without_a_request(pki: Pki, server: LoopbackServer) -> None:
    for issuer in (pki.other_ca, pki.rogue_ca):
        device = pki.issue_device(issuer=issuer, ocsp_url=server.url)
        serve(server, device, issuer)
        expect(checker(pki, server)(device), Verdict.DENY, Reason.UNTRUSTED_ISSUER)
    assert server.request_count == 0


@pytest.mark.parametrize("name", ["issuing_ca", "delegate"])
def test_a_ca_or_responder_certificate_as_leaf_is_denied_without_a_request(
    pki: Pki, server: LoopbackServer, name: str
) -> None:
    """Even when directly issued by a trusted CA (the root issued ``issuing_ca``)."""
    leaf: Issued = getattr(pki, name)
    run = Checker(
        settings_for(
            pki,
            allowed=(server.url,),
            responder_url=server.url,
            trusted_cas=(pki.root.cert, pki.issuing_ca.cert),
        )
    )
    expect(run(leaf), Verdict.DENY, Reason.NOT_A_DEVICE_CERT)
    assert server.request_count == 0


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (dt.timedelta(days=31), Reason.CERT_EXPIRED),
        (-dt.timedelta(hours=2), Reason.CERT_NOT_YET_VALID),
    ],
)
def test_device_outside_its_validity_is_denied_even_when_cached(
    pki: Pki, server: LoopbackServer, offset: dt.timedelta, reason: Reason
) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca)
    run = checker(pki, server)
    expect(run(device), Verdict.ALLOW, Reason.GOOD)
    expect(run(device, now=NOW + offset), Verdict.DENY, reason)
    assert server.request_count == 1


def test_no_url_anywhere_is_denied(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device()
    for mode in FailMode:
        expect(checker(pki, server, fail_mode=mode)(device), Verdict.DENY, Reason.NO_RESPONDER_URL)
    assert server.request_count == 0


def test_aia_url_off_the_allow_list_is_denied_without_contact(pki: Pki) -> None:
    with RawListener() as listener:
        device = pki.issue_device(ocsp_url=listener.url)
        run = Checker(
            settings_for(pki, allowed=("http://ocsp.example.com/",), fail_mode=FailMode.OPEN)
        )
        expect(run(device), Verdict.DENY, Reason.URL_NOT_ALLOWED)
        assert listener.connections_seen() == 0


def test_aia_url_is_compared_normalized(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url.replace("http://", "HTTP://"))
    serve(server, device, pki.issuing_ca)
    expect(checker(pki, server)(device), Verdict.ALLOW, Reason.GOOD)
    assert server.request_count == 1


def test_override_replaces_the_aia_url(pki: Pki, server: LoopbackServer) -> None:
    with RawListener() as listener:
        device = pki.issue_device(ocsp_url=listener.url)
        serve(server, device, pki.issuing_ca)
        run = Checker(settings_for(pki, allowed=(server.url,), responder_url=server.url))
        expect(run(device), Verdict.ALLOW, Reason.GOOD)
        assert listener.connections_seen() == 0
    assert server.request_count == 1


# -- fail mode: only for an unavailable responder ----------------------------------------------

UNAVAILABLE = {
    "refused": None,
    "http-503": Reply(status=503, body=b"down", content_type="text/plain"),
    "try-later": Reply(body=unsuccessful(x509_ocsp.OCSPResponseStatus.TRY_LATER)),
    "timeout": Reply(body=b"", delay=3),
}


@pytest.mark.parametrize("kind", list(UNAVAILABLE))
@pytest.mark.parametrize("mode", list(FailMode))
def test_unavailable_responder_follows_the_fail_mode(
    pki: Pki, server: LoopbackServer, kind: str, mode: FailMode
) -> None:
    reply = UNAVAILABLE[kind]
    url = closed_port_url() if reply is None else server.url
    if reply is not None:
        server.behaviour = fixed(reply)
    device = pki.issue_device(ocsp_url=url)
    run = Checker(
        settings_for(pki, allowed=(url,), fail_mode=mode, timeout_seconds=0.5, deadline_seconds=1)
    )
    decision = run(device)
    if mode is FailMode.OPEN:
        expect(decision, Verdict.ALLOW, Reason.FAIL_OPEN)
    else:
        expect(decision, Verdict.DENY, Reason.RESPONDER_UNAVAILABLE)
    assert decision.responder_error
    assert decision.responder_requests == 1
    assert not decision.cache_hit


ANSWERED_BADLY = {
    "http-404": (Reply(status=404, body=b"x"), Reason.BAD_HTTP_STATUS),
    "html": (Reply(body=b"<html>", content_type="text/html"), Reason.BAD_CONTENT_TYPE),
    "huge": (Reply(body=b"a" * 20_000), Reason.RESPONSE_TOO_LARGE),
    "garbage": (Reply(body=b"garbage"), Reason.MALFORMED_RESPONSE),
    "truncated-http": (Reply(body=b"\x30\x03", content_length=500), Reason.BAD_HTTP_RESPONSE),
    "unauthorized": (
        Reply(body=unsuccessful(x509_ocsp.OCSPResponseStatus.UNAUTHORIZED)),
        Reason.RESPONSE_STATUS_UNAUTHORIZED,
    ),
    "internal-error": (
        Reply(body=unsuccessful(x509_ocsp.OCSPResponseStatus.INTERNAL_ERROR)),
        Reason.RESPONSE_STATUS_INTERNAL_ERROR,
    ),
}


@pytest.mark.parametrize("kind", list(ANSWERED_BADLY))
def test_a_bad_answer_denies_even_in_fail_open(pki: Pki, server: LoopbackServer, kind: str) -> None:
    reply, reason = ANSWERED_BADLY[kind]
    server.behaviour = fixed(reply)
    device = pki.issue_device(ocsp_url=server.url)
    decision = checker(pki, server, fail_mode=FailMode.OPEN)(device)
    expect(decision, Verdict.DENY, reason)
    assert decision.responder_error


@pytest.mark.parametrize("signer", ["rogue_ca", "delegate_no_eku", "delegate_other_ca"])
def test_a_forged_good_answer_denies_even_in_fail_open(
    pki: Pki, server: LoopbackServer, signer: str
) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca, signer=getattr(pki, signer))
    decision = checker(pki, server, fail_mode=FailMode.OPEN)(device)
    assert decision.verdict is Verdict.DENY
    assert decision.reason in (Reason.BAD_SIGNATURE, Reason.UNAUTHORIZED_RESPONDER)


# -- cache lifetime and stale-if-error ----------------------------------------------------------


def test_cache_never_outlives_next_update(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca, next_update=NOW + dt.timedelta(seconds=30))
    run = checker(pki, server)
    expect(run(device), Verdict.ALLOW, Reason.GOOD)
    assert run(device, now=NOW + dt.timedelta(seconds=29)).cache_hit
    assert not run(device, now=NOW + dt.timedelta(seconds=30)).cache_hit
    assert server.request_count == 2


def test_cache_never_outlives_its_cap(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca, next_update=NOW + dt.timedelta(hours=5))
    run = checker(pki, server, cache_max_seconds=60)
    run(device)
    assert run(device, now=NOW + dt.timedelta(seconds=59)).cache_hit
    assert not run(device, now=NOW + dt.timedelta(seconds=60)).cache_hit


def test_cache_max_seconds_zero_disables_caching(pki: Pki, server: LoopbackServer) -> None:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca)
    run = checker(pki, server, cache_max_seconds=0, stale_if_error_seconds=600)
    run(device)
    assert not run(device).cache_hit
    assert len(run.cache) == 0


def _prime_then_break(
    pki: Pki, server: LoopbackServer, status: str, **overrides: Any
) -> tuple[Checker, Issued]:
    device = pki.issue_device(ocsp_url=server.url)
    serve(server, device, pki.issuing_ca, status=status)  # nextUpdate = NOW + 5 min
    run = checker(pki, server, **overrides)
    run(device)
    server.behaviour = fixed(Reply(status=503, body=b"", content_type="text/plain"))
    return run, device


def test_stale_good_answer_allows_while_the_responder_is_down(
    pki: Pki, server: LoopbackServer
) -> None:
    run, device = _prime_then_break(pki, server, "good", stale_if_error_seconds=600)
    decision = expect(run(device, now=NOW + 10 * MINUTE), Verdict.ALLOW, Reason.STALE_IF_ERROR)
    assert decision.responder_requests == 1
    assert decision.responder_error
    expect(run(device, now=NOW + 16 * MINUTE), Verdict.DENY, Reason.RESPONDER_UNAVAILABLE)


def test_stale_good_answer_is_not_used_when_the_responder_answers(
    pki: Pki, server: LoopbackServer
) -> None:
    run, device = _prime_then_break(pki, server, "good", stale_if_error_seconds=600)
    serve(
        server,
        device,
        pki.issuing_ca,
        status="revoked",
        this_update=NOW + 9 * MINUTE,
        next_update=NOW + 15 * MINUTE,
    )
    expect(run(device, now=NOW + 10 * MINUTE), Verdict.DENY, Reason.REVOKED)


def test_stale_good_answer_is_not_used_after_a_bad_answer(pki: Pki, server: LoopbackServer) -> None:
    run, device = _prime_then_break(pki, server, "good", stale_if_error_seconds=600)
    server.behaviour = fixed(Reply(body=b"garbage"))
    expect(run(device, now=NOW + 10 * MINUTE), Verdict.DENY, Reason.MALFORMED_RESPONSE)


def test_without_a_stale_window_an_outage_follows_the_fail_mode(
    pki: Pki, server: LoopbackServer
) -> None:
    run, device = _prime_then_break(pki, server, "good")
    expect(run(device, now=NOW + 10 * MINUTE), Verdict.DENY, Reason.RESPONDER_UNAVAILABLE)


def test_a_revoked_answer_is_final_past_its_freshness_in_fail_open(
    pki: Pki, server: LoopbackServer
) -> None:
    """A verified revoked answer decides until the device expires: past its nextUpdate and
    stale-if-error window, with the responder down and fail-open, it is still a cache hit."""
    run, device = _prime_then_break(
        pki, server, "revoked", stale_if_error_seconds=600, fail_mode=FailMode.OPEN
    )
    for later in (10 * MINUTE, 16 * MINUTE, dt.timedelta(days=20)):
        decision = expect(run(device, now=NOW + later), Verdict.DENY, Reason.REVOKED)
        assert (decision.cache_hit, decision.responder_requests) == (True, 0)
    assert server.request_count == 1
    expired = run(device, now=device.cert.not_valid_after_utc + MINUTE)
    expect(expired, Verdict.DENY, Reason.CERT_EXPIRED)


def test_a_replayed_older_good_answer_cannot_undo_a_revocation(pki: Pki) -> None:
    """Revoked, then (a cache that lost the entry aside) every later good answer, older or
    newer, finds the revocation cached and is not even asked for."""
    with LoopbackServer() as server:
        device = pki.issue_device(ocsp_url=server.url)
        run = Checker(settings_for(pki, allowed=(server.url,), cache_max_seconds=60))
        serve(server, device, pki.issuing_ca, status="revoked")
        expect(run(device), Verdict.DENY, Reason.REVOKED)
        # the path now replays a good answer from before the revocation
        serve(server, device, pki.issuing_ca, this_update=NOW - 30 * MINUTE)
        for later in (2 * MINUTE, 30 * MINUTE):
            expect(run(device, now=NOW + later), Verdict.DENY, Reason.REVOKED)
        assert server.request_count == 1


def test_unknown_answer_forgets_an_earlier_good_one(pki: Pki) -> None:
    with LoopbackServer() as server:
        device = pki.issue_device(ocsp_url=server.url)
        run = Checker(
            settings_for(
                pki, allowed=(server.url,), stale_if_error_seconds=3600, fail_mode=FailMode.CLOSED
            )
        )
        serve(server, device, pki.issuing_ca, next_update=NOW + dt.timedelta(seconds=30))
        expect(run(device), Verdict.ALLOW, Reason.GOOD)
        later = NOW + dt.timedelta(seconds=40)
        serve(server, device, pki.issuing_ca, status="unknown", this_update=later)
        expect(run(device, now=later), Verdict.DENY, Reason.UNKNOWN)
        server.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
        outage = run(device, now=later + dt.timedelta(seconds=1))
    expect(outage, Verdict.DENY, Reason.RESPONDER_UNAVAILABLE)
