"""One JSON log line per invocation that is also a CloudWatch Embedded Metric Format document.

The construct keeps copies of ``NAMESPACE``, ``METRIC_NAMES``, ``OUTCOME_NAMES`` and
``REASON_NAMES``; a test compares them with these.
"""

from __future__ import annotations

import datetime as dt
import json

from .models import Outcome, Reason, Result
from .request import Question

NAMESPACE = "OcspIot/Stapling"
METRIC_NAMES = (
    "Answers",
    "CacheHits",
    "ResponderRequests",
    "ResponderErrors",
    "ResponderLatency",
    "HandlerLatency",
)
OUTCOME_NAMES: tuple[str, ...] = tuple(outcome.value for outcome in Outcome)
REASON_NAMES: tuple[str, ...] = tuple(reason.value for reason in Reason)
ANSWER_DIMENSIONS = (("FunctionName", "Outcome"), ("FunctionName", "Reason"))
MAX_DETAIL_CHARS = 4_096


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else f"{value:%Y-%m-%dT%H:%M:%SZ}"


def build_record(
    *,
    result: Result,
    question: Question | None,
    latency_ms: float,
    function_name: str,
    timestamp_ms: int,
) -> dict[str, object]:
    """The log record; ``Outcome`` and ``Reason`` repeat ``outcome``/``reason`` because EMF
    reads dimension values from top-level keys of exactly the dimension's name."""
    requested = result.responder_requests > 0 and result.responder_latency_ms is not None
    responder_metrics: list[dict[str, str]] = [
        {"Name": "CacheHits", "Unit": "Count"},
        {"Name": "ResponderRequests", "Unit": "Count"},
        {"Name": "ResponderErrors", "Unit": "Count"},
    ]
    if requested:
        responder_metrics.append({"Name": "ResponderLatency", "Unit": "Milliseconds"})
    responder_metrics.append({"Name": "HandlerLatency", "Unit": "Milliseconds"})
    cert_id = question.cert_id if question is not None else None
    record: dict[str, object] = {
        "serial": None if cert_id is None else format(cert_id.serial, "x"),
        "issuerKeyHash": None if cert_id is None else cert_id.issuer_key_hash.hex(),
        "hashAlgorithm": None if cert_id is None else cert_id.hash_name,
        "requestNonce": None if question is None else question.nonce,
        "outcome": result.outcome.value,
        "reason": result.reason.value,
        "detail": result.detail[:MAX_DETAIL_CHARS],
        "cacheHit": result.cache_hit,
        "stapleBytes": len(result.der),
        "thisUpdate": _time(result.this_update),
        "nextUpdate": _time(result.next_update),
        "usableUntil": _time(result.usable_until),
        "latencyMs": latency_ms,
        "FunctionName": function_name,
        "Outcome": result.outcome.value,
        "Reason": result.reason.value,
        "Answers": 1,
        "CacheHits": 1 if result.cache_hit else 0,
        "ResponderRequests": result.responder_requests,
        "ResponderErrors": 1 if result.responder_error else 0,
        "HandlerLatency": latency_ms,
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(d) for d in ANSWER_DIMENSIONS],
                    "Metrics": [{"Name": "Answers", "Unit": "Count"}],
                },
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": responder_metrics,
                },
            ],
        },
    }
    if requested:
        record["ResponderLatency"] = result.responder_latency_ms
    return record


def format_line(record: dict[str, object]) -> str:
    """One line of JSON (ASCII only, so no control character can split the log line)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True)
