"""AWS IoT Core server-certificate OCSP stapling Lambda (``OcspLambdaArn``): a verifying proxy in
front of one OCSP responder.

``handler(event, context)`` takes the JSON string IoT Core sends (the base64 of a DER
``OCSPRequest``) and returns the base64 of a DER ``OCSPResponse`` that the configured responder
signed and the OCSP core verified for the CertID asked about, byte for byte, or ``""`` when
there is nothing verified to give. It never raises. Each invocation writes one JSON line that is
also a CloudWatch EMF document. Contract: ``docs/stapling-domain-config.md``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import sys
import time

from ocsp_core.cache import ResponseCache
from ocsp_core.transport import HttpFetcher, OcspHttpClient
from stapling.answer import CACHE_MAX_ENTRIES, answer
from stapling.metrics import build_record, format_line
from stapling.models import Reason, Result, empty
from stapling.request import EventError, Question, parse_event
from stapling.settings import ConfigError, Settings, load_settings

#: Time kept back from the deadline for verifying the answer and writing the log line.
VERIFY_RESERVE_SECONDS = 0.1
#: Margin kept before the Lambda's own timeout when it is shorter than the request timeout.
LAMBDA_TIMEOUT_MARGIN_SECONDS = 0.2
#: How the handler introduces itself to the responder.
USER_AGENT = "ocsp-iot-stapling"


class _Runtime:
    """The only module state: settings (or the error reading them), the answer cache and the
    HTTP client (a keep-alive connection to the responder)."""

    settings: Settings | ConfigError | None = None
    cache: ResponseCache | None = None
    http: OcspHttpClient | None = None


_RUNTIME = _Runtime()


def reset() -> None:
    """Forget the settings, the cache and the HTTP client; the next invocation re-reads the
    environment and opens a new connection."""
    _RUNTIME.settings = None
    _RUNTIME.cache = None
    if _RUNTIME.http is not None:
        _RUNTIME.http.close()
    _RUNTIME.http = None


def _http() -> OcspHttpClient:
    if _RUNTIME.http is None:
        _RUNTIME.http = OcspHttpClient(user_agent=USER_AGENT)
    return _RUNTIME.http


def _settings() -> Settings | ConfigError:
    if _RUNTIME.settings is None:
        try:
            _RUNTIME.settings = load_settings(os.environ)
        except ConfigError as exc:
            _RUNTIME.settings = exc
    return _RUNTIME.settings


def _cache() -> ResponseCache:
    if _RUNTIME.cache is None:
        _RUNTIME.cache = ResponseCache(max_entries=CACHE_MAX_ENTRIES)
    return _RUNTIME.cache


def _deadline(settings: Settings, context: object, started: float) -> float:
    deadline = started + settings.timeout_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            lambda_left = float(remaining()) / 1000 - LAMBDA_TIMEOUT_MARGIN_SECONDS
        except (TypeError, ValueError):
            lambda_left = settings.timeout_seconds
        deadline = min(deadline, started + lambda_left)
    return deadline - VERIFY_RESERVE_SECONDS


def _answer(
    event: object, context: object, started: float, now: dt.datetime
) -> tuple[Result, Question | None]:
    settings = _settings()
    if isinstance(settings, ConfigError):
        return empty(Reason.CONFIG_ERROR, str(settings)), None
    try:
        question = parse_event(event)
    except EventError as exc:
        return empty(Reason.MALFORMED_EVENT, str(exc)), None
    fetcher = HttpFetcher(
        allowed_urls=frozenset({settings.responder_url}),
        max_response_bytes=settings.max_response_bytes,
        deadline=_deadline(settings, context, started),
        client=_http(),
    )
    result = answer(question, settings=settings, now=now, fetcher=fetcher, cache=_cache())
    return result, question


def _log(result: Result, question: Question | None, started: float, now: dt.datetime) -> None:
    record = build_record(
        result=result,
        question=question,
        latency_ms=round((time.monotonic() - started) * 1000, 2),
        function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local",
        timestamp_ms=int(now.timestamp() * 1000),
    )
    sys.stdout.write(format_line(record) + "\n")
    sys.stdout.flush()


def handler(event: object, context: object) -> str:
    """IoT Core entry point: base64 DER ``OCSPResponse`` or ``""``; never raises."""
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    question: Question | None = None
    try:
        result, question = _answer(event, context, started, now)
    except Exception as exc:  # the last line of defence: nothing to staple, never a crash
        result = empty(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        _log(result, question, started, now)
    except Exception as exc:  # logging must not cost IoT Core its staple
        sys.stderr.write(f"stapling: could not write the log line: {type(exc).__name__}\n")
    return base64.b64encode(result.der).decode("ascii") if result.der else ""
