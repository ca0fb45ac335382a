"""The pre-auth handler against responders that stall or break the exchange below HTTP (raw TCP
peers on loopback, ``tests/lambdas/support/hostile.py``), with a second, healthy CA beside them.

Two CAs are trusted: ``other_ca``, whose responder is hostile, and ``issuing_ca``, whose own
responder is healthy (good for one device, revoked for another). Whatever the hostile responder
does, every decision leaves within the deadline plus a small margin, the hostile peer sees its
connection closed at that deadline (no thread is left reading it), and the healthy CA's devices
are decided by their own responder's answer, in both fail modes, even while eight dripping
connections are open at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.lambdas.support.forge import ParsedRequest, answer_with, build_answer, parse_request
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.hostile import CATEGORIES, HostilePeer, answer_after, drip_status_line
from tests.lambdas.support.loopback import LoopbackServer
from tests.lambdas.support.pki import Issued, Pki

Configure = Callable[..., None]

DEADLINE_SECONDS = 1
#: How much later than the deadline an answer may leave (scheduling on a busy machine).
MARGIN_SECONDS = 1.0
#: A decision that waits for nobody but a healthy loopback responder takes far less.
HEALTHY_SECONDS = 0.5
SETTINGS = {
    "OCSP_TIMEOUT_SECONDS": DEADLINE_SECONDS,
    "OCSP_DEADLINE_SECONDS": DEADLINE_SECONDS,
    # every decision asks its responder (no cache hit hides a blocked request)
    "OCSP_CACHE_MAX_SECONDS": 0,
}
#: The handler's own deadline: OCSP_DEADLINE_SECONDS minus its reserve for verifying.
HANDLER_DEADLINE = DEADLINE_SECONDS - 0.1


@dataclass(frozen=True)
class Healthy:
    """The healthy CA's responder and two of its devices."""

    server: LoopbackServer
    good: Issued
    revoked: Issued


@pytest.fixture(scope="module")
def healthy(pki: Pki) -> Iterator[Healthy]:
    revoked_serials: set[int] = set()

    def answer(request: ParsedRequest) -> bytes:
        status = "revoked" if request.serial in revoked_serials else "good"
        return build_answer(request, signer=pki.issuing_ca, status=status)

    with LoopbackServer(answer_with(answer)) as server:
        good = pki.issue_device(ocsp_url=server.url)
        revoked = pki.issue_device(ocsp_url=server.url)
        revoked_serials.add(revoked.serial)
        yield Healthy(server, good, revoked)


def _configure(
    configure: Configure, pki: Pki, healthy: Healthy, hostile_url: str, mode: str
) -> None:
    configure(
        trusted=[pki.issuing_ca, pki.other_ca],
        allowed=[healthy.server.url, hostile_url],
        OCSP_FAIL_MODE=mode,
        **SETTINGS,
    )


def _expected_for_hostile(outage: bool, mode: str) -> tuple[dict[str, bool], str]:
    if not outage:
        return DENY, "BAD_HTTP_RESPONSE"
    return (DENY, "RESPONDER_UNAVAILABLE") if mode == "closed" else (ALLOW, "FAIL_OPEN")


def _ocsp_threads() -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("ocsp-") and t.name != "ocsp-watchdog"
    ]


def _check_healthy(invoke: Invoker, healthy: Healthy) -> None:
    """The healthy CA's devices, decided by their own responder, quickly."""
    before = healthy.server.request_count
    good = invoke(make_event(healthy.good))
    revoked = invoke(make_event(healthy.revoked))
    assert (good.answer, good.reason) == (ALLOW, "GOOD"), good
    assert (revoked.answer, revoked.reason) == (DENY, "REVOKED"), revoked
    assert healthy.server.request_count == before + 2
    assert good.seconds < HEALTHY_SECONDS, good
    assert revoked.seconds < HEALTHY_SECONDS, revoked


@pytest.mark.parametrize("mode", ["closed", "open"])
@pytest.mark.parametrize("name", list(CATEGORIES))
def test_a_stalling_or_broken_responder_is_bounded_by_the_deadline(
    *,
    name: str,
    mode: str,
    pki: Pki,
    healthy: Healthy,
    configure: Configure,
    invoke: Invoker,
) -> None:
    category = CATEGORIES[name]
    with HostilePeer(
        category.script, read_request=category.read_request, scheme=category.scheme
    ) as peer:
        device = pki.issue_device(issuer=pki.other_ca, ocsp_url=peer.url)
        _configure(configure, pki, healthy, peer.url, mode)

        started = time.monotonic()
        outcome = invoke(make_event(device))
        returned = time.monotonic()
        (connection,) = peer.wait_closed(1)
        assert not peer.errors

        assert (outcome.answer, outcome.reason) == _expected_for_hostile(category.outage, mode)
        assert outcome.seconds < DEADLINE_SECONDS + MARGIN_SECONDS, outcome
        assert outcome.log["ResponderRequests"] == 1
        assert outcome.log["ResponderErrors"] == 1
        # the hostile peer saw its connection closed (at the deadline for a stall), and no
        # thread of the transport is still reading it
        assert connection.closed_at is not None
        assert connection.closed_at < returned + 0.25
        if category.outage:
            assert connection.closed_at > started + HANDLER_DEADLINE - 0.05
        assert _ocsp_threads() == []
        # and the other CA's devices are decided by their own responder, at once
        _check_healthy(invoke, healthy)


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_interim_responses_within_the_limit_then_an_answer_decide(
    *, mode: str, pki: Pki, healthy: Healthy, configure: Configure, invoke: Invoker
) -> None:
    def answer(body: bytes) -> bytes:
        parsed = parse_request(body)
        assert parsed is not None
        return build_answer(parsed, signer=pki.other_ca)

    with HostilePeer(answer_after(4, answer)) as peer:
        device = pki.issue_device(issuer=pki.other_ca, ocsp_url=peer.url)
        _configure(configure, pki, healthy, peer.url, mode)
        outcome = invoke(make_event(device))
        assert not peer.errors
    assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome


def _raw_call(handler_module: Any, event: dict[str, Any], into: list[tuple[float, Any]]) -> None:
    started = time.monotonic()
    answer = handler_module.handler(event, None)
    into.append((time.monotonic() - started, answer))


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_eight_dripping_connections_at_once_leave_a_healthy_ca_unaffected(
    *,
    mode: str,
    pki: Pki,
    healthy: Healthy,
    configure: Configure,
    handler_module: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue's attack: a handful of responders drip their status lines (here eight, all at
    once, on one warm handler). The healthy CA's good device is still allowed and its revoked
    device still denied, by their responder's answer and without waiting, in both modes; each
    hostile decision leaves by its deadline."""
    with HostilePeer(drip_status_line()) as peer:
        _configure(configure, pki, healthy, peer.url, mode)
        hostile_devices = [
            pki.issue_device(issuer=pki.other_ca, ocsp_url=peer.url) for _ in range(8)
        ]
        handler_module.handler(make_event(healthy.good), None)  # warm: settings, cache, client
        hostile_results: list[tuple[float, Any]] = []
        threads = [
            threading.Thread(
                target=_raw_call,
                args=(handler_module, make_event(d, connection_id=f"hostile-{i}"), hostile_results),
            )
            for i, d in enumerate(hostile_devices)
        ]
        for thread in threads:
            thread.start()
        until = time.monotonic() + 2
        while len(peer.connections) < 8 and time.monotonic() < until:
            time.sleep(0.005)
        assert len(peer.connections) == 8, "the eight dripping connections are open"
        before = healthy.server.request_count
        healthy_results: list[tuple[float, Any]] = []
        for device in (healthy.good, healthy.revoked, healthy.good, healthy.revoked):
            _raw_call(handler_module, make_event(device, connection_id="healthy"), healthy_results)
        still_dripping = sum(1 for c in peer.connections if c.closed_at is None)
        for thread in threads:
            thread.join(timeout=10)
        closed = peer.wait_closed(8)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert still_dripping == 8, "the healthy decisions were taken while all eight were open"
    assert [answer for _, answer in healthy_results] == [ALLOW, DENY, ALLOW, DENY]
    assert max(seconds for seconds, _ in healthy_results) < HEALTHY_SECONDS, healthy_results
    assert healthy.server.request_count == before + 4
    healthy_reasons = [line["reason"] for line in lines if line["connectionId"] == "healthy"]
    assert healthy_reasons == ["GOOD", "REVOKED", "GOOD", "REVOKED"]

    expected_answer, expected_reason = _expected_for_hostile(True, mode)
    assert len(hostile_results) == 8
    assert all(answer == expected_answer for _, answer in hostile_results), hostile_results
    assert max(seconds for seconds, _ in hostile_results) < DEADLINE_SECONDS + MARGIN_SECONDS
    hostile_reasons = {
        line["reason"] for line in lines if line["connectionId"].startswith("hostile")
    }
    assert hostile_reasons == {expected_reason}
    assert all(c.closed_at is not None for c in closed)
    assert _ocsp_threads() == []
