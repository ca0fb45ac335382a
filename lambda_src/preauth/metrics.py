"""One JSON log line per decision that is also a CloudWatch Embedded Metric Format document.

The construct keeps copies of ``NAMESPACE``, ``METRIC_NAMES`` and ``REASON_NAMES``; a test
compares them with these.
"""

from __future__ import annotations

import json

from .models import Decision, Reason

NAMESPACE = "OcspIot/PreAuth"
METRIC_NAMES = (
    "Decisions",
    "CacheHits",
    "ResponderRequests",
    "ResponderErrors",
    "ResponderLatency",
    "HandlerLatency",
)
REASON_NAMES: tuple[str, ...] = tuple(reason.value for reason in Reason)
VERDICT_DIMENSIONS = (("FunctionName", "Verdict"), ("FunctionName", "Reason"))
#: Free-text fields are cut to this many characters (they may come from the device).
MAX_TEXT_CHARS = 256
MAX_DETAIL_CHARS = 4_096


def _text(value: str | None) -> str | None:
    return None if value is None else value[:MAX_TEXT_CHARS]


def build_record(
    *,
    decision: Decision,
    connection_id: str | None,
    principal_id: str | None,
    serial: int | None,
    issuer: str | None,
    latency_ms: float,
    function_name: str,
    timestamp_ms: int,
) -> dict[str, object]:
    """The log record; ``Verdict`` and ``Reason`` repeat ``verdict``/``reason`` because EMF
    reads dimension values from top-level keys of exactly the dimension's name."""
    requested = decision.responder_requests > 0 and decision.responder_latency_ms is not None
    responder_metrics: list[dict[str, str]] = [
        {"Name": "CacheHits", "Unit": "Count"},
        {"Name": "ResponderRequests", "Unit": "Count"},
        {"Name": "ResponderErrors", "Unit": "Count"},
    ]
    if requested:
        responder_metrics.append({"Name": "ResponderLatency", "Unit": "Milliseconds"})
    responder_metrics.append({"Name": "HandlerLatency", "Unit": "Milliseconds"})
    record: dict[str, object] = {
        "connectionId": _text(connection_id),
        "principalId": _text(principal_id),
        "serial": None if serial is None else format(serial, "x"),
        "issuer": _text(issuer),
        "verdict": decision.verdict.value,
        "reason": decision.reason.value,
        "detail": decision.detail[:MAX_DETAIL_CHARS],
        "cacheHit": decision.cache_hit,
        "latencyMs": latency_ms,
        "FunctionName": function_name,
        "Verdict": decision.verdict.value,
        "Reason": decision.reason.value,
        "Decisions": 1,
        "CacheHits": 1 if decision.cache_hit else 0,
        "ResponderRequests": decision.responder_requests,
        "ResponderErrors": 1 if decision.responder_error else 0,
        "HandlerLatency": latency_ms,
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(d) for d in VERDICT_DIMENSIONS],
                    "Metrics": [{"Name": "Decisions", "Unit": "Count"}],
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
        record["ResponderLatency"] = decision.responder_latency_ms
    return record


def format_line(record: dict[str, object]) -> str:
    """One line of JSON (ASCII only, so no control character can split the log line)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True)
