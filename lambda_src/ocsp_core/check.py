"""The decision: ``check(attempt, *, settings, now, fetcher, cache) -> Decision``.

Order: device validity and usage; cache; trusted issuer (before any network call); responder URL
(override or allow-listed AIA); request; verification. The fail mode and stale-if-error apply
only when the responder is unavailable (unreachable, timeout, HTTP 5xx, tryLater).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from .cache import CacheEntry, ResponseCache, cache_key
from .chain import device_usage_problem, find_issuer, validity_problem
from .config import FailMode, Settings, normalize_url
from .models import Attempt, Decision, Reason, Verdict, allow, deny
from .ocsp import Answer, Rejection, build_request, verify_response
from .transport import Fetcher, FetchResult, FetchStatus

#: RFC 8954 allows 1-32 octets; 32 is what most clients send.
NONCE_BYTES = 32

_TRANSPORT_REASONS = {
    FetchStatus.HTTP_STATUS: Reason.BAD_HTTP_STATUS,
    FetchStatus.PROTOCOL_ERROR: Reason.BAD_HTTP_RESPONSE,
    FetchStatus.BAD_CONTENT_TYPE: Reason.BAD_CONTENT_TYPE,
    FetchStatus.TOO_LARGE: Reason.RESPONSE_TOO_LARGE,
    FetchStatus.TLS_ERROR: Reason.TLS_ERROR,
    FetchStatus.URL_NOT_ALLOWED: Reason.URL_NOT_ALLOWED,
    FetchStatus.ERROR: Reason.INTERNAL_ERROR,
}


def responder_url(leaf: x509.Certificate, settings: Settings) -> str | Decision:
    """The URL to ask: the override, else the first allow-listed OCSP URL of the AIA."""
    if settings.responder_url is not None:
        return settings.responder_url
    try:
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return deny(Reason.NO_RESPONDER_URL, "no AIA extension and no OCSP_RESPONDER_URL")
    urls = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
    if not urls:
        return deny(Reason.NO_RESPONDER_URL, "no OCSP URL in AIA and no OCSP_RESPONDER_URL")
    for url in urls:
        try:
            normalized = normalize_url(url)
        except ValueError:
            continue
        if normalized in settings.allowed_urls:
            return normalized
    return deny(Reason.URL_NOT_ALLOWED, f"AIA OCSP URL {urls[0][:200]!r} is not allow-listed")


def _from_cache(entry: CacheEntry, *, stale: bool) -> Decision:
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
        decision = _from_cache(stale, stale=True)
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
    if settings.cache_max_seconds <= 0:
        return  # nothing is ever stored, so nothing can be stale either
    fresh_until = min(
        answer.fresh_until,
        now + dt.timedelta(seconds=settings.cache_max_seconds),
        leaf.not_valid_after_utc,
        issuer.not_valid_after_utc,
    )
    stale_until = min(
        fresh_until + dt.timedelta(seconds=settings.stale_if_error_seconds),
        leaf.not_valid_after_utc,
        issuer.not_valid_after_utc,
    )
    cache.put(key, CacheEntry(answer.status, fresh_until, stale_until, detail), now)


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
            problem,
            f"device certificate valid {leaf.not_valid_before_utc:%Y-%m-%d} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}",
        )
    usage = device_usage_problem(leaf)
    if usage is not None:
        return deny(Reason.NOT_A_DEVICE_CERT, usage)
    key = cache_key(attempt.leaf_der)
    cached = cache.get_fresh(key, now)
    if cached is not None:
        return _from_cache(cached, stale=False)

    issuer = find_issuer(leaf, settings.trusted_cas, now)
    if isinstance(issuer, Decision):
        return issuer
    url = responder_url(leaf, settings)
    if isinstance(url, Decision):
        return url

    nonce = secrets.token_bytes(NONCE_BYTES) if settings.nonce else None
    request_der = build_request(leaf, issuer, hash_name=settings.hash_algorithm, nonce=nonce)
    fetched = fetcher.fetch(url, request_der, timeout=settings.timeout_seconds)

    if fetched.unavailable:
        why = f"responder unavailable: {fetched.status.value} {fetched.detail}".strip()
        decision = _unavailable(why, key=key, settings=settings, now=now, cache=cache)
        return _with_fetch(decision, fetched, error=True)
    if fetched.status is not FetchStatus.ANSWERED:
        decision = deny(_TRANSPORT_REASONS[fetched.status], fetched.detail)
        return _with_fetch(decision, fetched, error=True)

    verified = verify_response(
        fetched.body,
        leaf=leaf,
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
            decision = deny(verified.reason, verified.detail)
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
