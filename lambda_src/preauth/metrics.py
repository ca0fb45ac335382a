"""One JSON log line per decision that is also a CloudWatch Embedded Metric Format document.

The construct keeps copies of ``NAMESPACE``, ``METRIC_NAMES`` and ``REASON_NAMES``; a test
compares them with these.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii

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


#: Stand-ins :class:`HitLine` formats a record with, then cuts out (none can occur elsewhere in
#: the line: a key followed by a bare value is outside any JSON string).
_CONNECTION, _PRINCIPAL = "\x00connection\x00", "\x00principal\x00"
_LATENCY, _TIMESTAMP = 1234567.125, 987654321987


class HitLine:
    """The log line of one decision, for many connections: ``render`` gives what
    ``format_line(build_record(...))`` gives for the same fields, without building the record.

    The line is formatted once by ``build_record`` itself, with stand-ins for the fields that
    change per connection (ids, latency, timestamp), and cut at them; ``render`` joins the cuts
    with the connection's values, encoded as ``json.dumps`` encodes them.
    """

    __slots__ = ("_decision", "_issuer", "_parts", "_serial", "function_name")

    def __init__(
        self, *, decision: Decision, serial: int | None, issuer: str | None, function_name: str
    ) -> None:
        self._decision, self._serial, self._issuer = decision, serial, issuer
        self.function_name = function_name
        line = format_line(
            build_record(
                decision=decision,
                connection_id=_CONNECTION,
                principal_id=_PRINCIPAL,
                serial=serial,
                issuer=issuer,
                latency_ms=_LATENCY,
                function_name=function_name,
                timestamp_ms=_TIMESTAMP,
            )
        )
        cuts = (
            f'"connectionId":{encode_basestring_ascii(_CONNECTION)}',
            f'"principalId":{encode_basestring_ascii(_PRINCIPAL)}',
            f'"latencyMs":{_LATENCY!r}',
            f'"HandlerLatency":{_LATENCY!r}',
            f'"Timestamp":{_TIMESTAMP}',
        )
        parts: list[str] = []
        rest = line
        for cut in cuts:
            before, found, rest = rest.partition(cut)
            if not found or cut in rest:
                self._parts: tuple[str, ...] | None = None
                return
            parts.append(before + cut[: cut.index(":") + 1])
        parts.append(rest)
        self._parts = tuple(parts)

    def render(
        self, *, connection_id: str, principal_id: str, latency_ms: float, timestamp_ms: int
    ) -> str:
        parts = self._parts
        if parts is None:  # the record no longer has the expected shape: build it
            return format_line(
                build_record(
                    decision=self._decision,
                    connection_id=connection_id,
                    principal_id=principal_id,
                    serial=self._serial,
                    issuer=self._issuer,
                    latency_ms=latency_ms,
                    function_name=self.function_name,
                    timestamp_ms=timestamp_ms,
                )
            )
        latency = repr(latency_ms)
        return "".join(
            (
                parts[0],
                encode_basestring_ascii(connection_id[:MAX_TEXT_CHARS]),
                parts[1],
                encode_basestring_ascii(principal_id[:MAX_TEXT_CHARS]),
                parts[2],
                latency,
                parts[3],
                latency,
                parts[4],
                str(timestamp_ms),
                parts[5],
            )
        )
