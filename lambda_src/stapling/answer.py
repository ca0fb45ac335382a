"""The answer: ``answer(question, *, settings, now, fetcher, cache) -> Result``.

Order: cache (a fresh verified answer for the CertID); trusted CA named by the CertID (before
any network call); a request built for the same CertID (no nonce) to the one configured
responder; verification with the OCSP core against the CertID *asked about*; then what a staple
needs beyond RFC 6960: signed by the key IoT Core checks it against (the authorized responder
when one is configured, else the CA), before its nextUpdate with no clock-skew allowance, about
the server certificate only, at most the configured size. ``good`` and ``revoked`` answers are
returned byte for byte; anything else returns nothing, except that while the responder fails
the last verified answer is returned until it stops being usable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ocsp_core.cache import CacheEntry, ResponseCache
from ocsp_core.certid import CertId
from ocsp_core.chain import validity_problem
from ocsp_core.ocsp import Answer, build_request, verify_response
from ocsp_core.reasons import Rejection
from ocsp_core.transport import TRANSPORT_REASONS, Fetcher, FetchResult, FetchStatus

from .models import Reason, Result, empty, from_core
from .request import Question
from .settings import Settings

#: Verified answers kept: one per CertID asked about (a domain configuration has one server
#: certificate, so a handful covers certificate renewals).
CACHE_MAX_ENTRIES = 16

_STATUS_REASONS = {
    ocsp.OCSPCertStatus.GOOD: Reason.GOOD,
    ocsp.OCSPCertStatus.REVOKED: Reason.REVOKED,
}


def cache_key(cert_id: CertId) -> bytes:
    """The cache key of a CertID: its hash name, issuer hashes and serial."""
    serial = cert_id.serial.to_bytes((cert_id.serial.bit_length() + 8) // 8, "big", signed=True)
    return b"\x00".join(
        (cert_id.hash_name.encode(), cert_id.issuer_name_hash, cert_id.issuer_key_hash, serial)
    )


def _issuer(cert_id: CertId, settings: Settings, now: dt.datetime) -> x509.Certificate | None:
    """The trusted, currently valid CA the CertID names (name and key hash)."""
    for ca in settings.trusted_cas:
        if cert_id.is_issued_by(ca) and validity_problem(ca, now) is None:
            return ca
    return None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def _signer_problem(answer: Answer, settings: Settings) -> str | None:
    """IoT Core verifies a staple against the authorized responder certificate when one is
    configured, else against the issuing CA's: any other signer would be refused there."""
    expected = settings.authorized_responder
    if expected is None:
        if answer.signer != "issuer":
            return (
                "signed by a delegate, but no authorized responder is configured (IoT Core "
                "then checks staples against the CA's own key)"
            )
        return None
    signer = answer.signer_certificate
    if answer.signer != "delegate" or signer is None or _der(signer) != _der(expected):
        who = "the CA itself" if answer.signer == "issuer" else "another delegate"
        return (
            f"signed by {who}, but IoT Core checks staples against the authorized responder "
            "certificate (OCSP_AUTHORIZED_RESPONDER_PEM)"
        )
    return None


def _usable_until(answer: Answer, issuer: x509.Certificate) -> dt.datetime:
    """When the answer stops being a staple a client accepts: its nextUpdate (or freshness
    without one), and never after the signer's own validity."""
    until = min(answer.fresh_until, issuer.not_valid_after_utc)
    if answer.signer_certificate is not None:
        until = min(until, answer.signer_certificate.not_valid_after_utc)
    return until


def _with_fetch(result: Result, fetched: FetchResult, *, error: bool) -> Result:
    return dataclasses.replace(
        result,
        responder_requests=1 if fetched.requested else 0,
        responder_error=error and fetched.requested,
        responder_latency_ms=fetched.latency_ms if fetched.requested else None,
    )


def _fallback(
    reason: Reason, detail: str, *, key: bytes, cache: ResponseCache, now: dt.datetime
) -> Result:
    """The responder failed (``reason``): the last verified answer while it is usable, else
    nothing."""
    stale = cache.get_stale(key, now)
    if stale is None:
        return empty(reason, detail)
    return Result(
        Reason.STALE_IF_ERROR,
        f"{reason.value}: {detail}; returned the last verified answer ({stale.detail})",
        der=stale.der,
        usable_until=stale.stale_until,
    )


def _check(answer: Answer, settings: Settings, now: dt.datetime) -> tuple[Reason, str] | None:
    """What IoT Core would refuse in a verified answer."""
    signer_problem = _signer_problem(answer, settings)
    if signer_problem is not None:
        return Reason.UNEXPECTED_SIGNER, signer_problem
    # The core allows 60 s of clock skew; a staple at or past its nextUpdate is refused by
    # clients, so none is allowed here.
    if answer.fresh_until <= now:
        what = "nextUpdate" if answer.next_update is not None else "freshness (no nextUpdate)"
        return Reason.STALE_RESPONSE, f"{what} {answer.fresh_until:%Y-%m-%dT%H:%M:%SZ} has passed"
    singles = len(list(ocsp.load_der_ocsp_response(answer.der).responses))
    if singles != 1:
        return (
            Reason.MULTIPLE_SINGLE_RESPONSES,
            f"{singles} SingleResponses; a staple answers for the server certificate only",
        )
    if len(answer.der) > settings.max_response_bytes:
        return (
            Reason.RESPONSE_TOO_LARGE,
            f"{len(answer.der)} bytes; at most {settings.max_response_bytes} are stapled",
        )
    return None


def answer(  # noqa: PLR0911 - one early return per failed step reads best
    question: Question,
    *,
    settings: Settings,
    now: dt.datetime,
    fetcher: Fetcher,
    cache: ResponseCache,
) -> Result:
    """What to return for ``question`` at ``now`` (aware UTC)."""
    cert_id = question.cert_id
    key = cache_key(cert_id)
    cached = cache.get_fresh(key, now)
    if cached is not None:
        return Result(
            _STATUS_REASONS[cached.status],
            f"cached answer ({cached.detail})",
            der=cached.der,
            cache_hit=True,
            usable_until=cached.stale_until,
        )
    issuer = _issuer(cert_id, settings, now)
    if issuer is None:
        return empty(
            Reason.UNTRUSTED_ISSUER, "the CertID names no currently valid CA of TRUSTED_CA_PEM"
        )

    # A request of our own for the same CertID: same hash (so the answer's CertID is the one
    # asked about), no nonce (an answer is shared by every handshake for an hour; AWS Private CA
    # ignores nonces), no other extension.
    fetched = fetcher.fetch(
        settings.responder_url,
        build_request(cert_id, nonce=None),
        timeout=settings.timeout_seconds,
    )
    if fetched.status is not FetchStatus.ANSWERED:
        if fetched.unavailable:
            reason = Reason.RESPONDER_UNAVAILABLE
            detail = f"{fetched.status.value} {fetched.detail}".strip()
        else:
            reason, detail = from_core(TRANSPORT_REASONS[fetched.status]), fetched.detail
        result = _fallback(reason, detail, key=key, cache=cache, now=now)
        return _with_fetch(result, fetched, error=True)

    verified = verify_response(
        fetched.body,
        cert_id=cert_id,
        issuer=issuer,
        now=now,
        nonce=None,
        max_age_without_next_update=dt.timedelta(
            seconds=settings.max_age_without_next_update_seconds
        ),
    )
    if isinstance(verified, Rejection):
        reason = Reason.RESPONDER_UNAVAILABLE if verified.try_later else from_core(verified.reason)
        result = _fallback(reason, verified.detail, key=key, cache=cache, now=now)
        return _with_fetch(result, fetched, error=True)
    refused = _check(verified, settings, now)
    if refused is not None:
        result = _fallback(*refused, key=key, cache=cache, now=now)
        return _with_fetch(result, fetched, error=True)

    status = verified.status
    if status not in _STATUS_REASONS:
        # Newer verified knowledge than any answer cached: forget that one (put removes it).
        cache.put(key, CacheEntry(status, now, now), now)
        return _with_fetch(
            empty(Reason.UNKNOWN, "the responder does not know this certificate"),
            fetched,
            error=False,
        )
    usable_until = _usable_until(verified, issuer)
    detail = f"{status.name.lower()}, signed by the {verified.signer}"
    fresh_until = min(usable_until, now + dt.timedelta(seconds=settings.cache_max_seconds))
    cache.put(key, CacheEntry(status, fresh_until, usable_until, detail, verified.der), now)
    result = Result(
        _STATUS_REASONS[status],
        detail,
        der=verified.der,
        this_update=verified.this_update,
        next_update=verified.next_update,
        usable_until=usable_until,
    )
    return _with_fetch(result, fetched, error=False)
