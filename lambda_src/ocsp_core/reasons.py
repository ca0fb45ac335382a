"""Why an OCSP question could not be answered with a verified status: ``OcspReason`` and the
typed ``Rejection`` the lower modules return instead of raising.

The values are an API: an application's own reason enum (e.g. ``preauth.models.Reason``) repeats
each of them under the same name, and a test checks that it does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OcspReason(enum.StrEnum):
    """A failed step of checking one certificate (or CertID) with its OCSP responder."""

    #: the responder could not be reached, timed out, answered HTTP 5xx or tryLater
    RESPONDER_UNAVAILABLE = "RESPONDER_UNAVAILABLE"
    # the certificate and its issuer
    UNTRUSTED_ISSUER = "UNTRUSTED_ISSUER"
    CERT_EXPIRED = "CERT_EXPIRED"
    CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
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
    #: a bug or unexpected local error (never a reason to fail open)
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A check failed. ``try_later`` marks the one availability status an answer can carry."""

    reason: OcspReason
    detail: str
    try_later: bool = False
