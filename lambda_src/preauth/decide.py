"""The decision: ``check(attempt, *, settings, now, fetcher, cache) -> Decision``.

Order: device validity, usage and critical extensions; cache; trusted issuer (before any
network call); responder URL (override or allow-listed AIA); request; verification. The fail
mode and stale-if-error apply only when the responder is unavailable (unreachable, timeout, HTTP
5xx, tryLater).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from cryptography import x509
from cryptography.x509 import ocsp

from ocsp_core.cache import CacheEntry, ResponseCache, cache_key
from ocsp_core.certid import HASHES, CertId
from ocsp_core.chain import validity_problem
from ocsp_core.ocsp import Answer, build_request, verify_response
from ocsp_core.reasons import Rejection
from ocsp_core.responder import choose_responder
from ocsp_core.transport import TRANSPORT_REASONS, Fetcher, FetchResult, FetchStatus

from .device import UntrustedIssuer, device_usage_problem, find_issuer, unknown_device_extension
from .models import Attempt, Decision, Reason, Verdict, allow, deny, from_core
from .settings import FailMode, Settings

#: RFC 8954 allows 1-32 octets; 32 is what most clients send.
NONCE_BYTES = 32


def _rejected(rejection: Rejection) -> Decision:
    return deny(from_core(rejection.reason), rejection.detail)


def decision_from_cache(entry: CacheEntry, *, stale: bool) -> Decision:
    """The decision a cached answer gives (``stale``: the responder is unavailable)."""
    good = entry.status is ocsp.OCSPCertStatus.GOOD
    if stale:
        reason = Reason.STALE_IF_ERROR if good else Reason.REVOKED
        detail = "responder unavailable; stale cached answer"
    else:
        reason = Reason.GOOD if good else Reason.REVOKED
        detail = "cached answer"
    verdict = Verdict.ALLOW if good else Verdict.DENY
    suffix = f"; {entry.detail}" if entry.detail else ""
    return Decision(verdict, reason, detail + suffix, cache_hit=not stale)


def _unavailable(
    why: str, *, key: bytes, settings: Settings, now: dt.datetime, cache: ResponseCache
) -> Decision:
    stale = cache.get_stale(key, now)
    if stale is not None:
        decision = decision_from_cache(stale, stale=True)
        return dataclasses.replace(decision, detail=f"{why}; {decision.detail}")
    if settings.fail_mode is FailMode.OPEN:
        return allow(Reason.FAIL_OPEN, why)
    return deny(Reason.RESPONDER_UNAVAILABLE, why)


def _remember(
    answer: Answer,
    *,
    key: bytes,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    settings: Settings,
    now: dt.datetime,
    cache: ResponseCache,
    detail: str,
) -> None:
    """Cache a verified answer. A revoked answer is final: it stays fresh until the device (or
    its CA) expires, so no later answer, replayed or not, is even asked for; a good one is fresh
    until its nextUpdate, at most ``cache_max_seconds``."""
    if settings.cache_max_seconds <= 0:
        return  # nothing is ever stored, so nothing can be stale either
    expires = min(leaf.not_valid_after_utc, issuer.not_valid_after_utc)
    if answer.status is ocsp.OCSPCertStatus.REVOKED:
        fresh_until = stale_until = expires
    else:
        fresh_until = min(
            answer.fresh_until, now + dt.timedelta(seconds=settings.cache_max_seconds), expires
        )
        stale_until = min(
            fresh_until + dt.timedelta(seconds=settings.stale_if_error_seconds), expires
        )
    entry = CacheEntry(
        answer.status, fresh_until, stale_until, detail, this_update=answer.this_update
    )
    cache.put(key, entry, now)


def _decide_on_answer(answer: Answer) -> Decision:
    if answer.status is ocsp.OCSPCertStatus.GOOD:
        return allow(Reason.GOOD, f"signed by the {answer.signer}")
    if answer.status is ocsp.OCSPCertStatus.REVOKED:
        when = answer.revocation_time
        detail = f"revoked at {when:%Y-%m-%dT%H:%M:%SZ}" if when else "revoked"
        if answer.revocation_reason:
            detail += f" ({answer.revocation_reason})"
        return deny(Reason.REVOKED, detail)
    return deny(Reason.UNKNOWN, "responder does not know this certificate")


def _with_fetch(decision: Decision, fetched: FetchResult, *, error: bool) -> Decision:
    return dataclasses.replace(
        decision,
        responder_requests=1 if fetched.requested else 0,
        responder_error=error and fetched.requested,
        responder_latency_ms=fetched.latency_ms if fetched.requested else None,
    )


def check(  # noqa: PLR0911 - one early return per failed step reads best
    attempt: Attempt,
    *,
    settings: Settings,
    now: dt.datetime,
    fetcher: Fetcher,
    cache: ResponseCache,
) -> Decision:
    """Decide whether the device in ``attempt`` may connect at ``now`` (aware UTC)."""
    leaf = attempt.leaf
    problem = validity_problem(leaf, now)
    if problem is not None:
        return deny(
            from_core(problem),
            f"device certificate valid {leaf.not_valid_before_utc:%Y-%m-%d} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}",
        )
    usage = device_usage_problem(leaf)
    if usage is not None:
        return deny(Reason.NOT_A_DEVICE_CERT, usage)
    unknown = unknown_device_extension(leaf)
    if unknown is not None:
        return deny(
            Reason.UNSUPPORTED_CRITICAL_EXTENSION,
            f"device certificate carries the critical extension {unknown}, which the checker "
            "does not understand (RFC 5280 4.2)",
        )
    key = cache_key(attempt.leaf_der)
    cached = cache.get_fresh(key, now)
    if cached is not None:
        return decision_from_cache(cached, stale=False)

    issuer = find_issuer(leaf, settings.trusted_cas, now)
    if isinstance(issuer, UntrustedIssuer):
        return deny(Reason.UNTRUSTED_ISSUER, issuer.detail)
    url = choose_responder(
        leaf, allowed_urls=settings.allowed_urls, override=settings.responder_url
    )
    if isinstance(url, Rejection):
        return _rejected(url)

    nonce = secrets.token_bytes(NONCE_BYTES) if settings.nonce else None
    cert_id = CertId.for_certificate(leaf, issuer, HASHES[settings.hash_algorithm])
    request_der = build_request(cert_id, nonce=nonce)
    fetched = fetcher.fetch(url, request_der, timeout=settings.timeout_seconds)

    if fetched.unavailable:
        why = f"responder unavailable: {fetched.status.value} {fetched.detail}".strip()
        decision = _unavailable(why, key=key, settings=settings, now=now, cache=cache)
        return _with_fetch(decision, fetched, error=True)
    if fetched.status is not FetchStatus.ANSWERED:
        decision = deny(from_core(TRANSPORT_REASONS[fetched.status]), fetched.detail)
        return _with_fetch(decision, fetched, error=True)

    verified = verify_response(
        fetched.body,
        cert_id=cert_id,
        issuer=issuer,
        now=now,
        nonce=nonce,
        max_age_without_next_update=dt.timedelta(
            seconds=settings.max_age_without_next_update_seconds
        ),
    )
    if isinstance(verified, Rejection):
        if verified.try_later:
            decision = _unavailable(
                "responder unavailable: tryLater", key=key, settings=settings, now=now, cache=cache
            )
        else:
            decision = _rejected(verified)
        return _with_fetch(decision, fetched, error=True)

    decision = _decide_on_answer(verified)
    _remember(
        verified,
        key=key,
        leaf=leaf,
        issuer=issuer,
        settings=settings,
        now=now,
        cache=cache,
        detail=decision.detail,
    )
    return _with_fetch(decision, fetched, error=False)
