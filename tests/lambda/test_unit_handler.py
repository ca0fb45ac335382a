"""``preauth_handler``: the answer, the one EMF log line, the deadline, and never a crash."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import preauth_handler
import pytest
from ocsp_core.metrics import METRIC_NAMES, NAMESPACE, REASON_NAMES

from .pki import Issued, Pki
from .responders import LoopbackServer, Reply, answer_with, build_answer, fixed

ALLOW = {"isAuthenticated": True}
DENY = {"isAuthenticated": False}

CONTRACT_REASONS = {
    "GOOD",
    "REVOKED",
    "UNKNOWN",
    "FAIL_OPEN",
    "STALE_IF_ERROR",
    "RESPONDER_UNAVAILABLE",
    "UNTRUSTED_ISSUER",
    "CONFIG_ERROR",
    "MALFORMED_EVENT",
    "INTERNAL_ERROR",
}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(path="/ocsp") as srv:
        yield srv


@pytest.fixture
def configure(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Any:
    def apply(server: LoopbackServer, **extra: str) -> None:
        monkeypatch.setenv("TRUSTED_CA_PEM", pki.issuing_ca.pem.decode())
        monkeypatch.setenv("OCSP_ALLOWED_URLS", server.url)
        for key, value in extra.items():
            monkeypatch.setenv(key, value)
        preauth_handler.reset()

    return apply


def event_for(device: Issued, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "connectionMetadata": {"id": "conn-42"},
        "principalId": "principal-42",
        "serverName": "iot.example.com",
        "clientCertificateChain": [device.pem.decode()],
    }
    event.update(fields)
    return event


class Context:
    def __init__(self, remaining_ms: Any) -> None:
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> Any:
        if isinstance(self._remaining, Exception):
            raise self._remaining
        return self._remaining


def invoke(
    capsys: pytest.CaptureFixture[str], event: Any, context: Any = None
) -> tuple[dict[str, bool], dict[str, Any]]:
    capsys.readouterr()
    answer = preauth_handler.handler(event, context)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert answer in (ALLOW, DENY)
    return answer, json.loads(lines[0])


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
    configure: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "preauth-fn")
    good_responder(pki, server)
    configure(server)
    device = pki.issue_device(ocsp_url=server.url)
    answer, record = invoke(capsys, event_for(device), Context(3000))
    assert answer == ALLOW
    check_emf(record)
    assert record["verdict"] == "ALLOW"
    assert record["reason"] == "GOOD"
    assert record["connectionId"] == "conn-42"
    assert record["principalId"] == "principal-42"
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

    answer, cached = invoke(capsys, event_for(device))
    assert answer == ALLOW
    check_emf(cached)
    assert cached["cacheHit"] is True
    assert (cached["CacheHits"], cached["ResponderRequests"]) == (1, 0)
    assert "ResponderLatency" not in cached
    names = [m["Name"] for m in cached["_aws"]["CloudWatchMetrics"][1]["Metrics"]]
    assert "ResponderLatency" not in names
    assert cached["FunctionName"] == "preauth-fn"
    assert server.request_count == 1


def test_function_name_defaults_to_local(
    pki: Pki, server: LoopbackServer, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(server)
    _answer, record = invoke(capsys, {"bad": True})
    assert record["FunctionName"] == "local"
    check_emf(record)


def test_certificates_are_never_logged(
    pki: Pki, server: LoopbackServer, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    good_responder(pki, server)
    configure(server)
    device = pki.issue_device(ocsp_url=server.url)
    capsys.readouterr()
    preauth_handler.handler(event_for(device), None)
    out = capsys.readouterr().out
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
    server: LoopbackServer, configure: Any, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    configure(server)
    event, (connection, principal) = MALFORMED[kind]
    answer, record = invoke(capsys, event)
    assert answer == DENY
    assert record["reason"] == "MALFORMED_EVENT"
    assert (record["connectionId"], record["principalId"]) == (connection, principal)
    assert record["serial"] is None
    check_emf(record)


def test_hostile_strings_stay_on_one_line(
    pki: Pki, server: LoopbackServer, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(server)
    device = pki.issue_device()
    event = event_for(device, principalId='p\n{"verdict":"ALLOW"}\r\u2028' + "x" * 900)
    answer, record = invoke(capsys, event)
    assert answer == DENY
    assert record["principalId"].startswith("p\n")
    assert len(record["principalId"]) == 256


def test_unexpected_exception_is_an_internal_error(
    pki: Pki, server: LoopbackServer, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    good_responder(pki, server)
    configure(server)
    device = pki.issue_device(ocsp_url=server.url)
    answer, record = invoke(capsys, event_for(device), Context(RuntimeError("boom")))
    assert answer == DENY
    assert record["reason"] == "INTERNAL_ERROR"
    assert "RuntimeError: boom" in record["detail"]
    assert record["principalId"] == "principal-42"
    check_emf(record)


def test_the_lambdas_remaining_time_shortens_the_deadline(
    pki: Pki, server: LoopbackServer, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server.behaviour = fixed(Reply(body=b"", delay=5))
    configure(server, OCSP_FAIL_MODE="open")
    device = pki.issue_device(ocsp_url=server.url)
    started = time.monotonic()
    answer, record = invoke(capsys, event_for(device), Context(800))
    elapsed = time.monotonic() - started
    assert answer == ALLOW
    assert record["reason"] == "FAIL_OPEN"
    assert elapsed < 1.5


def test_the_overall_deadline_holds_against_a_dripping_responder(
    pki: Pki, server: LoopbackServer, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server.behaviour = fixed(Reply(body=b"a" * 2000, drip_interval=0.1))
    configure(server, OCSP_DEADLINE_SECONDS="1", OCSP_TIMEOUT_SECONDS="1")
    device = pki.issue_device(ocsp_url=server.url)
    started = time.monotonic()
    answer, record = invoke(capsys, event_for(device), Context(10_000))
    elapsed = time.monotonic() - started
    assert answer == DENY
    assert record["reason"] == "RESPONDER_UNAVAILABLE"
    assert "TIMEOUT" in record["detail"]
    assert elapsed < 2.0


def test_reset_rereads_the_environment(
    pki: Pki,
    server: LoopbackServer,
    configure: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good_responder(pki, server)
    configure(server, OCSP_FAIL_MODE="sideways")
    device = pki.issue_device(ocsp_url=server.url)
    assert invoke(capsys, event_for(device))[1]["reason"] == "CONFIG_ERROR"
    monkeypatch.setenv("OCSP_FAIL_MODE", "closed")
    assert invoke(capsys, event_for(device))[1]["reason"] == "CONFIG_ERROR"  # read once
    preauth_handler.reset()
    assert invoke(capsys, event_for(device))[1]["reason"] == "GOOD"


def test_reason_and_metric_names_cover_the_contract() -> None:
    assert set(REASON_NAMES) >= CONTRACT_REASONS
    assert len(set(REASON_NAMES)) == len(REASON_NAMES)
    assert all(name.isupper() and " " not in name for name in REASON_NAMES)
    assert METRIC_NAMES == (
        "Decisions",
        "CacheHits",
        "ResponderRequests",
        "ResponderErrors",
        "ResponderLatency",
        "HandlerLatency",
    )
    assert NAMESPACE == "OcspIot/PreAuth"
