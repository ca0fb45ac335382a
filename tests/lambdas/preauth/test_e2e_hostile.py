"""The pre-auth handler against a hostile OCSP responder on loopback (real HTTP, real crypto).

Each ``Case`` scripts what the responder answers. ``kind`` says what the contract requires:

- ``check``: an answer arrived and fails a check -> DENY with ``reason`` in both fail modes;
- ``unavailable``: unreachable / tryLater / 5xx / timeout -> DENY RESPONDER_UNAVAILABLE when
  fail-closed, ALLOW FAIL_OPEN when fail-open;
- ``allow``: an honest answer -> ALLOW GOOD in both modes.

Every decision must arrive within the deadline (generous bound: deadline + 1.5 s).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator

import pytest
from cryptography import x509

from tests.lambdas.support.cas import Extension, policies, unknown
from tests.lambdas.support.forge import (
    answer_with,
    build_answer,
)
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.hostile_cases import (
    CASES,
    TIMEOUT_SECONDS,
    Case,
    Ctx,
    make_ctx,
    signed_by,
)
from tests.lambdas.support.loopback import (
    LoopbackServer,
    RawListener,
    Reply,
    closed_port_url,
    fixed,
)
from tests.lambdas.support.pki import Issued, Pki, usage

Configure = Callable[..., None]

DEADLINE_SECONDS = 2
#: Generous upper bound on any decision's wall time.
BOUND_SECONDS = DEADLINE_SECONDS + 1.5
FAST = {"OCSP_TIMEOUT_SECONDS": TIMEOUT_SECONDS, "OCSP_DEADLINE_SECONDS": DEADLINE_SECONDS}


def _count_by_kind() -> dict[str, int]:
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case.kind] = counts.get(case.kind, 0) + 1
    return counts


def test_case_table_is_sane() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert all(c.kind in {"check", "unavailable", "allow"} for c in CASES)
    assert all(c.reason for c in CASES if c.kind == "check")
    counts = _count_by_kind()
    assert counts["check"] >= 30
    assert counts["unavailable"] >= 5


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with LoopbackServer() as hostile, LoopbackServer(fixed(Reply(body=b""))) as target:
        yield hostile, target


@pytest.fixture
def hostile(servers: tuple[LoopbackServer, LoopbackServer]) -> LoopbackServer:
    """The hostile responder, with no traffic recorded yet."""
    server = servers[0]
    server.clear()
    return server


@pytest.fixture(scope="module")
def ctx(pki: Pki, servers: tuple[LoopbackServer, LoopbackServer]) -> Ctx:
    return make_ctx(pki, servers[1])


@pytest.mark.parametrize("mode", ["closed", "open"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_responder(
    *,
    case: Case,
    mode: str,
    ctx: Ctx,
    servers: tuple[LoopbackServer, LoopbackServer],
    configure: Configure,
    invoke: Invoker,
) -> None:
    hostile, target = servers
    hostile.clear()
    target.clear()
    hostile.behaviour = case.behaviour(ctx)
    url = closed_port_url() if case.unreachable else hostile.url
    device = ctx.pki.issue_device(ocsp_url=url)
    configure(trusted=[ctx.pki.issuing_ca], allowed=[url], OCSP_FAIL_MODE=mode, **FAST, **case.env)

    outcome = invoke(make_event(device))

    assert outcome.seconds < BOUND_SECONDS, outcome
    if case.kind == "allow":
        assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome
    elif case.kind == "check":
        assert (outcome.answer, outcome.reason) == (DENY, case.reason), outcome
    elif mode == "closed":
        assert (outcome.answer, outcome.reason) == (DENY, "RESPONDER_UNAVAILABLE"), outcome
    else:
        assert (outcome.answer, outcome.reason) == (ALLOW, "FAIL_OPEN"), outcome
    # Exactly one request per decision (no retries), and a redirect is never followed.
    assert hostile.request_count == (0 if case.unreachable else 1)
    assert target.request_count == 0
    assert target.connections == 0
    assert outcome.log["ResponderRequests"] == 1
    answered = case.kind == "allow" or case.reason in {"REVOKED", "UNKNOWN"}
    assert outcome.log["ResponderErrors"] == (0 if answered else 1)
    assert not hostile.errors
    assert outcome.log["cacheHit"] is False
    if not case.unreachable:
        sent = hostile.requests[0]
        assert sent.method == "POST"
        assert sent.headers.get("content-type") == "application/ocsp-request"


def test_unavailable_answers_are_not_cached_as_fail_open(
    pki: Pki, hostile: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    # Fail-open once, then the responder comes back and says revoked: the device is denied.
    hostile.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE="open", **FAST)
    assert invoke(make_event(device)).reason == "FAIL_OPEN"
    hostile.behaviour = signed_by(pki.issuing_ca, status="revoked")
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "REVOKED"), outcome
    assert hostile.request_count == 2


def test_forged_answer_does_not_poison_the_cache(
    pki: Pki, hostile: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    hostile.behaviour = signed_by(pki.rogue_ca)
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], **FAST)
    assert invoke(make_event(device)).answer == DENY
    hostile.behaviour = signed_by(pki.issuing_ca)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason, outcome.log["cacheHit"]) == (ALLOW, "GOOD", False)
    assert hostile.request_count == 2


# -- untrusted devices never cause a request ------------------------------------------------


@pytest.mark.parametrize(
    ("issuer_name", "chain_extra", "trusted_name"),
    [
        ("rogue_ca", (), "issuing_ca"),
        ("rogue_ca", ("rogue_ca",), "issuing_ca"),
        ("other_ca", (), "issuing_ca"),
        ("other_ca", ("other_ca",), "issuing_ca"),
        ("delegate", ("issuing_ca",), "issuing_ca"),
        # Only the root is trusted; the device sends the (genuine) issuing CA as intermediate.
        ("issuing_ca", ("issuing_ca",), "root"),
    ],
)
@pytest.mark.parametrize("mode", ["closed", "open"])
def test_untrusted_device_denied_without_request(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    issuer_name: str,
    chain_extra: tuple[str, ...],
    trusted_name: str,
    mode: str,
) -> None:
    # The responder would happily vouch for it, signed by the device's own issuer.
    issuer: Issued = getattr(pki, issuer_name)
    hostile.behaviour = signed_by(issuer)
    device = pki.issue_device(issuer=issuer, ocsp_url=hostile.url)
    trusted = getattr(pki, trusted_name)
    configure(trusted=[trusted], allowed=[hostile.url], OCSP_FAIL_MODE=mode, **FAST)
    outcome = invoke(make_event(device, *(getattr(pki, n) for n in chain_extra)))
    assert (outcome.answer, outcome.reason) == (DENY, "UNTRUSTED_ISSUER"), outcome
    assert hostile.request_count == 0
    assert outcome.log["ResponderRequests"] == 0


@pytest.mark.parametrize(
    ("offsets", "reason"),
    [(((-30, -1)), "CERT_EXPIRED"), (((1, 30)), "CERT_NOT_YET_VALID")],
)
def test_device_outside_validity_denied_without_request(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    offsets: tuple[int, int],
    reason: str,
) -> None:
    hostile.behaviour = signed_by(pki.issuing_ca)
    now = dt.datetime.now(dt.UTC)
    device = pki.issue_device(
        ocsp_url=hostile.url,
        not_before=now + dt.timedelta(days=offsets[0]),
        not_after=now + dt.timedelta(days=offsets[1]),
    )
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE="open", **FAST)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, reason), outcome
    assert hostile.request_count == 0


# -- SSRF: a URL from the certificate is contacted only if allow-listed -----------------------


@pytest.mark.parametrize("mode", ["closed", "open"])
@pytest.mark.parametrize(
    "aia",
    [
        "{raw}",
        "{raw}/../ocsp",
        "http://127.0.0.1:{allowed_port}@127.0.0.1:{raw_port}/ocsp",
        "http://localhost:{raw_port}/ocsp",
        "http://127.0.0.1:{raw_port}/ocsp#http://127.0.0.1:{allowed_port}/ocsp",
        "http://127.0.0.1:{raw_port}\\@127.0.0.1:{allowed_port}/ocsp",
    ],
)
def test_aia_not_on_allow_list_is_never_contacted(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    aia: str,
    mode: str,
) -> None:
    hostile.behaviour = signed_by(pki.issuing_ca)
    with RawListener() as listener:
        url = aia.format(raw=listener.url, raw_port=listener.port, allowed_port=hostile.port)
        device = pki.issue_device(ocsp_url=url)
        configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE=mode, **FAST)
        outcome = invoke(make_event(device))
        assert (outcome.answer, outcome.reason) == (DENY, "URL_NOT_ALLOWED"), outcome
        assert listener.connections_seen(wait=0.3) == 0
    assert hostile.request_count == 0
    assert outcome.log["ResponderRequests"] == 0


def test_decision_line_is_an_emf_document(
    pki: Pki, hostile: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    hostile.behaviour = signed_by(pki.delegate)
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], **FAST)
    started = time.time()
    outcome = invoke(make_event(device, connection_id="c-42", principal_id="p-42"))
    log = outcome.log
    assert (log["connectionId"], log["principalId"]) == ("c-42", "p-42")
    assert int(log["serial"], 16) == device.serial
    assert log["FunctionName"] == "local"
    assert (log["verdict"], log["reason"], log["cacheHit"]) == ("ALLOW", "GOOD", False)
    assert (log["Decisions"], log["CacheHits"], log["ResponderRequests"]) == (1, 0, 1)
    assert log["ResponderErrors"] == 0
    assert log["ResponderLatency"] > 0
    assert log["HandlerLatency"] >= log["ResponderLatency"]
    assert "BEGIN CERTIFICATE" not in str(log)
    emf = log["_aws"]
    assert abs(emf["Timestamp"] / 1000 - started) < 5
    directives = emf["CloudWatchMetrics"]
    assert directives[0]["Namespace"] == "OcspIot/PreAuth"
    assert directives[0]["Dimensions"] == [["FunctionName", "Verdict"], ["FunctionName", "Reason"]]
    assert directives[0]["Metrics"] == [{"Name": "Decisions", "Unit": "Count"}]
    names = [m["Name"] for m in directives[1]["Metrics"]]
    assert names == [
        "CacheHits",
        "ResponderRequests",
        "ResponderErrors",
        "ResponderLatency",
        "HandlerLatency",
    ]
    # EMF reads each dimension's value and each metric's value from top-level keys.
    for directive in directives:
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(log[name], str) for name in dimension_set), dimension_set
        for metric in directive["Metrics"]:
            assert isinstance(log[metric["Name"]], int | float), metric
    assert (log["Verdict"], log["Reason"]) == ("ALLOW", "GOOD")
    # A cache hit omits ResponderLatency from the directive and the document.
    again = invoke(make_event(device)).log
    assert (again["cacheHit"], again["CacheHits"], again["ResponderRequests"]) == (True, 1, 0)
    assert "ResponderLatency" not in again
    again_names = [m["Name"] for m in again["_aws"]["CloudWatchMetrics"][1]["Metrics"]]
    assert "ResponderLatency" not in again_names


# -- the overall deadline ----------------------------------------------------------------------


class _LambdaContext:
    """The one LambdaContext method the handler may consult (a plain stand-in object)."""

    def __init__(self, remaining_ms: int) -> None:
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


@pytest.mark.parametrize(
    ("settings", "context_ms", "bound"),
    [
        pytest.param(
            {"OCSP_TIMEOUT_SECONDS": 1, "OCSP_DEADLINE_SECONDS": 1}, None, 1.6, id="deadline"
        ),
        pytest.param(
            {"OCSP_TIMEOUT_SECONDS": 3, "OCSP_DEADLINE_SECONDS": 4},
            1000,
            1.2,
            id="lambda-remaining-time",
        ),
    ],
)
@pytest.mark.parametrize("behaviour", ["delay", "drip"])
def test_deadline_bounds_a_stalling_responder(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    settings: dict[str, int],
    context_ms: int | None,
    bound: float,
    behaviour: str,
) -> None:
    stall = {"delay": 10.0} if behaviour == "delay" else {"drip_interval": 0.2}
    hostile.behaviour = answer_with(lambda r: build_answer(r, signer=pki.issuing_ca), **stall)
    device = pki.issue_device(ocsp_url=hostile.url)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], **settings)
    context = None if context_ms is None else _LambdaContext(context_ms)
    outcome = invoke(make_event(device), context)
    assert (outcome.answer, outcome.reason) == (DENY, "RESPONDER_UNAVAILABLE"), outcome
    assert outcome.seconds < bound, outcome.seconds
    assert hostile.request_count == 1


def test_https_responder_with_an_untrusted_certificate_denies_even_in_fail_open(
    pki: Pki, tls_server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    device = pki.issue_device(ocsp_url=tls_server.url)
    configure(trusted=[pki.issuing_ca], allowed=[tls_server.url], OCSP_FAIL_MODE="open", **FAST)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "TLS_ERROR"), outcome
    assert outcome.log["ResponderErrors"] == 1
    assert tls_server.request_count == 0  # the handshake failed: no HTTP request was served


@pytest.mark.parametrize(
    ("extensions", "key_usage", "reason"),
    [
        pytest.param(
            [unknown(critical=True)], None, "UNSUPPORTED_CRITICAL_EXTENSION", id="unknown"
        ),
        pytest.param(
            [policies(critical=True)], None, "UNSUPPORTED_CRITICAL_EXTENSION", id="policies"
        ),
        pytest.param([], usage(digital_signature=False), "NOT_A_DEVICE_CERT", id="no-signing"),
    ],
)
@pytest.mark.parametrize("mode", ["closed", "open"])
def test_device_the_checker_cannot_use_is_denied_without_request(
    *,
    pki: Pki,
    hostile: LoopbackServer,
    configure: Configure,
    invoke: Invoker,
    extensions: list[Extension],
    key_usage: x509.KeyUsage | None,
    reason: str,
    mode: str,
) -> None:
    """RFC 5280 4.2: a critical extension the checker does not understand makes the device
    certificate unusable, even though its CA issued it and the responder says good."""
    hostile.behaviour = signed_by(pki.issuing_ca)
    device = pki.issue_device(ocsp_url=hostile.url, extensions=extensions, key_usage=key_usage)
    configure(trusted=[pki.issuing_ca], allowed=[hostile.url], OCSP_FAIL_MODE=mode, **FAST)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, reason), outcome
    assert hostile.request_count == 0
