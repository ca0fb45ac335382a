"""The repeat connection's fast path (``preauth.fastpath``): the same decision and the same log
line as the full path, for every event, and never an allow the full path would not give."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import preauth_handler
import pytest
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocsp_core.cache import CacheEntry, ResponseCache, cache_key
from preauth import fastpath, metrics
from preauth.event import parse_event
from preauth.fastpath import KnownChains
from preauth.metrics import MAX_TEXT_CHARS, HitLine, build_record, format_line
from preauth.models import Decision, Reason, Verdict

from tests.lambdas.support.forge import answer_with, build_answer
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, Outcome, make_event
from tests.lambdas.support.loopback import LoopbackServer
from tests.lambdas.support.pki import Pki

#: Fields of a log line that differ between any two calls.
PER_CALL = {"latencyMs", "HandlerLatency", "_aws"}


@pytest.fixture
def server(pki: Pki) -> Iterator[LoopbackServer]:
    with LoopbackServer(path="/ocsp") as srv:
        srv.behaviour = answer_with(lambda req: build_answer(req, signer=pki.issuing_ca))
        yield srv


@pytest.fixture
def ready(pki: Pki, server: LoopbackServer, configure: Callable[..., None]) -> LoopbackServer:
    configure(trusted=[pki.issuing_ca], allowed=[server.url])
    return server


def _full_path(invoke: Invoker, event: Any) -> Outcome:
    """The full path's decision: the same runtime (settings, answer cache), no chains known."""
    known = preauth_handler._RUNTIME.known
    preauth_handler._RUNTIME.known = KnownChains(max_entries=0)
    try:
        return invoke(event)
    finally:
        preauth_handler._RUNTIME.known = known


def _comparable(log: dict[str, Any]) -> dict[str, Any]:
    directives = log["_aws"]["CloudWatchMetrics"]
    return {**{k: v for k, v in log.items() if k not in PER_CALL}, "directives": directives}


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the full path unusable: a decision taken anyway came from the fast path."""

    def refuse(event: object) -> Any:
        msg = "the full path ran"
        raise AssertionError(msg)

    monkeypatch.setattr(preauth_handler, "parse_event", refuse)


def test_a_repeat_connection_skips_the_parse_and_logs_what_the_full_path_logs(
    pki: Pki, ready: LoopbackServer, invoke: Invoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = pki.issue_device(ocsp_url=ready.url)
    event = make_event(device, connection_id="c-1", principal_id='p\u00e9-"1"\n')
    first = invoke(event)
    assert first.allowed and first.log["cacheHit"] is False
    full = _full_path(invoke, copy.deepcopy(event))
    assert full.allowed and full.log["cacheHit"] is True
    _forbid_parsing(monkeypatch)
    # a fresh copy: IoT Core's events are new objects every time (no cached string hashes)
    fast = invoke(json.loads(json.dumps(event)))
    assert fast.answer == ALLOW
    assert _comparable(fast.log) == _comparable(full.log)
    assert fast.log["latencyMs"] == fast.log["HandlerLatency"]
    assert isinstance(fast.log["_aws"]["Timestamp"], int)
    assert len(ready.requests) == 1


def test_a_revoked_device_is_refused_on_the_fast_path_too(
    pki: Pki, ready: LoopbackServer, invoke: Invoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready.behaviour = answer_with(
        lambda req: build_answer(req, signer=pki.issuing_ca, status="revoked")
    )
    device = pki.issue_device(ocsp_url=ready.url)
    event = make_event(device)
    assert invoke(event).reason == "REVOKED"
    full = _full_path(invoke, event)
    _forbid_parsing(monkeypatch)
    fast = invoke(copy.deepcopy(event))
    assert fast.answer == DENY and fast.reason == "REVOKED" and fast.log["cacheHit"] is True
    assert _comparable(fast.log) == _comparable(full.log)


def _mutations(event: dict[str, Any]) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Changes to a known event; each must be decided exactly as the full path decides it."""
    leaf = event["clientCertificateChain"][0]

    def setter(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
        def apply(e: dict[str, Any]) -> Any:
            target = e
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            return e

        return apply

    def without(path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
        def apply(e: dict[str, Any]) -> Any:
            target = e
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
            return e

        return apply

    long = "x" * 1025
    return {
        "connection id not a string": setter(("connectionMetadata", "id"), 7),
        "connection id too long": setter(("connectionMetadata", "id"), long),
        "connection id missing": without(("connectionMetadata", "id")),
        "metadata not an object": setter(("connectionMetadata",), ["id"]),
        "principal id too long": setter(("principalId",), long),
        "principal id null": setter(("principalId",), None),
        "server name missing": without(("serverName",)),
        "server name not a string": setter(("serverName",), {"name": "x"}),
        "chain as a string": setter(("clientCertificateChain",), leaf),
        "chain empty": setter(("clientCertificateChain",), []),
        "chain with a broken second entry": setter(
            ("clientCertificateChain",), [leaf, "-----BEGIN CERTIFICATE-----\nAAAA"]
        ),
        "chain entry unhashable": setter(("clientCertificateChain",), [[leaf]]),
        "chain entry respelled": setter(("clientCertificateChain",), [leaf.replace("\n", "\r\n")]),
        "chain entry with a changed byte": setter(
            ("clientCertificateChain",), [leaf[:80] + ("A" if leaf[80] != "A" else "B") + leaf[81:]]
        ),
        "chain too long": setter(("clientCertificateChain",), [leaf] * 6),
        "event as a list": lambda e: [e],
        "event null": lambda e: None,
    }


def test_every_change_to_a_known_event_gets_the_full_paths_decision(
    pki: Pki, ready: LoopbackServer, invoke: Invoker
) -> None:
    device = pki.issue_device(ocsp_url=ready.url)
    event = make_event(device)
    assert invoke(event).allowed
    for name, mutate in _mutations(event).items():
        fast = invoke(mutate(copy.deepcopy(event)))
        full = _full_path(invoke, mutate(copy.deepcopy(event)))
        assert fast.answer == full.answer, name
        assert _comparable(fast.log) == _comparable(full.log), name
        if name not in {"chain entry respelled"}:
            assert fast.answer == DENY, name  # each of these breaks the event or the certificate
    # and the original still takes the fast path, after all of that
    assert invoke(copy.deepcopy(event)).log["cacheHit"] is True


def test_a_known_chain_outside_its_validity_or_without_a_fresh_answer_goes_the_full_path(
    pki: Pki,
) -> None:
    device = pki.issue_device()
    event = make_event(device)
    attempt = parse_event(event)
    known = KnownChains(max_entries=10)
    known.remember(attempt, "CN=Test Issuing CA")
    cache = ResponseCache(max_entries=10)
    not_before, not_after = device.cert.not_valid_before_utc, device.cert.not_valid_after_utc
    inside = not_before + (not_after - not_before) / 2
    entry = CacheEntry(
        ocsp.OCSPCertStatus.GOOD,
        fresh_until=not_after,
        stale_until=not_after,
        detail="signed by the CA",
    )

    def decided(now: dt.datetime) -> Any:
        return known.decide(event, now=now, cache=cache, function_name="f")

    assert decided(inside) is None  # no cached answer yet
    cache.put(cache_key(attempt.leaf_der), entry, inside)
    found = decided(inside)
    assert found is not None and found[0].allowed and found[0].cache_hit
    margin = dt.timedelta(seconds=fastpath.VALIDITY_MARGIN_SECONDS)
    for edge in (not_before, not_before + margin / 2, not_after - margin / 2, not_after):
        assert decided(edge) is None, edge
    assert decided(not_after + dt.timedelta(days=1)) is None


def test_the_chains_known_are_bounded(pki: Pki) -> None:
    known = KnownChains(max_entries=3)
    devices = [pki.issue_device() for _ in range(5)]
    for device in devices:
        known.remember(parse_event(make_event(device)), None)
    assert len(known) == 3
    nothing = KnownChains(max_entries=0)
    nothing.remember(parse_event(make_event(devices[0])), None)
    assert len(nothing) == 0


def test_reset_forgets_the_known_chains(
    pki: Pki, ready: LoopbackServer, invoke: Invoker, configure: Callable[..., None]
) -> None:
    device = pki.issue_device(ocsp_url=ready.url)
    event = make_event(device)
    assert invoke(event).allowed
    # new settings: another CA is trusted, the device's is not; the repeat must not allow
    configure(trusted=[pki.other_ca], allowed=[ready.url])
    again = invoke(copy.deepcopy(event))
    assert again.answer == DENY and again.reason == "UNTRUSTED_ISSUER"


# -- the log line ------------------------------------------------------------------------------

_chars = st.characters(codec="utf-8")
#: short texts, and texts around the length where the log cuts them
_texts = st.text(alphabet=_chars, max_size=20) | st.text(
    alphabet=_chars, min_size=MAX_TEXT_CHARS - 2, max_size=MAX_TEXT_CHARS + 40
)
_decisions = st.builds(
    Decision,
    st.sampled_from(Verdict),
    st.sampled_from(Reason),
    st.text(max_size=300),
    cache_hit=st.booleans(),
    responder_requests=st.sampled_from([0, 1]),
    responder_error=st.booleans(),
    responder_latency_ms=st.none() | st.floats(0, 10_000, allow_nan=False),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    decision=_decisions,
    connection_id=_texts,
    principal_id=_texts,
    serial=st.none() | st.integers(0, 2**159),
    issuer=st.none() | _texts,
    function_name=_texts,
    latency=st.floats(0, 1e6, allow_nan=False).map(lambda v: round(v, 2)),
    timestamp=st.integers(0, 2**45),
)
def test_a_hit_line_is_the_record_json_dumps_writes(  # noqa: PLR0917 - one per record field
    decision: Decision,
    connection_id: str,
    principal_id: str,
    serial: int | None,
    issuer: str | None,
    function_name: str,
    latency: float,
    timestamp: int,
) -> None:
    line = HitLine(decision=decision, serial=serial, issuer=issuer, function_name=function_name)
    expected = format_line(
        build_record(
            decision=decision,
            connection_id=connection_id,
            principal_id=principal_id,
            serial=serial,
            issuer=issuer,
            latency_ms=latency,
            function_name=function_name,
            timestamp_ms=timestamp,
        )
    )
    rendered = line.render(
        connection_id=connection_id,
        principal_id=principal_id,
        latency_ms=latency,
        timestamp_ms=timestamp,
    )
    assert rendered == expected


def test_a_hit_line_falls_back_to_the_record_when_its_shape_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should build_record ever stop writing a field where HitLine cuts, the line is built from
    the record for every connection instead: never a line with a misplaced field."""
    original = metrics.build_record

    def renamed(**fields: Any) -> dict[str, object]:
        record = original(**fields)
        record["latency"] = record.pop("latencyMs")
        return record

    monkeypatch.setattr(metrics, "build_record", renamed)
    decision = Decision(Verdict.ALLOW, Reason.GOOD, "cached answer", cache_hit=True)
    line = HitLine(decision=decision, serial=1, issuer="CN=x", function_name="f")
    record = json.loads(
        line.render(connection_id="c", principal_id="p", latency_ms=1.5, timestamp_ms=3)
    )
    assert record["latency"] == 1.5 and record["connectionId"] == "c"
    assert record["_aws"]["Timestamp"] == 3 and "latencyMs" not in record
