"""The construct side of the stapling Lambda contract: its settings table, metric names, handler.

The handler (``lambda_src/stapling_handler.py``) reads its settings from environment variables
and emits CloudWatch Embedded Metric Format documents. The names below are a *copy* of the
handler's (``lambda_src/stapling/metrics.py``, ``stapling/models.py``, ``stapling/settings.py``):
the constructs never import the Lambda code, and a test asserts that both copies are identical.
"""

from __future__ import annotations

from . import _ocsp_client as client
from ._ocsp_client import Setting

#: CloudWatch namespace of the handler's EMF metrics.
NAMESPACE = "OcspIot/Stapling"

#: Metric names the handler emits (dimension ``FunctionName``; ``Answers`` also by ``Outcome``
#: and by ``Reason``).
ANSWERS = "Answers"
CACHE_HITS = "CacheHits"
RESPONDER_REQUESTS = "ResponderRequests"
RESPONDER_ERRORS = "ResponderErrors"
RESPONDER_LATENCY = "ResponderLatency"
HANDLER_LATENCY = "HandlerLatency"
METRIC_NAMES: tuple[str, ...] = (
    ANSWERS,
    CACHE_HITS,
    RESPONDER_REQUESTS,
    RESPONDER_ERRORS,
    RESPONDER_LATENCY,
    HANDLER_LATENCY,
)

#: EMF dimension names.
DIMENSION_FUNCTION_NAME = "FunctionName"
DIMENSION_OUTCOME = "Outcome"
DIMENSION_REASON = "Reason"

#: Values of the ``Outcome`` dimension: a verified answer returned, or ``""``.
STAPLE = "STAPLE"
EMPTY = "EMPTY"
OUTCOMES: tuple[str, ...] = (STAPLE, EMPTY)

#: Values of the ``Reason`` dimension, in the handler's order (``stapling.models.Reason``).
REASONS: tuple[str, ...] = (
    "GOOD",
    "REVOKED",
    "STALE_IF_ERROR",
    "UNKNOWN",
    "UNEXPECTED_SIGNER",
    "MULTIPLE_SINGLE_RESPONSES",
    "RESPONDER_UNAVAILABLE",
    "UNTRUSTED_ISSUER",
    "CERT_EXPIRED",
    "CERT_NOT_YET_VALID",
    "NO_RESPONDER_URL",
    "URL_NOT_ALLOWED",
    "BAD_HTTP_STATUS",
    "BAD_HTTP_RESPONSE",
    "BAD_CONTENT_TYPE",
    "RESPONSE_TOO_LARGE",
    "TLS_ERROR",
    "MALFORMED_RESPONSE",
    "RESPONSE_STATUS_MALFORMED_REQUEST",
    "RESPONSE_STATUS_INTERNAL_ERROR",
    "RESPONSE_STATUS_SIG_REQUIRED",
    "RESPONSE_STATUS_UNAUTHORIZED",
    "BAD_SIGNATURE",
    "UNAUTHORIZED_RESPONDER",
    "NONCE_MISMATCH",
    "CERTID_MISMATCH",
    "CONFLICTING_RESPONSES",
    "FUTURE_RESPONSE",
    "STALE_RESPONSE",
    "UNSUPPORTED_CRITICAL_EXTENSION",
    "CONFIG_ERROR",
    "MALFORMED_EVENT",
    "INTERNAL_ERROR",
)

#: Handler entry point inside the bundle.
HANDLER = "stapling_handler.handler"

#: The handler's settings, in its order (a copy of ``lambda_src/stapling/settings.py``
#: ``SETTINGS``; a test compares the two row by row).
SETTINGS: tuple[Setting, ...] = (
    client.OCSP_RESPONDER_URL,
    client.TRUSTED_CA_PEM,
    client.OCSP_AUTHORIZED_RESPONDER_PEM,
    client.OCSP_TIMEOUT_SECONDS,
    client.OCSP_CACHE_MAX_SECONDS,
    client.OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS,
    client.STAPLING_MAX_RESPONSE_BYTES,
)
