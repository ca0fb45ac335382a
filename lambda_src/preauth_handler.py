"""AWS IoT Core custom client certificate validation ("pre-auth") Lambda: OCSP-check the device.

``handler(event, context)`` answers ``{"isAuthenticated": True}`` only when the device
certificate is directly issued by a trusted CA and an authorized OCSP responder says it is good
(or, when configured, the responder is unavailable and the fail mode or a stale good answer
allows). Everything else, including any unexpected error, denies. Each invocation writes one
JSON line that is also a CloudWatch EMF document. Contract: ``docs/preauth-lambda.md``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Mapping

from ocsp_core.cache import ResponseCache
from ocsp_core.transport import HttpFetcher, OcspHttpClient
from preauth.decide import check
from preauth.event import EventError, parse_event
from preauth.fastpath import KnownChains
from preauth.metrics import build_record, format_line
from preauth.models import Attempt, Decision, Reason, deny
from preauth.settings import ConfigError, Settings, load_settings

#: Time kept back from the deadline for verifying the answer and writing the log line.
VERIFY_RESERVE_SECONDS = 0.1
#: Margin kept before the Lambda's own timeout when it is shorter than the deadline.
LAMBDA_TIMEOUT_MARGIN_SECONDS = 0.2
#: How the handler introduces itself to responders.
USER_AGENT = "ocsp-iot-preauth"


class _Runtime:
    """The only module state: settings (or the error reading them), the answer cache, the
    chains seen (the repeat connection's fast path) and the HTTP client (keep-alive connections
    to the responders)."""

    settings: Settings | ConfigError | None = None
    cache: ResponseCache | None = None
    known: KnownChains | None = None
    http: OcspHttpClient | None = None


_RUNTIME = _Runtime()


def reset() -> None:
    """Forget the settings, the cache and the HTTP client; the next invocation re-reads the
    environment and opens new connections."""
    _RUNTIME.settings = None
    _RUNTIME.cache = None
    _RUNTIME.known = None
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


def _cache(settings: Settings) -> ResponseCache:
    if _RUNTIME.cache is None:
        _RUNTIME.cache = ResponseCache(max_entries=settings.cache_max_entries)
        _RUNTIME.known = KnownChains(max_entries=settings.cache_max_entries)
    return _RUNTIME.cache


def _deadline(settings: Settings, context: object, started: float) -> float:
    deadline = started + settings.deadline_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            lambda_left = float(remaining()) / 1000 - LAMBDA_TIMEOUT_MARGIN_SECONDS
        except (TypeError, ValueError):
            lambda_left = settings.deadline_seconds
        deadline = min(deadline, started + lambda_left)
    return deadline - VERIFY_RESERVE_SECONDS


def _decide(
    event: object, context: object, started: float, now: dt.datetime
) -> tuple[Decision, Attempt | None]:
    settings = _settings()
    if isinstance(settings, ConfigError):
        return deny(Reason.CONFIG_ERROR, str(settings)), None
    try:
        attempt = parse_event(event)
    except EventError as exc:
        return deny(Reason.MALFORMED_EVENT, str(exc)), None
    cache = _cache(settings)
    if _RUNTIME.known is not None:
        _RUNTIME.known.remember(attempt, _issuer_text(attempt))
    fetcher = HttpFetcher(
        allowed_urls=settings.allowed_urls,
        max_response_bytes=settings.max_response_bytes,
        deadline=_deadline(settings, context, started),
        client=_http(),
    )
    decision = check(attempt, settings=settings, now=now, fetcher=fetcher, cache=cache)
    return decision, attempt


def _raw_ids(event: object) -> tuple[str | None, str | None]:
    """Best-effort ids for the log line when the event did not parse."""
    if not isinstance(event, Mapping):
        return None, None
    metadata = event.get("connectionMetadata")
    connection = metadata.get("id") if isinstance(metadata, Mapping) else None
    principal = event.get("principalId")
    return (
        connection if isinstance(connection, str) else None,
        principal if isinstance(principal, str) else None,
    )


def _issuer_text(attempt: Attempt) -> str | None:
    """The RFC 4514 issuer name; a name that cannot be rendered must not cost the log line."""
    try:
        return attempt.leaf.issuer.rfc4514_string()
    except Exception:
        return None


def _log(
    event: object, decision: Decision, attempt: Attempt | None, started: float, now: dt.datetime
) -> None:
    if attempt is not None:
        connection_id: str | None = attempt.connection_id
        principal_id: str | None = attempt.principal_id
        serial: int | None = attempt.leaf.serial_number
        issuer = _issuer_text(attempt)
    else:
        connection_id, principal_id = _raw_ids(event)
        serial, issuer = None, None
    record = build_record(
        decision=decision,
        connection_id=connection_id,
        principal_id=principal_id,
        serial=serial,
        issuer=issuer,
        latency_ms=round((time.monotonic() - started) * 1000, 2),
        function_name=_function_name(),
        timestamp_ms=int(now.timestamp() * 1000),
    )
    sys.stdout.write(format_line(record) + "\n")
    sys.stdout.flush()


def _function_name() -> str:
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"


def _repeat(event: object, started: float, now: dt.datetime) -> dict[str, bool] | None:
    """The repeat connection's decision (``preauth.fastpath``), or ``None``: decide in full."""
    known, cache = _RUNTIME.known, _RUNTIME.cache
    if known is None or cache is None:
        return None
    found = known.decide(event, now=now, cache=cache, function_name=_function_name())
    if found is None:
        return None
    decision, line, connection_id, principal_id = found
    try:
        text = line.render(
            connection_id=connection_id,
            principal_id=principal_id,
            latency_ms=round((time.monotonic() - started) * 1000, 2),
            timestamp_ms=int(now.timestamp() * 1000),
        )
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except Exception as exc:  # logging must not turn a decision into a crash
        sys.stderr.write(f"preauth: could not write the decision log line: {type(exc).__name__}\n")
    return {"isAuthenticated": decision.allowed}


def handler(event: object, context: object) -> dict[str, bool]:
    """IoT Core entry point; never raises, never allows on anything unexpected."""
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    try:
        repeat = _repeat(event, started, now)
    except Exception:  # the full path decides (and denies whatever is wrong)
        repeat = None
    if repeat is not None:
        return repeat
    attempt: Attempt | None = None
    try:
        decision, attempt = _decide(event, context, started, now)
    except Exception as exc:  # the last line of defence: deny, never crash
        decision = deny(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        _log(event, decision, attempt, started, now)
    except Exception as exc:  # logging must not turn a decision into a crash
        sys.stderr.write(f"preauth: could not write the decision log line: {type(exc).__name__}\n")
    return {"isAuthenticated": decision.allowed}
