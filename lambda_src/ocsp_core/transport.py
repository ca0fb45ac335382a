"""HTTP transport to OCSP responders: a ``Fetcher`` protocol and its ``http.client``
implementation.

``OcspHttpClient`` holds everything that outlives one invocation (at most one idle keep-alive
connection per origin, the TLS context, the watchdog); the handler that owns it drops it with
its other state, so two handlers in one process never share a connection. ``HttpFetcher`` is one
invocation's view of it (allow-list, size cap, deadline).

Why the standard library and not ``requests``: every byte of the exchange must be bounded by
the invocation's deadline (connect, TLS handshake, status line, headers, interim ``1xx``
responses, body), and the socket must be shut at the deadline. ``requests``/urllib3 hide the
socket and only offer a per-read timeout, which a responder that drips one byte at a time never
trips; they also cost every cold start tens of milliseconds of imports (``requests``, urllib3,
charset_normalizer, idna; ``bench/importtime_bench.py``) for features this client must not use
(redirects, proxies, ``.netrc``, decompression, retries).

How the deadline holds against any responder:

- the request runs in the calling thread; nothing is shared with another responder's request
  (no worker pool that a slow responder could fill);
- a watchdog thread per client (it does no I/O: a heap of deadlines) shuts the socket down at the
  deadline, which wakes the calling thread wherever it is reading or writing; the calling thread
  then closes the socket, so nothing is left running or connected afterwards;
- ``connect`` has a timeout of the time left, and so has each later socket operation (plus a
  quarter second: a fallback should the watchdog ever be late); DNS (only for a host that is not
  an IP literal) runs in a short-lived thread of its own that the caller waits for at most the
  time left;
- at most :data:`MAX_INTERIM_RESPONSES` interim (1xx) responses, ``http.client``'s 100 header
  lines of at most 64 KiB each, a status line of at most 64 KiB; more is a broken answer
  (``PROTOCOL_ERROR``), never an outage.

The client contacts only the URL it is given (the fetcher checks the allow-list), follows no
redirect, reads no proxy settings, ``.netrc`` or CA bundle from the environment, sends
``Accept-Encoding: identity`` and reads at most ``max_response_bytes + 1`` bytes of body.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import heapq
import http.client
import ipaddress
import itertools
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .reasons import OcspReason

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
_READ_CHUNK = 4_096
#: The default ``User-Agent`` (each handler names itself, e.g. ``ocsp-iot-preauth``).
DEFAULT_USER_AGENT = "ocsp-iot"
#: Interim (1xx) responses read before the final one; a responder sending more is broken.
MAX_INTERIM_RESPONSES = 4
#: ``http.client``'s own bounds (a test checks they are still its values): header lines per
#: response, more raises ``HTTPException``; bytes per status or header line, more raises
#: ``LineTooLong``.
MAX_HEADER_LINES = 100
MAX_LINE_BYTES = 65_536

#: An idle keep-alive connection older than this is closed instead of reused. Middleboxes
#: forget idle flows and answer the next packet with a reset (an AWS NAT gateway after 350 s),
#: which would look like an outage; a peer that closed politely is detected before reuse.
KEEPALIVE_IDLE_SECONDS = 50.0
#: Added to the time left for each socket operation of an exchange: the watchdog, not a socket
#: timeout, is what ends an exchange at its deadline.
_FALLBACK_SECONDS = 0.25
#: How long the watchdog thread waits for work before it ends (a new one starts on demand).
_WATCHDOG_LINGER_SECONDS = 30.0

#: errno values of ``connect()`` that mean the responder cannot be reached (an outage).
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ETIMEDOUT,
    }
)


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


# -- the watchdog ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Phase:
    """Where an exchange is (for the detail of a timeout), and whether an answer began."""

    name: str = "connecting"
    answered: bool = False


@dataclass(eq=False, slots=True)
class _Timer:
    deadline: float
    sock: socket.socket
    phase: _Phase
    fired: bool = False
    #: What the exchange was doing when the deadline shut its socket.
    fired_while: str = ""
    done: bool = False


class _Watchdog:
    """Shuts sockets down at their deadline. One daemon thread that does no I/O of its own: it
    sleeps until the earliest deadline of a heap, then calls ``shutdown(SHUT_RDWR)``, which
    makes any blocked ``recv``/``send`` on the socket return at once (the owner closes it).

    The shutdown happens under the lock that :meth:`disarm` takes, so once the owner has
    disarmed a timer the watchdog never touches its socket again (the file descriptor may then
    be closed and reused)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._closing = False

    def arm(self, deadline: float, sock: socket.socket, phase: _Phase) -> _Timer:
        timer = _Timer(deadline, sock, phase)
        with self._cond:
            self._closing = False
            heapq.heappush(self._heap, (deadline, next(self._order), timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ocsp-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return timer

    def disarm(self, timer: _Timer) -> str | None:
        """Stop watching ``timer``'s socket; when the deadline had already shut it, what the
        exchange was doing then."""
        with self._cond:
            timer.done = True
            return timer.fired_while if timer.fired else None

    def close(self) -> None:
        """Let the thread end as soon as no socket is watched."""
        with self._cond:
            self._closing = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    # Linger a while for the next request, unless the client was closed.
                    lingered = self._closing or not self._cond.wait(_WATCHDOG_LINGER_SECONDS)
                    if lingered and not self._heap:
                        self._thread = None
                        return
                    continue
                deadline, _, timer = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                timer.fired = True
                timer.fired_while = timer.phase.name
                _shutdown(timer.sock)


def _shutdown(sock: socket.socket) -> None:
    """``shutdown(SHUT_RDWR)`` on the file descriptor itself (for a TLS socket too: the
    ``SSLSocket`` method would also drop the TLS state another thread is using)."""
    with contextlib.suppress(OSError):  # already closed or not connected: nothing to wake
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


# -- HTTP on top of http.client ---------------------------------------------------------------


class TooManyInterimResponses(http.client.HTTPException):
    """More than :data:`MAX_INTERIM_RESPONSES` interim (1xx) responses before the final one."""


class _BoundedResponse(http.client.HTTPResponse):
    """``http.client``'s response, with a bound on the interim responses it skips: ``begin``
    reads one status line per interim response (``100 Continue``), and this counts them."""

    _status_lines = 0

    def _read_status(self) -> tuple[str, int, str]:
        self._status_lines += 1
        if self._status_lines > MAX_INTERIM_RESPONSES + 1:
            msg = f"more than {MAX_INTERIM_RESPONSES} interim (1xx) responses"
            raise TooManyInterimResponses(msg)
        status: tuple[str, int, str] = super()._read_status()  # type: ignore[misc]
        return status


class _Connection(http.client.HTTPConnection):
    """An ``HTTPConnection`` on a socket this module connected (and wrapped in TLS); it never
    opens a connection of its own."""

    response_class = _BoundedResponse
    auto_open = 0

    def __init__(self, target: _Target, sock: socket.socket) -> None:
        super().__init__(target.host, target.port)
        # The Host header names the port only when it is not the scheme's default.
        self.default_port = 443 if target.scheme == "https" else 80
        self.sock = sock

    def connect(self) -> None:  # pragma: no cover - auto_open = 0: http.client never calls it
        msg = "the connection is closed"
        raise http.client.NotConnected(msg)


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"not an absolute http(s) URL: {url[:200]!r}"
            raise ValueError(msg)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path)


@dataclass(slots=True)
class _Idle:
    connection: _Connection
    since: float


@dataclass(slots=True)
class _Exchange:
    """What one attempt on one connection produced."""

    result: FetchResult
    #: The connection may carry the next request (answered in full, peer keeps it open).
    reusable: bool = False
    #: Nothing of an answer arrived on a reused connection: the peer had closed it while idle.
    stale: bool = False


#: One entry of ``socket.getaddrinfo``.
_AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[object, ...]]


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (``__cause__``, ``__context__``), bounded."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 8 and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


#: Refused, reset, closed before answering (``RemoteDisconnected`` is a ``ConnectionError``),
#: or a hang-up in the middle of a TLS handshake.
_UNREACHABLE = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError, socket.gaierror)


def _failure(exc: BaseException) -> FetchResult:
    """Classify a transport exception: an outage (timeout, unreachable), a broken answer, or
    an error of our own. Only a positively recognised outage may become fail-open."""
    causes = _causes(exc)
    detail = " <- ".join(f"{type(c).__name__}: {str(c)[:80]}".rstrip(": ") for c in causes[:3])
    if any(isinstance(c, _UNREACHABLE) for c in causes):
        return FetchResult(FetchStatus.UNREACHABLE, detail=detail)
    if any(isinstance(c, TimeoutError) for c in causes):
        return FetchResult(FetchStatus.TIMEOUT, detail=detail)
    if any(isinstance(c, ssl.SSLError | ssl.CertificateError) for c in causes):
        return FetchResult(FetchStatus.TLS_ERROR, detail=detail)
    if any(isinstance(c, http.client.HTTPException) for c in causes):
        return FetchResult(FetchStatus.PROTOCOL_ERROR, detail=detail)
    # Anything else (an unusable URL, a local resource error, a bug) is not an outage.
    return FetchResult(FetchStatus.ERROR, detail=detail)


def _content_length_problem(
    response: http.client.HTTPResponse, max_bytes: int
) -> FetchResult | None:
    """Every ``Content-Length`` must be the same run of digits; a declared body over the cap is
    refused before it is read."""
    values = {value.strip() for value in response.headers.get_all("Content-Length") or ()}
    if not values:
        return None
    if len(values) > 1 or not all(v.isascii() and v.isdigit() and len(v) <= 12 for v in values):
        shown = ", ".join(sorted(values))[:80]
        return FetchResult(FetchStatus.PROTOCOL_ERROR, detail=f"Content-Length {shown!r}")
    declared = int(values.pop())
    if declared > max_bytes:
        return FetchResult(FetchStatus.TOO_LARGE, detail=f"Content-Length {declared}")
    return None


def _read_answer(response: http.client.HTTPResponse, max_bytes: int) -> _Exchange:  # noqa: PLR0911
    code = response.status
    if 500 <= code <= 599:
        return _Exchange(FetchResult(FetchStatus.HTTP_5XX, detail=f"HTTP {code}"))
    if code != 200:
        return _Exchange(FetchResult(FetchStatus.HTTP_STATUS, detail=f"HTTP {code}"))
    content_type = response.getheader("Content-Type", "")
    if _media_type(content_type) != OCSP_RESPONSE_TYPE:
        return _Exchange(
            FetchResult(FetchStatus.BAD_CONTENT_TYPE, detail=f"Content-Type {content_type[:80]!r}")
        )
    encoding = _media_type(response.getheader("Content-Encoding", "identity"))
    if encoding not in ("", "identity"):
        return _Exchange(
            FetchResult(FetchStatus.BAD_CONTENT_TYPE, detail=f"Content-Encoding {encoding[:40]!r}")
        )
    problem = _content_length_problem(response, max_bytes)
    if problem is not None:
        return _Exchange(problem)
    body = bytearray()
    while len(body) <= max_bytes:
        chunk = response.read1(min(_READ_CHUNK, max_bytes + 1 - len(body)))
        if not chunk:
            break
        body += chunk
    if len(body) > max_bytes:
        return _Exchange(
            FetchResult(FetchStatus.TOO_LARGE, detail=f"body exceeds {max_bytes} bytes")
        )
    if response.length:  # http.client counts down the declared length; EOF came first
        return _Exchange(
            FetchResult(
                FetchStatus.PROTOCOL_ERROR,
                detail=f"body ended {response.length} bytes short of its Content-Length",
            )
        )
    reusable = not response.will_close
    return _Exchange(FetchResult(FetchStatus.ANSWERED, body=bytes(body)), reusable=reusable)


class OcspHttpClient:
    """The transport state a handler keeps across invocations: at most one idle keep-alive
    connection per origin (scheme, host, port), the TLS context for https responders (the
    ``certifi`` bundle, nothing from the environment) and the watchdog. Safe to use from several
    threads. :meth:`close` drops all of it; a later fetch starts afresh."""

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        keepalive_idle_seconds: float = KEEPALIVE_IDLE_SECONDS,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``tls_context``: how https responders are verified. Default:
        ``ssl.create_default_context`` with the ``certifi`` bundle (made on first use)."""
        self.user_agent = user_agent
        self.keepalive_idle_seconds = keepalive_idle_seconds
        self._headers = {
            "Content-Type": OCSP_REQUEST_TYPE,
            "Accept": OCSP_RESPONSE_TYPE,
            # never decompress: the size cap applies to what is parsed
            "Accept-Encoding": "identity",
            "User-Agent": user_agent,
        }
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], _Idle] = {}
        self._tls = tls_context
        self._watchdog = _Watchdog()

    def close(self) -> None:
        """Close the idle connections and let the watchdog thread end."""
        with self._lock:
            idle, self._idle = list(self._idle.values()), {}
        for entry in idle:
            entry.connection.close()
        self._watchdog.close()

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
        try:
            target = _Target.parse(url)
        except ValueError as exc:
            return FetchResult(FetchStatus.ERROR, detail=str(exc)[:200], requested=False)
        try:
            result = self._fetch(target, request_der, started + budget, max_response_bytes)
        except Exception as exc:  # a bug here must not escape as an exception
            result = FetchResult(FetchStatus.ERROR, detail=f"{type(exc).__name__}: {exc}"[:200])
        latency_ms = round((time.monotonic() - started) * 1000, 2)
        return FetchResult(
            result.status, result.body, result.detail, requested=True, latency_ms=latency_ms
        )

    # -- one fetch ----------------------------------------------------------------------------

    def _fetch(
        self, target: _Target, request_der: bytes, end: float, max_bytes: int
    ) -> FetchResult:
        reused = self._take_idle(target.origin)
        if reused is not None:
            exchange = self._exchange(reused, target, request_der, end, max_bytes, reused=True)
            if not exchange.stale or time.monotonic() >= end:
                return exchange.result
            # The peer had closed the idle connection: that is not the responder failing.
        opened = self._open(target, end)
        if isinstance(opened, FetchResult):
            return opened
        return self._exchange(opened, target, request_der, end, max_bytes, reused=False).result

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        with self._lock:
            entry = self._idle.pop(origin, None)
        if entry is None:
            return None
        sock = entry.connection.sock
        fresh = time.monotonic() - entry.since <= self.keepalive_idle_seconds
        if not fresh or sock is None or _peer_spoke(sock):
            entry.connection.close()  # idle too long, or the peer closed it (or spoke out of turn)
            return None
        return entry.connection

    def _keep(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        with self._lock:
            previous = self._idle.get(origin)
            if previous is None:
                self._idle[origin] = _Idle(connection, time.monotonic())
                return
        connection.close()  # one idle connection per origin is enough

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import certifi  # noqa: PLC0415 - only https responders pay for the bundle

            self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls

    def _open(self, target: _Target, end: float) -> _Connection | FetchResult:
        """A new connection to ``target`` (TCP connected, TLS not yet negotiated)."""
        infos = _resolve(target.host, target.port, end)
        if isinstance(infos, FetchResult):
            return infos
        sock = _connect(infos, end)
        if isinstance(sock, FetchResult):
            return sock
        if target.scheme == "https":
            try:
                sock = self._tls_context().wrap_socket(
                    sock, server_hostname=target.host, do_handshake_on_connect=False
                )
            except (OSError, ValueError) as exc:
                sock.close()
                return FetchResult(FetchStatus.ERROR, detail=f"TLS set-up: {exc}"[:200])
        return _Connection(target, sock)

    def _exchange(
        self,
        connection: _Connection,
        target: _Target,
        request_der: bytes,
        end: float,
        max_bytes: int,
        *,
        reused: bool,
    ) -> _Exchange:
        """One request and its answer on ``connection``, bounded by ``end``; the connection is
        kept for reuse only when the answer was read in full."""
        sock = connection.sock
        if sock is None:  # pragma: no cover - _open and _take_idle hand out open connections
            return _Exchange(FetchResult(FetchStatus.ERROR, detail="connection closed"))
        phase = _Phase()
        timer = self._watchdog.arm(end, sock, phase)
        exchange: _Exchange | None = None
        error: BaseException | None = None
        try:
            # The watchdog ends the exchange at ``end``; this per-operation timeout is only the
            # fallback should it ever be late.
            sock.settimeout(max(end - time.monotonic(), 0) + _FALLBACK_SECONDS)
            if isinstance(sock, ssl.SSLSocket) and not reused:
                phase.name = "doing the TLS handshake"
                sock.do_handshake()
            phase.name = "sending the request"
            connection.request("POST", target.path, body=request_der, headers=self._headers)
            phase.name = "waiting for the status line and headers"
            response = connection.getresponse()
            phase.answered = True
            phase.name = "reading the body"
            exchange = _read_answer(response, max_bytes)
            response.close()
        except Exception as exc:  # classified below, once the watchdog is disarmed
            error = exc
        finally:
            fired_while = self._watchdog.disarm(timer)
        if fired_while is not None:
            connection.close()
            detail = f"deadline reached while {fired_while}"
            return _Exchange(FetchResult(FetchStatus.TIMEOUT, detail=detail))
        if error is not None or exchange is None:
            connection.close()
            failure = _failure(error) if error is not None else FetchResult(FetchStatus.ERROR)
            stale = reused and not phase.answered and failure.status is FetchStatus.UNREACHABLE
            return _Exchange(failure, stale=stale)
        if exchange.reusable and connection.sock is not None:
            self._keep(target.origin, connection)
        else:
            connection.close()
        return exchange


def _peer_spoke(sock: socket.socket) -> bool:
    """Did the peer close an idle connection (or send something unasked)? Either way it must not
    carry the next request."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _resolve(
    host: str, port: int, end: float
) -> (
    list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[object, ...]]] | FetchResult
):
    """The addresses of ``host``. An IP literal needs no lookup; a name is looked up in a thread
    of its own, waited for at most until ``end`` (a hanging resolver then costs that thread,
    never the deadline)."""
    numeric = _is_ip_literal(host)
    box: dict[str, object] = {}

    def lookup() -> None:
        try:
            box["infos"] = socket.getaddrinfo(
                host,
                port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_NUMERICHOST if numeric else 0,
            )
        except Exception as exc:  # handed to the caller
            box["error"] = exc

    if numeric:
        lookup()
    else:
        thread = threading.Thread(target=lookup, name="ocsp-dns", daemon=True)
        thread.start()
        thread.join(max(end - time.monotonic(), 0))
        if thread.is_alive():
            return FetchResult(
                FetchStatus.TIMEOUT, detail=f"DNS lookup of {host[:100]!r} timed out"
            )
    error = box.get("error")
    if isinstance(error, socket.gaierror):
        return FetchResult(FetchStatus.UNREACHABLE, detail=f"DNS: {error}"[:200])
    if isinstance(error, BaseException):  # e.g. UnicodeError: a name no resolver can take
        return FetchResult(FetchStatus.ERROR, detail=f"DNS: {type(error).__name__}: {error}"[:200])
    infos = box.get("infos")
    if not isinstance(infos, list) or not infos:
        return FetchResult(FetchStatus.UNREACHABLE, detail=f"DNS: no address for {host[:100]!r}")
    return infos


def _connect(infos: list[_AddrInfo], end: float) -> socket.socket | FetchResult:
    """A TCP connection to the first address that accepts one before ``end``."""
    last = FetchResult(FetchStatus.UNREACHABLE, detail="no address")
    for family, kind, proto, _, address in infos:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return FetchResult(FetchStatus.TIMEOUT, detail="deadline reached while connecting")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError:
            sock.close()
            return FetchResult(FetchStatus.TIMEOUT, detail="connect timed out")
        except OSError as exc:
            sock.close()
            detail = f"connect: {type(exc).__name__}: {exc}"[:200]
            if exc.errno not in _NETWORK_ERRNOS:  # a local problem (no fds, ...): not an outage
                return FetchResult(FetchStatus.ERROR, detail=detail)
            last = FetchResult(FetchStatus.UNREACHABLE, detail=detail)
            continue
        return sock
    return last


class HttpFetcher:
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
