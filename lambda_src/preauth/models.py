"""The pre-auth application's models: the connection attempt, the verdict and its reason."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cryptography import x509

from ocsp_core.reasons import OcspReason


class Verdict(enum.StrEnum):
    """What IoT Core is told: ``ALLOW`` -> ``isAuthenticated: true``."""

    ALLOW = "ALLOW"
    DENY = "DENY"


class Reason(enum.StrEnum):
    """Why a decision was taken. Values are an API: the construct builds metrics on them.

    Every ``ocsp_core.reasons.OcspReason`` is here under the same name (:func:`from_core`).
    """

    # allowed
    GOOD = "GOOD"
    FAIL_OPEN = "FAIL_OPEN"
    STALE_IF_ERROR = "STALE_IF_ERROR"
    # the certificate status itself
    REVOKED = "REVOKED"
    UNKNOWN = "UNKNOWN"
    # the responder could not be reached (fail closed)
    RESPONDER_UNAVAILABLE = "RESPONDER_UNAVAILABLE"
    # the device certificate
    UNTRUSTED_ISSUER = "UNTRUSTED_ISSUER"
    CERT_EXPIRED = "CERT_EXPIRED"
    CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
    NOT_A_DEVICE_CERT = "NOT_A_DEVICE_CERT"
    # choosing the responder
    NO_RESPONDER_URL = "NO_RESPONDER_URL"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    # the HTTP answer
    BAD_HTTP_STATUS = "BAD_HTTP_STATUS"
    BAD_HTTP_RESPONSE = "BAD_HTTP_RESPONSE"
    BAD_CONTENT_TYPE = "BAD_CONTENT_TYPE"
    RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
    #: an https responder whose certificate or handshake fails (an answer, not an outage)
    TLS_ERROR = "TLS_ERROR"
    # the OCSP answer
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


@dataclass(frozen=True, slots=True)
class Attempt:
    """One connection attempt, parsed from the IoT Core event (see ``event.parse_event``)."""

    connection_id: str
    principal_id: str
    server_name: str
    leaf: x509.Certificate
    leaf_der: bytes
    #: Further chain entries as sent by the device; parsed, never trusted.
    intermediates: tuple[x509.Certificate, ...] = ()
    #: The chain's strings exactly as IoT Core sent them (the repeat connection's key; two
    #: spellings of one chain are equal attempts).
    chain: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Decision:
    """The typed outcome of one check, plus what the metrics need to know about it."""

    verdict: Verdict
    reason: Reason
    detail: str = ""
    cache_hit: bool = False
    #: 1 when an HTTP request to a responder was started.
    responder_requests: int = 0
    #: True when a request was started and did not yield a verified OCSP answer.
    responder_error: bool = False
    responder_latency_ms: float | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


def from_core(reason: OcspReason) -> Reason:
    """The pre-auth reason of a core OCSP failure (the same name)."""
    return Reason(reason.value)


def deny(reason: Reason, detail: str = "") -> Decision:
    return Decision(Verdict.DENY, reason, detail)


def allow(reason: Reason, detail: str = "") -> Decision:
    return Decision(Verdict.ALLOW, reason, detail)
