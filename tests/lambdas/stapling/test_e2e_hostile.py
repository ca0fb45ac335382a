"""The stapling handler against the hostile responder of the pre-auth tests (real HTTP, real
crypto, ``tests/lambdas/support/hostile_cases.py``): only a verified good or revoked answer
signed by the key IoT Core checks against is returned (byte for byte); every other answer, and
every outage without an earlier verified answer, returns ``""``.

The cases keep their pre-auth ``reason``; what differs for stapling is listed in
``STAPLING_EXPECTATIONS`` (a revoked answer is a staple, not a denial; an unsolicited nonce is
harmless because none is sent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stapling.settings import SETTINGS

from tests.lambdas.support.hostile_cases import (
    CASES,
    TIMEOUT_SECONDS,
    Case,
    Ctx,
    make_ctx,
    signed_by,
)
from tests.lambdas.support.loopback import LoopbackServer, Reply, closed_port_url, fixed
from tests.lambdas.support.pki import Pki
from tests.lambdas.support.stapling import Stapler, event_for

Configure = Callable[..., None]
#: Generous upper bound on any invocation's wall time.
BOUND_SECONDS = TIMEOUT_SECONDS + 1.5
#: Cases answered by the delegate: the stapling handler is told it is IoT Core's authorized
#: responder (without that, a delegate's answer is UNEXPECTED_SIGNER; see test_answer.py).
DELEGATE_SIGNED = {
    "good-signed-by-delegate",
    "good-delegate-responder-id-by-key",
    "revoked-by-delegate",
}
#: (reason, stapled) where the stapling contract differs from the pre-auth one.
STAPLING_EXPECTATIONS: dict[str, tuple[str, bool]] = {
    "revoked-by-delegate": ("REVOKED", True),
    "revoked-by-ca": ("REVOKED", True),
    # no nonce is sent, so one in the answer is not checked (and harms no TLS client)
    "wrong-nonce": ("GOOD", True),
    # a staple answers for the server certificate only: a client that reads the first
    # SingleResponse would take the unrelated (revoked) one
    "good-with-unrelated-single-first": ("MULTIPLE_SINGLE_RESPONSES", False),
    # an authorized delegate, but not the one IoT Core is told about (none is configured here)
    "good-delegate-with-critical-subject-alt-name": ("UNEXPECTED_SIGNER", False),
}
#: The settings of a case's env the stapling handler reads too (it sends no nonce, so
#: ``OCSP_NONCE`` is the pre-auth Lambda's only).
STAPLING_SETTINGS = frozenset(setting.env for setting in SETTINGS)


def expected(case: Case) -> tuple[str, bool]:
    if case.name in STAPLING_EXPECTATIONS:
        return STAPLING_EXPECTATIONS[case.name]
    if case.kind == "allow":
        return "GOOD", True
    if case.kind == "unavailable":
        return "RESPONDER_UNAVAILABLE", False
    return case.reason, False


def test_the_mapping_names_real_cases() -> None:
    names = {case.name for case in CASES}
    assert set(STAPLING_EXPECTATIONS) | DELEGATE_SIGNED <= names
    assert sum(not expected(case)[1] for case in CASES) >= 35  # most answers are refused


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with LoopbackServer() as hostile, LoopbackServer(fixed(Reply(body=b""))) as target:
        yield hostile, target


@pytest.fixture(scope="module")
def ctx(pki: Pki, servers: tuple[LoopbackServer, LoopbackServer]) -> Ctx:
    return make_ctx(pki, servers[1])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_responder(
    *,
    case: Case,
    ctx: Ctx,
    servers: tuple[LoopbackServer, LoopbackServer],
    configure: Configure,
    staple: Stapler,
) -> None:
    hostile, target = servers
    hostile.clear()
    target.clear()
    hostile.behaviour = case.behaviour(ctx)
    url = closed_port_url() if case.unreachable else hostile.url
    pki = ctx.pki
    configure(
        responder_url=url,
        trusted=[pki.issuing_ca, pki.root] if case.trust_root else [pki.issuing_ca],
        authorized=pki.delegate if case.name in DELEGATE_SIGNED else None,
        OCSP_TIMEOUT_SECONDS=TIMEOUT_SECONDS,
        **{name: value for name, value in case.env.items() if name in STAPLING_SETTINGS},
    )

    result = staple(event_for(pki.issue_device(), pki.issuing_ca))

    reason, stapled = expected(case)
    assert result.seconds < BOUND_SECONDS, result
    assert (result.reason, result.stapled) == (reason, stapled), result
    assert result.log["cacheHit"] is False
    assert result.log["ResponderRequests"] == 1
    assert result.log["ResponderErrors"] == (0 if stapled or reason == "UNKNOWN" else 1)
    # exactly one request per invocation (no retries), and a redirect is never followed
    assert hostile.request_count == (0 if case.unreachable else 1)
    assert (target.request_count, target.connections) == (0, 0)
    assert not hostile.errors
    if stapled:
        assert result.status.name == reason


def test_a_forged_answer_does_not_poison_the_cache(
    pki: Pki,
    servers: tuple[LoopbackServer, LoopbackServer],
    configure: Configure,
    staple: Stapler,
) -> None:
    hostile = servers[0]
    hostile.clear()
    configure(responder_url=hostile.url, trusted=[pki.issuing_ca])
    event = event_for(pki.issue_device(), pki.issuing_ca)
    hostile.behaviour = signed_by(pki.rogue_ca, status="revoked")
    assert staple(event).reason == "BAD_SIGNATURE"
    hostile.behaviour = signed_by(pki.issuing_ca)
    honest = staple(event)
    assert (honest.reason, honest.log["cacheHit"]) == ("GOOD", False), honest
    assert hostile.request_count == 2
