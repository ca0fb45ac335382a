"""HTTP transport to OCSP responders: a ``Fetcher`` protocol and its ``requests`` implementation.

``OcspHttpClient`` holds everything that outlives one invocation (the keep-alive session, the
worker threads, the time of the last request); the handler that owns it drops it with its other
state, so two handlers in one process never share a connection. ``RequestsFetcher`` is one
invocation's view of it (allow-list, size cap, deadline).

The implementation contacts only allow-listed URLs, follows no redirect, ignores proxy settings
from the environment, reads at most ``max_response_bytes + 1`` bytes, and returns within a hard
deadline even when DNS hangs or the peer drips bytes: the request runs on a small persistent
thread pool and the caller waits at most the remaining time (the worker also stops reading at
the deadline, and each socket operation has its own timeout).
"""

from __future__ import annotations

import enum
import http.client
import re
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol

import requests
import urllib3

from .reasons import OcspReason

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
_READ_CHUNK = 4_096
_DIGITS = re.compile(r"[0-9]{1,12}")
#: Extra time given to the worker thread to report before the caller calls it a timeout.
_GRACE_SECONDS = 0.05
_HEADERS = {
    "Content-Type": OCSP_REQUEST_TYPE,
    "Accept": OCSP_RESPONSE_TYPE,
    "Accept-Encoding": "identity",  # never decompress: the size cap applies to what we parse
}
#: The default ``User-Agent`` (each handler names itself, e.g. ``ocsp-iot-preauth``).
DEFAULT_USER_AGENT = "ocsp-iot"
#: Worker threads of one client: started lazily; a few may be stuck in DNS after a timeout.
MAX_WORKERS = 4

#: Pooled connections idle longer than this are dropped before the next request. Middleboxes
#: forget idle flows and answer the next packet with a reset (an AWS NAT gateway after 350 s),
#: which would look like an outage; servers that close politely are detected by urllib3.
KEEPALIVE_IDLE_SECONDS = 50.0


class FetchStatus(enum.StrEnum):
    ANSWERED = "ANSWERED"
    # availability failures: the only ones the fail mode and stale-if-error apply to
    UNREACHABLE = "UNREACHABLE"
    TIMEOUT = "TIMEOUT"
    HTTP_5XX = "HTTP_5XX"
    # an answer arrived and is unusable: always a denial
    HTTP_STATUS = "HTTP_STATUS"
    BAD_CONTENT_TYPE = "BAD_CONTENT_TYPE"
    TOO_LARGE = "TOO_LARGE"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    #: the peer answered, but not with well-formed HTTP (bad status line, headers, framing)
    PROTOCOL_ERROR = "PROTOCOL_ERROR"
    #: an https peer whose certificate does not verify, or a failed TLS handshake
    TLS_ERROR = "TLS_ERROR"
    #: an unexpected error inside the transport (a bug, never a reason to fail open)
    ERROR = "ERROR"


AVAILABILITY_FAILURES = frozenset(
    {FetchStatus.UNREACHABLE, FetchStatus.TIMEOUT, FetchStatus.HTTP_5XX}
)

#: What a transport failure that is *not* an outage means for the question.
TRANSPORT_REASONS: dict[FetchStatus, OcspReason] = {
    FetchStatus.HTTP_STATUS: OcspReason.BAD_HTTP_STATUS,
    FetchStatus.PROTOCOL_ERROR: OcspReason.BAD_HTTP_RESPONSE,
    FetchStatus.BAD_CONTENT_TYPE: OcspReason.BAD_CONTENT_TYPE,
    FetchStatus.TOO_LARGE: OcspReason.RESPONSE_TOO_LARGE,
    FetchStatus.TLS_ERROR: OcspReason.TLS_ERROR,
    FetchStatus.URL_NOT_ALLOWED: OcspReason.URL_NOT_ALLOWED,
    FetchStatus.ERROR: OcspReason.INTERNAL_ERROR,
}


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: FetchStatus
    body: bytes = b""
    detail: str = ""
    #: Whether a request was started (counts as ResponderRequests).
    requested: bool = True
    latency_ms: float | None = None

    @property
    def unavailable(self) -> bool:
        return self.status in AVAILABILITY_FAILURES


class Fetcher(Protocol):
    def fetch(self, url: str, request_der: bytes, *, timeout: float) -> FetchResult:
        """POST ``request_der`` to the normalized, allow-listed ``url``; never raise."""
        ...


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (``__cause__``, ``__context__``, exception arguments, urllib3's
    ``reason``), breadth first and bounded."""
    seen: list[BaseException] = []
    queue = [exc]
    while queue and len(seen) < 16:
        current = queue.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(current.args)
        queue += [item for item in linked if isinstance(item, BaseException)]
    return seen


#: Refused, reset, closed before answering (http.client.RemoteDisconnected), DNS failure, or
#: a hang-up in the middle of a TLS handshake.
_UNREACHABLE = (
    ConnectionError,
    urllib3.exceptions.NameResolutionError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def _tls_failure(cause: BaseException) -> bool:
    tls = isinstance(cause, ssl.SSLError | ssl.CertificateError)
    return tls and not isinstance(cause, _UNREACHABLE)


def _failure(exc: BaseException) -> FetchResult:
    """Classify a transport exception: an outage (timeout, unreachable), a broken answer, or
    an error of our own. Only a positively recognised outage may become fail-open."""
    causes = _causes(exc)
    detail = " <- ".join(type(cause).__name__ for cause in causes[:4])
    # Checked first: urllib3's NewConnectionError subclasses its ConnectTimeoutError.
    if any(isinstance(c, _UNREACHABLE) for c in causes):
        return FetchResult(FetchStatus.UNREACHABLE, detail=detail)
    if any(_tls_failure(c) for c in causes):
        return FetchResult(FetchStatus.TLS_ERROR, detail=detail)
    timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    if any(isinstance(c, timeouts) for c in causes):
        return FetchResult(FetchStatus.TIMEOUT, detail=detail)
    malformed = (
        http.client.HTTPException,
        urllib3.exceptions.ProtocolError,
        requests.exceptions.InvalidHeader,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
    )
    if any(isinstance(c, malformed) for c in causes):
        return FetchResult(FetchStatus.PROTOCOL_ERROR, detail=detail)
    # Anything else (an unusable URL, a local resource error, a bug) is not an outage.
    return FetchResult(FetchStatus.ERROR, detail=detail)


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _read_capped(
    response: requests.Response, *, max_bytes: int, deadline: float, stop: threading.Event
) -> FetchResult | bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and _DIGITS.fullmatch(declared.strip()) and int(declared) > max_bytes:
        return FetchResult(FetchStatus.TOO_LARGE, detail=f"Content-Length {int(declared)}")
    raw: urllib3.HTTPResponse = response.raw
    body = bytearray()
    while len(body) <= max_bytes:
        if stop.is_set() or time.monotonic() >= deadline:
            return FetchResult(FetchStatus.TIMEOUT, detail="body not received before the deadline")
        # read1: at most one socket read, so the deadline is checked between slow drips
        chunk = raw.read1(min(_READ_CHUNK, max_bytes + 1 - len(body)), decode_content=False)
        if not chunk:
            return bytes(body)
        body += chunk
    return FetchResult(FetchStatus.TOO_LARGE, detail=f"body exceeds {max_bytes} bytes")


def _post(  # noqa: PLR0911 - one early return per failed check
    session: requests.Session,
    url: str,
    request_der: bytes,
    *,
    headers: dict[str, str],
    timeout: float,
    deadline: float,
    max_bytes: int,
    stop: threading.Event,
) -> FetchResult:
    try:
        response = session.post(
            url,
            data=request_der,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        return _failure(exc)
    with response:
        code = response.status_code
        if 500 <= code <= 599:
            return FetchResult(FetchStatus.HTTP_5XX, detail=f"HTTP {code}")
        if code != 200:
            return FetchResult(FetchStatus.HTTP_STATUS, detail=f"HTTP {code}")
        content_type = response.headers.get("Content-Type", "")
        if _media_type(content_type) != OCSP_RESPONSE_TYPE:
            return FetchResult(
                FetchStatus.BAD_CONTENT_TYPE, detail=f"Content-Type {content_type[:80]!r}"
            )
        encoding = _media_type(response.headers.get("Content-Encoding", "identity"))
        if encoding not in ("", "identity"):
            return FetchResult(
                FetchStatus.BAD_CONTENT_TYPE, detail=f"Content-Encoding {encoding[:40]!r}"
            )
        try:
            body = _read_capped(response, max_bytes=max_bytes, deadline=deadline, stop=stop)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            return _failure(exc)
    if isinstance(body, FetchResult):
        return body
    return FetchResult(FetchStatus.ANSWERED, body=body)


class OcspHttpClient:
    """The transport state a handler keeps across invocations: a keep-alive ``requests``
    session (no proxies, ``.netrc`` or CA bundles from the environment), its worker threads and
    the time of its last request. :meth:`close` drops all of it."""

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        keepalive_idle_seconds: float = KEEPALIVE_IDLE_SECONDS,
    ) -> None:
        self.user_agent = user_agent
        self.keepalive_idle_seconds = keepalive_idle_seconds
        self._headers = {**_HEADERS, "User-Agent": user_agent}
        self._session = requests.Session()
        self._session.trust_env = False
        self._last_used = 0.0
        self._executor: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Drop the pooled connections and let the worker threads end (a later fetch opens new
        ones)."""
        self._session.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _workers(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=MAX_WORKERS, thread_name_prefix="ocsp-fetch"
            )
        return self._executor

    def fetch(
        self,
        url: str,
        request_der: bytes,
        *,
        timeout: float,
        deadline: float,
        max_response_bytes: int,
    ) -> FetchResult:
        """POST ``request_der`` to ``url`` (already allow-listed by the caller) within
        ``timeout`` and before ``deadline`` (a ``time.monotonic()`` instant); never raise."""
        started = time.monotonic()
        budget = min(timeout, deadline - started)
        if budget <= 0:
            return FetchResult(
                FetchStatus.TIMEOUT, detail="no time left before the deadline", requested=False
            )
        if started - self._last_used > self.keepalive_idle_seconds:
            self._session.close()  # drops pooled connections; new ones are opened on demand
        self._last_used = started
        stop = threading.Event()
        future = self._workers().submit(
            _post,
            self._session,
            url,
            request_der,
            headers=self._headers,
            timeout=budget,
            deadline=started + budget,
            max_bytes=max_response_bytes,
            stop=stop,
        )
        try:
            result = future.result(timeout=budget + _GRACE_SECONDS)
        except FutureTimeout:
            stop.set()  # the worker stops at its next read; a DNS lookup ends on its own
            future.cancel()
            result = FetchResult(FetchStatus.TIMEOUT, detail=f"no answer within {budget:.2f} s")
        except Exception as exc:  # a bug in the worker must not escape as an exception
            result = FetchResult(FetchStatus.ERROR, detail=f"{type(exc).__name__}: {exc}"[:200])
        latency_ms = round((time.monotonic() - started) * 1000, 2)
        return FetchResult(
            result.status, result.body, result.detail, requested=True, latency_ms=latency_ms
        )


class RequestsFetcher:
    """One invocation's fetcher: it knows the allow-list, the size cap and the hard deadline
    (a ``time.monotonic()`` instant), and sends through ``client`` (default: a client of its
    own, so nothing is shared)."""

    def __init__(
        self,
        *,
        allowed_urls: frozenset[str],
        max_response_bytes: int,
        deadline: float,
        client: OcspHttpClient | None = None,
    ) -> None:
        self._allowed = allowed_urls
        self._max_bytes = max_response_bytes
        self._deadline = deadline
        self._client = client if client is not None else OcspHttpClient()

    def fetch(self, url: str, request_der: bytes, *, timeout: float) -> FetchResult:
        if url not in self._allowed or not url.startswith(("http://", "https://")):
            return FetchResult(FetchStatus.URL_NOT_ALLOWED, detail=url[:200], requested=False)
        return self._client.fetch(
            url,
            request_der,
            timeout=timeout,
            deadline=self._deadline,
            max_response_bytes=self._max_bytes,
        )
