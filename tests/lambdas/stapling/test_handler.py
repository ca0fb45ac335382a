"""``stapling_handler``: the answer (a string: base64 DER or ""), the one EMF log line, the
settings read once, the deadline, and never an exception."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stapling.metrics import METRIC_NAMES, NAMESPACE, OUTCOME_NAMES, REASON_NAMES

from tests.lambdas.support.forge import answer_with, build_answer
from tests.lambdas.support.loopback import LoopbackServer, Reply, fixed
from tests.lambdas.support.pki import Pki
from tests.lambdas.support.stapling import Stapler, event_for, ocsp_request, with_two_cert_ids

#: The handler's documented contract: reasons, metric names and namespace.
CONTRACT_DOC = Path(__file__).resolve().parents[3] / "docs" / "stapling-domain-config.md"
#: The only reasons that return a staple.
STAPLE_REASONS = {"GOOD", "REVOKED", "STALE_IF_ERROR"}

Configure = Callable[..., None]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def setup(pki: Pki, server: LoopbackServer, configure: Configure) -> Callable[..., None]:
    """``setup(**OCSP_X=value)``: trust ``issuing_ca``, forward to ``server``."""

    def apply(**extra: Any) -> None:
        configure(responder_url=server.url, trusted=[pki.issuing_ca], **extra)

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
    assert directives[0]["Dimensions"] == [["FunctionName", "Outcome"], ["FunctionName", "Reason"]]
    assert directives[0]["Metrics"] == [{"Name": "Answers", "Unit": "Count"}]
    assert directives[1]["Dimensions"] == [["FunctionName"]]
    for directive in directives:
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(record[name], str) for name in dimension_set)
        for metric in directive["Metrics"]:
            assert metric["Name"] in METRIC_NAMES
            assert isinstance(record[metric["Name"]], int | float), metric
    assert record["Outcome"] in OUTCOME_NAMES
    assert record["Reason"] in REASON_NAMES


def test_a_good_answer_is_returned_and_logged(
    pki: Pki,
    server: LoopbackServer,
    setup: Callable[..., None],
    staple: Stapler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good_responder(pki, server)
    setup()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stapler-fn")
    server_cert = pki.issue_device()
    result = staple(event_for(server_cert, pki.issuing_ca, nonce=b"\x05" * 8))
    record = result.log
    assert base64.b64decode(result.answer) == result.der
    assert (record["outcome"], record["reason"], record["Reason"]) == ("STAPLE", "GOOD", "GOOD")
    assert int(record["serial"], 16) == server_cert.serial
    assert record["hashAlgorithm"] == "sha1"
    assert record["requestNonce"] is True
    assert record["FunctionName"] == "stapler-fn"
    assert (record["Answers"], record["CacheHits"], record["ResponderRequests"]) == (1, 0, 1)
    assert record["ResponderErrors"] == 0
    assert record["ResponderLatency"] > 0
    assert record["HandlerLatency"] >= record["ResponderLatency"]
    assert record["stapleBytes"] == len(result.der)
    assert "BEGIN CERTIFICATE" not in json.dumps(record)
    check_emf(record)
    names = [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][1]["Metrics"]]
    assert "ResponderLatency" in names
    # a cache hit omits ResponderLatency from the directive and the document
    again = staple(event_for(server_cert, pki.issuing_ca)).log
    assert (again["cacheHit"], again["CacheHits"], again["ResponderRequests"]) == (True, 1, 0)
    assert "ResponderLatency" not in again
    assert "ResponderLatency" not in [
        m["Name"] for m in again["_aws"]["CloudWatchMetrics"][1]["Metrics"]
    ]
    check_emf(again)


MALFORMED: dict[str, object] = {
    "none": None,
    "object": {"ocspRequest": "MAo="},
    "list": ["MAo="],
    "number": 3.5,
    "bool": True,
    "empty": "",
    "not-base64": "this is not base64 at all",
    "huge": "A" * 2_000_000,
    "bytes": b"\x30\x03\x02\x01\x01",
    "binary-junk": base64.b64encode(bytes(range(256)) * 8).decode(),
    "control-characters": 'MAo=\n{"outcome":"STAPLE"}\u2028\x00',
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_event_returns_nothing_and_says_why(
    server: LoopbackServer, setup: Callable[..., None], staple: Stapler, kind: str
) -> None:
    setup()
    result = staple(MALFORMED[kind])  # checks the answer is a string and one log line
    assert (result.answer, result.reason) == ("", "MALFORMED_EVENT"), result
    assert result.log["serial"] is None
    assert len(result.log["detail"]) <= 300
    assert server.request_count == 0
    check_emf(result.log)


def test_several_cert_ids_return_nothing(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], staple: Stapler
) -> None:
    setup()
    request = with_two_cert_ids(ocsp_request(pki.issue_device(), pki.issuing_ca))
    result = staple(base64.b64encode(request).decode())
    assert (result.answer, result.reason) == ("", "MALFORMED_EVENT"), result
    assert "more than one request" in result.log["detail"]
    assert server.request_count == 0


def test_a_bad_setting_returns_nothing_on_every_call_with_one_clear_line(
    pki: Pki, server: LoopbackServer, configure: Configure, staple: Stapler
) -> None:
    good_responder(pki, server)
    configure(responder_url=None, trusted=[pki.issuing_ca], OCSP_MAX_RESPONSE_BYTES="8192")
    event = event_for(pki.issue_device(), pki.issuing_ca)
    for _ in range(2):
        result = staple(event)
        assert (result.answer, result.reason) == ("", "CONFIG_ERROR"), result
        assert result.log["detail"] == (
            "invalid configuration: OCSP_RESPONDER_URL must be the http(s) URL of the responder "
            "to forward to, got nothing; OCSP_MAX_RESPONSE_BYTES must be a whole number from "
            "1024 to 4096, got '8192'"
        )
        check_emf(result.log)
    assert server.request_count == 0


def test_settings_are_read_once_until_reset(
    *,
    pki: Pki,
    server: LoopbackServer,
    setup: Callable[..., None],
    staple: Stapler,
    handler_module: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good_responder(pki, server)
    setup()
    event = event_for(pki.issue_device(), pki.issuing_ca)
    assert staple(event).reason == "GOOD"
    monkeypatch.setenv("OCSP_RESPONDER_URL", "not a url")
    assert staple(event).reason == "GOOD"  # kept: read on the first invocation
    handler_module.reset()
    assert staple(event).reason == "CONFIG_ERROR"


def test_an_unexpected_exception_returns_nothing(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], staple: Stapler
) -> None:
    good_responder(pki, server)
    setup()
    result = staple(event_for(pki.issue_device(), pki.issuing_ca), Context(RuntimeError("boom")))
    assert (result.answer, result.reason) == ("", "INTERNAL_ERROR"), result
    assert "RuntimeError: boom" in result.log["detail"]
    check_emf(result.log)


def test_the_lambdas_remaining_time_shortens_the_deadline(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], staple: Stapler
) -> None:
    server.behaviour = fixed(Reply(body=b"", delay=5))
    setup(OCSP_TIMEOUT_SECONDS="4")
    result = staple(event_for(pki.issue_device(), pki.issuing_ca), Context(800))
    assert (result.answer, result.reason) == ("", "RESPONDER_UNAVAILABLE"), result
    assert "TIMEOUT" in result.log["detail"]
    assert result.seconds < 1.5


def test_a_dripping_responder_is_cut_off_at_the_timeout(
    pki: Pki, server: LoopbackServer, setup: Callable[..., None], staple: Stapler
) -> None:
    server.behaviour = fixed(Reply(body=b"a" * 2000, drip_interval=0.1))
    setup(OCSP_TIMEOUT_SECONDS="1")
    result = staple(event_for(pki.issue_device(), pki.issuing_ca), Context("not a number"))
    assert (result.answer, result.reason) == ("", "RESPONDER_UNAVAILABLE"), result
    assert result.seconds < 2.0


def _documented(pattern: str) -> list[tuple[str, str]]:
    """``(names cell, second cell)`` of every table row of the contract document whose second
    cell matches ``pattern``."""
    rows: list[tuple[str, str]] = re.findall(
        rf"^\| ([^|]+) \| ({pattern}) \|", CONTRACT_DOC.read_text(), re.MULTILINE
    )
    return rows


def test_reason_and_metric_names_are_the_documented_contract() -> None:
    """The contract is ``docs/stapling-domain-config.md`` (the construct builds metrics on it)."""
    reasons = {
        name: outcome
        for names, outcome in _documented("STAPLE|EMPTY")
        for name in re.findall(r"`([A-Z_]+)`", names)
    }
    assert sorted(REASON_NAMES) == sorted(reasons)
    assert len(set(REASON_NAMES)) == len(REASON_NAMES)
    assert {name for name, outcome in reasons.items() if outcome == "STAPLE"} == STAPLE_REASONS
    metrics = tuple(names.strip("`") for names, _unit in _documented("Count|Milliseconds"))
    assert metrics == METRIC_NAMES
    assert f"Namespace: `{NAMESPACE}`" in CONTRACT_DOC.read_text()
