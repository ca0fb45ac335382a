"""The handler's answer cache, observed from outside: responder request counts and log lines.

Timing-dependent cases use answers whose nextUpdate is a couple of seconds ahead and generous
margins. The handler's clock skew allowance (60 s) only widens acceptance of an answer's times;
the cache must still stop at nextUpdate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.lambdas.support.forge import ParsedRequest, answer_with, build_answer, cert_id_hashes
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.loopback import Behaviour, LoopbackServer, Reply, fixed
from tests.lambdas.support.openssl import OpensslResponder
from tests.lambdas.support.pki import Issued, Pki

Configure = Callable[..., None]
FAST = {"OCSP_TIMEOUT_SECONDS": 1, "OCSP_DEADLINE_SECONDS": 2}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def _good_for(pki: Pki, **kwargs: Any) -> Behaviour:
    return answer_with(lambda r: build_answer(r, signer=pki.issuing_ca, **kwargs))


def test_second_connection_is_a_cache_hit(pki: Pki, configure: Configure, invoke: Invoker) -> None:
    with OpensslResponder(ca=pki.issuing_ca, signer=pki.delegate) as responder:
        device = pki.issue_device(ocsp_url=responder.url)
        responder.set_good(device)
        configure(trusted=[pki.issuing_ca], allowed=[responder.url])
        first = invoke(make_event(device, connection_id="a"))
        second = invoke(make_event(device, connection_id="b"))
        third = invoke(make_event(device, pki.issuing_ca, connection_id="c"))
        assert (first.answer, first.log["cacheHit"]) == (ALLOW, False), first
        assert (second.answer, second.reason, second.log["cacheHit"]) == (ALLOW, "GOOD", True)
        assert (third.answer, third.log["cacheHit"]) == (ALLOW, True), third
        assert second.log["ResponderRequests"] == 0
        assert responder.request_count == 1
        # Another device of the same CA is not answered from this entry.
        other = pki.issue_device(ocsp_url=responder.url)
        assert invoke(make_event(other)).answer == DENY  # not in the index: unknown
        assert responder.request_count == 2


@pytest.mark.parametrize(
    ("status", "then"),
    [
        # Even if the responder now (wrongly) said good, the cached revocation stands.
        ("revoked", (DENY, "REVOKED", True)),
        # Unknown is never cached: the next connection asks again.
        ("unknown", (ALLOW, "GOOD", False)),
    ],
)
def test_revoked_answers_are_cached_unknown_ones_are_not(
    *,
    pki: Pki,
    server: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    status: str,
    then: tuple[dict[str, bool], str, bool],
) -> None:
    server.behaviour = _good_for(pki, status=status)
    device = pki.issue_device(ocsp_url=server.url)
    configure(trusted=[pki.issuing_ca], allowed=[server.url], **FAST)
    first = invoke(make_event(device))
    assert (first.answer, first.reason, first.log["cacheHit"]) == (DENY, status.upper(), False)
    server.behaviour = _good_for(pki)
    second = invoke(make_event(device))
    assert (second.answer, second.reason, second.log["cacheHit"]) == then, second
    assert server.request_count == (1 if then[2] else 2)


def test_not_reused_past_next_update(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    server.behaviour = _good_for(pki, next_update_offset=2)
    device = pki.issue_device(ocsp_url=server.url)
    configure(trusted=[pki.issuing_ca], allowed=[server.url], **FAST)
    started = time.monotonic()
    assert invoke(make_event(device)).answer == ALLOW
    hit = invoke(make_event(device))
    if time.monotonic() - started < 1.0:  # only meaningful while surely before nextUpdate
        assert (hit.answer, hit.log["cacheHit"]) == (ALLOW, True), hit
    time.sleep(max(0.0, started + 3.2 - time.monotonic()))
    server.behaviour = _good_for(pki, status="revoked")
    after = invoke(make_event(device))
    assert (after.answer, after.reason, after.log["cacheHit"]) == (DENY, "REVOKED", False), after
    assert server.request_count == 2


def test_cache_max_seconds_caps_a_long_next_update(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    server.behaviour = _good_for(pki, next_update_offset=86_400)
    device = pki.issue_device(ocsp_url=server.url)
    configure(trusted=[pki.issuing_ca], allowed=[server.url], OCSP_CACHE_MAX_SECONDS=1, **FAST)
    assert invoke(make_event(device)).answer == ALLOW
    time.sleep(1.3)
    server.behaviour = _good_for(pki, status="revoked")
    after = invoke(make_event(device))
    assert (after.answer, after.reason) == (DENY, "REVOKED"), after
    assert server.request_count == 2


def test_cache_max_seconds_zero_disables_the_cache(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    server.behaviour = _good_for(pki)
    device = pki.issue_device(ocsp_url=server.url)
    configure(trusted=[pki.issuing_ca], allowed=[server.url], OCSP_CACHE_MAX_SECONDS=0, **FAST)
    for _ in range(3):
        outcome = invoke(make_event(device))
        assert (outcome.answer, outcome.log["cacheHit"]) == (ALLOW, False), outcome
    assert server.request_count == 3


def test_cache_is_bounded_by_max_entries(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    server.behaviour = _good_for(pki)
    a, b = pki.issue_device(ocsp_url=server.url), pki.issue_device(ocsp_url=server.url)
    configure(trusted=[pki.issuing_ca], allowed=[server.url], OCSP_CACHE_MAX_ENTRIES=1, **FAST)
    for device in (a, b, a, b):
        assert invoke(make_event(device)).answer == ALLOW
    assert server.request_count == 4  # each evicts the other
    assert invoke(make_event(b)).log["cacheHit"] is True
    assert server.request_count == 4


def test_same_serial_under_another_ca_is_not_a_hit(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    serial = 0x1234_5678_9ABC
    mine = pki.issue_device(serial=serial, ocsp_url=server.url)
    theirs = pki.issue_device(issuer=pki.other_ca, serial=serial, ocsp_url=server.url)

    def by_ca(request: ParsedRequest) -> bytes:
        # Answer as whichever CA the CertID names: good for issuing_ca, revoked for other_ca.
        _, issuing_key_hash = cert_id_hashes(pki.issuing_ca.cert, request.hash_algorithm)
        if request.issuer_key_hash == issuing_key_hash:
            return build_answer(request, signer=pki.issuing_ca)
        return build_answer(request, signer=pki.other_ca, status="revoked")

    server.behaviour = answer_with(by_ca)
    configure(trusted=[pki.issuing_ca, pki.other_ca], allowed=[server.url], **FAST)
    assert invoke(make_event(mine)).answer == ALLOW
    outcome = invoke(make_event(theirs))
    assert (outcome.answer, outcome.reason, outcome.log["cacheHit"]) == (DENY, "REVOKED", False)
    assert server.request_count == 2


def test_reset_drops_the_cache(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    server.behaviour = _good_for(pki)
    device = pki.issue_device(ocsp_url=server.url)
    configure(trusted=[pki.issuing_ca], allowed=[server.url], **FAST)
    assert invoke(make_event(device)).log["cacheHit"] is False
    invoke.reset()
    assert invoke(make_event(device)).log["cacheHit"] is False
    assert server.request_count == 2


def test_reset_closes_the_handlers_connections(
    pki: Pki, configure: Configure, invoke: Invoker
) -> None:
    """Two misses share one keep-alive connection; after ``reset()`` the next miss opens a new
    one (the transport state is the handler's own and goes with it)."""
    with LoopbackServer(_good_for(pki), keep_alive=True) as server:
        _two_misses_then_reset(pki, server, configure, invoke)


def _two_misses_then_reset(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    devices = [pki.issue_device(ocsp_url=server.url) for _ in range(3)]
    configure(trusted=[pki.issuing_ca], allowed=[server.url], **FAST)
    assert invoke(make_event(devices[0])).reason == "GOOD"
    assert invoke(make_event(devices[1])).reason == "GOOD"
    assert (server.request_count, server.connections) == (2, 1)
    invoke.reset()
    configure(trusted=[pki.issuing_ca], allowed=[server.url], **FAST)
    assert invoke(make_event(devices[2])).reason == "GOOD"
    assert (server.request_count, server.connections) == (3, 2)


def test_the_two_handlers_of_one_process_never_share_a_client() -> None:
    import preauth_handler  # noqa: PLC0415 - the modules under test
    import stapling_handler  # noqa: PLC0415

    assert preauth_handler._http() is not stapling_handler._http()
    assert preauth_handler._http() is preauth_handler._http()


# -- stale-if-error --------------------------------------------------------------------------


def _prime_short_lived(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker, **env: Any
) -> tuple[Issued, float]:
    server.behaviour = _good_for(pki, next_update_offset=1)
    device = pki.issue_device(ocsp_url=server.url)
    configure(trusted=[pki.issuing_ca], allowed=[server.url], **FAST, **env)
    primed_at = time.monotonic()
    assert invoke(make_event(device)).reason == "GOOD"
    return device, primed_at


def test_stale_if_error_allows_within_its_window_only(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    device, primed = _prime_short_lived(
        pki, server, configure, invoke, OCSP_STALE_IF_ERROR_SECONDS=3
    )
    server.close()  # the responder goes away: connection refused from now on
    time.sleep(max(0.0, primed + 1.6 - time.monotonic()))  # past nextUpdate (+1 s)
    stale = invoke(make_event(device))
    assert (stale.answer, stale.reason) == (ALLOW, "STALE_IF_ERROR"), stale
    assert stale.log["ResponderRequests"] == 1
    assert stale.log["ResponderErrors"] == 1
    time.sleep(max(0.0, primed + 5.5 - time.monotonic()))  # past nextUpdate + 3 s window
    late = invoke(make_event(device))
    assert (late.answer, late.reason) == (DENY, "RESPONDER_UNAVAILABLE"), late
    assert server.request_count == 1


def test_stale_if_error_is_not_used_when_the_responder_answers_badly(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    device, primed = _prime_short_lived(
        pki, server, configure, invoke, OCSP_STALE_IF_ERROR_SECONDS=60
    )
    server.behaviour = answer_with(lambda r: build_answer(r, signer=pki.rogue_ca))
    time.sleep(max(0.0, primed + 1.6 - time.monotonic()))
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "BAD_SIGNATURE"), outcome


def test_stale_if_error_off_by_default(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    device, primed = _prime_short_lived(pki, server, configure, invoke)
    server.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
    time.sleep(max(0.0, primed + 1.6 - time.monotonic()))
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "RESPONDER_UNAVAILABLE"), outcome


def test_stale_revoked_still_denies_when_responder_is_gone(
    pki: Pki, server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    server.behaviour = _good_for(pki, status="revoked", next_update_offset=1)
    device = pki.issue_device(ocsp_url=server.url)
    configure(
        trusted=[pki.issuing_ca],
        allowed=[server.url],
        OCSP_STALE_IF_ERROR_SECONDS=60,
        OCSP_FAIL_MODE="open",
        **FAST,
    )
    primed = time.monotonic()
    assert invoke(make_event(device)).reason == "REVOKED"
    server.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
    time.sleep(max(0.0, primed + 1.6 - time.monotonic()))
    outcome = invoke(make_event(device))
    # Neither fail-open nor stale-if-error may turn a known revocation into an allow.
    assert (outcome.answer, outcome.reason) == (DENY, "REVOKED"), outcome
