"""The construct side of the pre-auth Lambda contract: its settings table, metric names, handler.

The handler (``lambda_src/preauth_handler.py``) reads its settings from environment variables and
emits CloudWatch Embedded Metric Format documents. The names below are a *copy* of the handler's
(``lambda_src/preauth/metrics.py``, ``preauth/models.py``, ``preauth/settings.py``): the
constructs never import the Lambda code, and a test asserts that both copies are identical.
"""

from __future__ import annotations

from . import _ocsp_client as client
from ._ocsp_client import Setting

#: CloudWatch namespace of the handler's EMF metrics.
NAMESPACE = "OcspIot/PreAuth"

#: Metric names the handler emits (dimension ``FunctionName``; ``Decisions`` also by ``Verdict``
#: and by ``Reason``).
DECISIONS = "Decisions"
CACHE_HITS = "CacheHits"
RESPONDER_REQUESTS = "ResponderRequests"
RESPONDER_ERRORS = "ResponderErrors"
RESPONDER_LATENCY = "ResponderLatency"
HANDLER_LATENCY = "HandlerLatency"
METRIC_NAMES: tuple[str, ...] = (
    DECISIONS,
    CACHE_HITS,
    RESPONDER_REQUESTS,
    RESPONDER_ERRORS,
    RESPONDER_LATENCY,
    HANDLER_LATENCY,
)

#: EMF dimension names.
DIMENSION_FUNCTION_NAME = "FunctionName"
DIMENSION_VERDICT = "Verdict"
DIMENSION_REASON = "Reason"

#: Values of the ``Verdict`` dimension.
VERDICTS: tuple[str, ...] = ("ALLOW", "DENY")

#: Values of the ``Reason`` dimension, in the handler's order (``preauth.models.Reason``).
REASONS: tuple[str, ...] = (
    "GOOD",
    "FAIL_OPEN",
    "STALE_IF_ERROR",
    "REVOKED",
    "UNKNOWN",
    "RESPONDER_UNAVAILABLE",
    "UNTRUSTED_ISSUER",
    "CERT_EXPIRED",
    "CERT_NOT_YET_VALID",
    "NOT_A_DEVICE_CERT",
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
HANDLER = "preauth_handler.handler"

#: The handler's settings, in its order (a copy of ``lambda_src/preauth/settings.py``
#: ``SETTINGS``; a test compares the two row by row).
SETTINGS: tuple[Setting, ...] = (
    client.TRUSTED_CA_PEM,
    client.OCSP_ALLOWED_URLS,
    client.OCSP_RESPONDER_URL,
    client.OCSP_DEADLINE_SECONDS,
    client.OCSP_TIMEOUT_SECONDS,
    client.OCSP_FAIL_MODE,
    client.OCSP_STALE_IF_ERROR_SECONDS,
    client.OCSP_CACHE_MAX_SECONDS,
    client.OCSP_CACHE_MAX_ENTRIES,
    client.OCSP_NONCE,
    client.OCSP_MAX_RESPONSE_BYTES,
    client.OCSP_HASH_ALGORITHM,
    client.OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS,
)
