"""The construct side of the pre-auth Lambda contract: settings, environment size, metric names.

The handler (``lambda_src/preauth_handler.py``) reads its settings from environment variables and
emits CloudWatch Embedded Metric Format documents. The names below are a *copy* of the handler's
(``lambda_src/ocsp_core/metrics.py``): the constructs never import the Lambda code, and a test
asserts that both copies are identical.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

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

#: Values of the ``Reason`` dimension, in the handler's order (``ocsp_core.models.Reason``).
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

#: Environment variable names of the contract.
ENV_TRUSTED_CA_PEM = "TRUSTED_CA_PEM"
ENV_ALLOWED_URLS = "OCSP_ALLOWED_URLS"
ENV_RESPONDER_URL = "OCSP_RESPONDER_URL"
ENV_FAIL_MODE = "OCSP_FAIL_MODE"
ENV_STALE_IF_ERROR = "OCSP_STALE_IF_ERROR_SECONDS"
ENV_TIMEOUT = "OCSP_TIMEOUT_SECONDS"
ENV_CACHE_MAX_SECONDS = "OCSP_CACHE_MAX_SECONDS"
ENV_CACHE_MAX_ENTRIES = "OCSP_CACHE_MAX_ENTRIES"
ENV_NONCE = "OCSP_NONCE"
ENV_MAX_RESPONSE_BYTES = "OCSP_MAX_RESPONSE_BYTES"
ENV_HASH_ALGORITHM = "OCSP_HASH_ALGORITHM"
ENV_MAX_AGE_WITHOUT_NEXT_UPDATE = "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS"
ENV_DEADLINE = "OCSP_DEADLINE_SECONDS"

#: The handler reads responder URLs of printable ASCII without space or backslash, at most
#: this long (``config.normalize_url``); the construct refuses anything else at synth.
URL_CHARACTERS = re.compile(r"[!-\[\]-~]+")
MAX_URL_CHARS = 2048
#: ... whose host is an IP address or a DNS name of such labels (lower case after parsing).
HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
MAX_HOST_CHARS = 253

#: Lambda's limit on the total size of a function's environment variables.
ENV_LIMIT_BYTES = 4096

#: Size assumed for a CA certificate PEM that is only known at deploy time (a token), by the
#: CA's key algorithm (``OcspPrivateCa.key_algorithm``): measured CA certificates with a modest
#: subject and the usual extensions are ~700 bytes of PEM for EC P-256, ~1,250 for RSA-2048 and
#: ~1,950 for RSA-4096; each estimate adds ~150 bytes for longer subjects. Only used for a
#: *warning*; known values are measured exactly.
ESTIMATED_PEM_BYTES_BY_KEY_ALGORITHM: Mapping[str, int] = {
    "EC_prime256v1": 850,
    "EC_secp384r1": 950,
    "EC_secp521r1": 1050,
    "RSA_2048": 1400,
    "RSA_3072": 1750,
    "RSA_4096": 2100,
}
#: ... and for a CA whose key algorithm is not known.
ESTIMATED_PEM_TOKEN_BYTES = 1400


def estimated_pem_bytes(issuer: object) -> int:
    """The estimated PEM size of a deploy-time CA certificate, from the issuer's key algorithm."""
    algorithm = getattr(issuer, "key_algorithm", None)
    name = getattr(algorithm, "value", algorithm)
    return ESTIMATED_PEM_BYTES_BY_KEY_ALGORITHM.get(str(name), ESTIMATED_PEM_TOKEN_BYTES)


#: Size assumed for any other token inside a value (a Region name is at most 14 characters,
#: an account id 12).
ESTIMATED_OTHER_TOKEN_BYTES = 20

_TOKEN_MARKER = re.compile(r"\$\{Token\[[^\]]*\]\}")


@dataclass(frozen=True, kw_only=True)
class EnvironmentSize:
    """How big a function environment is, as Lambda counts it (see :func:`environment_size`).

    :param known_bytes: bytes of everything known at synth (tokens counted as zero).
    :param estimated_bytes: ``known_bytes`` plus an estimate for each token.
    :param token_count: how many deploy-time values (tokens) the environment holds.
    """

    known_bytes: int
    estimated_bytes: int
    token_count: int


def environment_size(
    environment: Mapping[str, str], *, pem_tokens: Sequence[int] = ()
) -> EnvironmentSize:
    """Measure ``environment`` against Lambda's 4 KB limit.

    AWS does not publish the exact formula; we count the UTF-8 bytes of the compact JSON object
    ``{"KEY":"value",...}`` (keys, values, quotes, separators, JSON escapes such as ``\\n``), which
    is at least as large as any plausible count, so a set this check accepts is never refused by
    Lambda for its size. Tokens (deploy-time values) count zero in ``known_bytes``; in
    ``estimated_bytes`` one token per entry of ``pem_tokens`` counts that entry's size (see
    :func:`estimated_pem_bytes`) and any other token :data:`ESTIMATED_OTHER_TOKEN_BYTES`.
    """
    tokens = sum(len(_TOKEN_MARKER.findall(k + v)) for k, v in environment.items())
    stripped = {_TOKEN_MARKER.sub("", k): _TOKEN_MARKER.sub("", v) for k, v in environment.items()}
    known = len(json.dumps(stripped, separators=(",", ":"), ensure_ascii=False).encode())
    pem = list(pem_tokens)[:tokens]
    estimated = known + sum(pem) + (tokens - len(pem)) * ESTIMATED_OTHER_TOKEN_BYTES
    return EnvironmentSize(known_bytes=known, estimated_bytes=estimated, token_count=tokens)


def seconds_text(milliseconds: float) -> str:
    """A duration as the handler reads it: whole seconds as ``"3"``, else ``"1.5"``."""
    if milliseconds % 1000 == 0:
        return str(int(milliseconds // 1000))
    # Exact decimal digits (a float format would round 86399.001 to "86399").
    return format((Decimal(repr(milliseconds)) / 1000).normalize(), "f")
