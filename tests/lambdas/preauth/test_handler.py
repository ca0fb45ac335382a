"""``preauth_handler``: the answer, the one EMF log line, the deadline, and never a crash."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from preauth.metrics import METRIC_NAMES, NAMESPACE, REASON_NAMES

from tests.lambdas.support.forge import answer_with, build_answer
from tests.lambdas.support.harness import ALLOW, DENY, Invoker, make_event
from tests.lambdas.support.loopback import LoopbackServer, Reply, fixed
from tests.lambdas.support.pki import Pki

#: The handler's documented contract: reasons, metric names and namespace.
CONTRACT_DOC = Path(__file__).resolve().parents[3] / "docs" / "preauth-lambda.md"
#: The only reasons that allow a connection.
ALLOW_REASONS = {"GOOD", "FAIL_OPEN", "STALE_IF_ERROR"}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(path="/ocsp") as srv:
        yield srv


@pytest.fixture
def setup(pki: Pki, server: LoopbackServer, configure: Callable[..., None]) -> Callable[..., None]:
    """``setup(**OCSP_X=value)``: trust ``issuing_ca`` and allow ``server``."""

    def apply(**extra: str) -> None:
        configure(trusted=[pki.issuing_ca], allowed=[server.url], **extra)

    return apply


class Context:
    def __init__(self, remaining_ms: Any) -> None:
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> Any:
        if isinstance(self._remaining, Exception):
            raise self._remaining
        return self._remaining


def good_responder(pki: Pki, server: LoopbackServer) -> None:
    server.behaviour = answer_with(lambda req: build_answer(req, signer=pki.issuing_ca))


def check_emf(record: dict[str, Any]) -> None:
    """The line is a valid EMF document for the contract's two directives."""
    directives = record["_aws"]["CloudWatchMetrics"]
    assert isinstance(record["_aws"]["Timestamp"], int)
    assert [d["Namespace"] for d in directives] == [NAMESPACE, NAMESPACE]
    assert directives[0]["Dimensions"] == [["FunctionName", "Verdict"], ["FunctionName", "Reason"]]
    assert directives[0]["Metrics"] == [{"Name": "Decisions", "Unit": "Count"}]
    assert directives[1]["Dimensions"] == [["FunctionName"]]
    for directive in directives:
        for dimension_set in directive["Dimensions"]:
            for dimension in dimension_set:
                assert isinstance(record[dimension], str), dimension
        for metric in directive["Metrics"]:
            assert metric["Name"] in METRIC_NAMES
            assert isinstance(record[metric["Name"]], int | float), metric
    assert record["Verdict"] == record["verdict"]
    assert record["Reason"] == record["reason"]
    assert record["reason"] in REASON_NAMES
    assert record["Decisions"] == 1


def test_good_device_is_allowed_and_logged(
    pki: Pki,
    server: LoopbackServer,
    setup: Callable[..., None],
    invoke: Invoker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good_responder(pki, server)
    setup()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "preauth-fn")
    device = pki.issue_device(ocsp_url=server.url)
    outcome = invoke(make_event(device, connection_id="conn-42"), Context(3000))
    record = outcome.log
    assert outcome.answer == ALLOW
    check_emf(record)
    assert record["verdict"] == "ALLOW"
    assert record["reason"] == "GOOD"
    assert record["connectionId"] == "conn-42"
    assert record["principalId"] == "principal-1"
    assert record["serial"] == format(device.serial, "x")
    assert record["issuer"] == device.cert.issuer.rfc4514_string()
    assert record["cacheHit"] is False
    assert record["FunctionName"] == "preauth-fn"
    assert (record["CacheHits"], record["ResponderRequests"], record["ResponderErrors"]) == (
        0,
        1,
        0,
    )
    assert record["ResponderLatency"] > 0
    assert record["HandlerLatency"] == record["latencyMs"] >= record["ResponderLatency"]
    names = [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][1]["Metrics"]]
    assert names == [n for n in METRIC_NAMES if n != "Decisions"]

    cached_outcome = invoke(make_event(device))
    cached = cached_outcome.log
    assert cached_outcome.answer == ALLOW
    check_emf(cached)
    assert cached["cacheHit"] is True
    assert (cached["CacheHits"], cached["ResponderRequests"]) == (1, 0)
    assert "ResponderLatency" not in cached
    names = [m["Name"] for m in cached["_aws"]["CloudWatchMetrics"][1]["Metrics"]]
    assert "ResponderLatency" not in names
    assert cached["FunctionName"] == "preauth-fn"
    assert server.request_count == 1


def test_function_name_defaults_to_local(setup: Callable[..., None], invoke: Invoker) -> None:
    setup()
    record = invoke({"bad": True}).log
    assert record["FunctionName"] == "local"
    check_emf(record)


def test_certificates_are_never_logged(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], invoke: Invoker
) -> None:
    good_responder(pki, server)
    setup()
    device = pki.issue_device(ocsp_url=server.url)
    answer, stdout, stderr = invoke.raw(make_event(device))
    assert answer == ALLOW
    out = stdout + stderr
    body = base64.b64encode(device.der).decode()
    assert body[40:100] not in out
    assert pki.issuing_ca.pem.decode().splitlines()[2] not in out


MALFORMED = {
    "none": (None, (None, None)),
    "no-chain": ({"connectionMetadata": {"id": "c"}, "principalId": "p"}, ("c", "p")),
    "wrong-types": (
        {"connectionMetadata": "c", "principalId": 7, "clientCertificateChain": ["x"]},
        (None, None),
    ),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_event_is_denied_with_what_is_known(
    setup: Callable[..., None], invoke: Invoker, kind: str
) -> None:
    setup()
    event, (connection, principal) = MALFORMED[kind]
    outcome = invoke(event)
    record = outcome.log
    assert outcome.answer == DENY
    assert record["reason"] == "MALFORMED_EVENT"
    assert (record["connectionId"], record["principalId"]) == (connection, principal)
    assert record["serial"] is None
    check_emf(record)


def test_hostile_strings_stay_on_one_line(
    pki: Pki, setup: Callable[..., None], invoke: Invoker
) -> None:
    setup()
    device = pki.issue_device()
    event = make_event(device, principal_id='p\n{"verdict":"ALLOW"}\r\u2028' + "x" * 900)
    outcome = invoke(event)  # checks that stdout is exactly one line
    record = outcome.log
    assert outcome.answer == DENY
    assert record["principalId"].startswith("p\n")
    assert len(record["principalId"]) == 256


def test_unexpected_exception_is_an_internal_error(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], invoke: Invoker
) -> None:
    good_responder(pki, server)
    setup()
    device = pki.issue_device(ocsp_url=server.url)
    outcome = invoke(make_event(device), Context(RuntimeError("boom")))
    record = outcome.log
    assert outcome.answer == DENY
    assert record["reason"] == "INTERNAL_ERROR"
    assert "RuntimeError: boom" in record["detail"]
    assert record["principalId"] == "principal-1"
    check_emf(record)


def test_the_lambdas_remaining_time_shortens_the_deadline(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], invoke: Invoker
) -> None:
    server.behaviour = fixed(Reply(body=b"", delay=5))
    setup(OCSP_FAIL_MODE="open")
    device = pki.issue_device(ocsp_url=server.url)
    outcome = invoke(make_event(device), Context(800))
    assert (outcome.answer, outcome.reason) == (ALLOW, "FAIL_OPEN"), outcome
    assert outcome.seconds < 1.5


def test_the_overall_deadline_holds_against_a_dripping_responder(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], invoke: Invoker
) -> None:
    server.behaviour = fixed(Reply(body=b"a" * 2000, drip_interval=0.1))
    setup(OCSP_DEADLINE_SECONDS="1", OCSP_TIMEOUT_SECONDS="1")
    device = pki.issue_device(ocsp_url=server.url)
    outcome = invoke(make_event(device), Context(10_000))
    assert (outcome.answer, outcome.reason) == (DENY, "RESPONDER_UNAVAILABLE"), outcome
    assert "TIMEOUT" in outcome.log["detail"]
    assert outcome.seconds < 2.0


def _documented(pattern: str) -> list[tuple[str, str]]:
    """``(names cell, second cell)`` of every table row of the handler's contract document
    whose second cell matches ``pattern``."""
    rows: list[tuple[str, str]] = re.findall(
        rf"^\| ([^|]+) \| ({pattern}) \|", CONTRACT_DOC.read_text(), re.MULTILINE
    )
    return rows


def test_reason_and_metric_names_are_the_documented_contract() -> None:
    """The contract is ``docs/preauth-lambda.md`` (the construct builds metrics on it)."""
    reasons = {
        name: verdict
        for names, verdict in _documented("ALLOW|DENY")
        for name in re.findall(r"`([A-Z_]+)`", names)
    }
    assert sorted(REASON_NAMES) == sorted(reasons)
    assert len(set(REASON_NAMES)) == len(REASON_NAMES)
    assert {name for name, verdict in reasons.items() if verdict == "ALLOW"} == ALLOW_REASONS
    metrics = tuple(names.strip("`") for names, _unit in _documented("Count|Milliseconds"))
    assert metrics == METRIC_NAMES
    assert f"Namespace: `{NAMESPACE}`" in CONTRACT_DOC.read_text()
