"""The stapling application's models: what was returned to IoT Core, and why."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from ocsp_core.reasons import OcspReason


class Outcome(enum.StrEnum):
    """What IoT Core got: a verified answer to staple, or ``""``."""

    STAPLE = "STAPLE"
    EMPTY = "EMPTY"


class Reason(enum.StrEnum):
    """Why. Values are an API: the construct builds metrics on them.

    Every ``ocsp_core.reasons.OcspReason`` is here under the same name (:func:`from_core`).
    """

    # a staple
    GOOD = "GOOD"
    REVOKED = "REVOKED"
    #: the responder failed; the last verified answer (before its nextUpdate) was returned
    STALE_IF_ERROR = "STALE_IF_ERROR"
    # nothing to staple
    UNKNOWN = "UNKNOWN"
    #: verified, but signed by a key IoT Core will not check it against
    UNEXPECTED_SIGNER = "UNEXPECTED_SIGNER"
    #: verified, but it also answers for other certificates (a client reading the first
    #: SingleResponse would misread it)
    MULTIPLE_SINGLE_RESPONSES = "MULTIPLE_SINGLE_RESPONSES"
    RESPONDER_UNAVAILABLE = "RESPONDER_UNAVAILABLE"
    UNTRUSTED_ISSUER = "UNTRUSTED_ISSUER"
    CERT_EXPIRED = "CERT_EXPIRED"
    CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
    NO_RESPONDER_URL = "NO_RESPONDER_URL"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    BAD_HTTP_STATUS = "BAD_HTTP_STATUS"
    BAD_HTTP_RESPONSE = "BAD_HTTP_RESPONSE"
    BAD_CONTENT_TYPE = "BAD_CONTENT_TYPE"
    RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
    TLS_ERROR = "TLS_ERROR"
    MALFORMED_RESPONSE = "MALFORMED_RESPONSE"
    RESPONSE_STATUS_MALFORMED_REQUEST = "RESPONSE_STATUS_MALFORMED_REQUEST"
    RESPONSE_STATUS_INTERNAL_ERROR = "RESPONSE_STATUS_INTERNAL_ERROR"
    RESPONSE_STATUS_SIG_REQUIRED = "RESPONSE_STATUS_SIG_REQUIRED"
    RESPONSE_STATUS_UNAUTHORIZED = "RESPONSE_STATUS_UNAUTHORIZED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNAUTHORIZED_RESPONDER = "UNAUTHORIZED_RESPONDER"
    NONCE_MISMATCH = "NONCE_MISMATCH"
    CERTID_MISMATCH = "CERTID_MISMATCH"
    CONFLICTING_RESPONSES = "CONFLICTING_RESPONSES"
    FUTURE_RESPONSE = "FUTURE_RESPONSE"
    STALE_RESPONSE = "STALE_RESPONSE"
    UNSUPPORTED_CRITICAL_EXTENSION = "UNSUPPORTED_CRITICAL_EXTENSION"
    # the invocation
    CONFIG_ERROR = "CONFIG_ERROR"
    MALFORMED_EVENT = "MALFORMED_EVENT"
    INTERNAL_ERROR = "INTERNAL_ERROR"


def from_core(reason: OcspReason) -> Reason:
    """The stapling reason of a core OCSP failure (the same name)."""
    return Reason(reason.value)


@dataclass(frozen=True, slots=True)
class Result:
    """What one invocation returns (``der``, empty for ``""``) and what the log line needs."""

    reason: Reason
    detail: str = ""
    #: The verified ``OCSPResponse`` DER as the responder sent it (empty: nothing to staple).
    der: bytes = b""
    cache_hit: bool = False
    #: 1 when an HTTP request to the responder was started.
    responder_requests: int = 0
    #: True when a request was started and did not yield a stapled answer.
    responder_error: bool = False
    responder_latency_ms: float | None = None
    #: thisUpdate and nextUpdate of an answer fetched in this invocation.
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    #: Until when the returned answer may be stapled (its nextUpdate or freshness, capped by the
    #: signer's validity); ``None`` when nothing is returned.
    usable_until: dt.datetime | None = None

    @property
    def outcome(self) -> Outcome:
        return Outcome.STAPLE if self.der else Outcome.EMPTY


def empty(reason: Reason, detail: str = "") -> Result:
    return Result(reason, detail)
