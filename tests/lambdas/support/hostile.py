"""Responders that misbehave below HTTP: a raw TCP server on 127.0.0.1 whose every byte is
scripted, for the deadline tests.

``HostilePeer(script)`` accepts connections in a daemon thread and serves each one in a thread
of its own: it reads the request (headers and a ``Content-Length`` body) unless
``read_request=False``, then runs ``script(wire, request_body)``. A script writes with
``wire.drip`` / ``wire.send`` / ``wire.repeat`` and waits with ``wire.hold``; each of them returns
as soon as the client closes or resets the connection, which is recorded in
``PeerConnection.closed_at`` (``time.monotonic()``): the tests use it to prove that the client
hung up at its deadline and nothing was left reading. Every wait is bounded
(``MAX_SCRIPT_SECONDS``) and ``close()`` ends every script.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ocsp_core.transport import MAX_HEADER_LINES, MAX_LINE_BYTES

#: No script runs longer than this (a test never needs more).
MAX_SCRIPT_SECONDS = 20.0
#: The most a peer reads of a request.
MAX_REQUEST_BYTES = 65_536


@dataclass
class PeerConnection:
    """What the peer saw on one connection."""

    accepted_at: float
    #: When the request (headers and body) had been read; ``None``: not read (or not asked).
    request_at: float | None = None
    request: bytes = b""
    #: When the client closed or reset the connection; ``None``: the peer closed it first (or
    #: the script ran out).
    closed_at: float | None = None
    bytes_sent: int = 0


class Wire:
    """The server side of one connection, as a script sees it."""

    def __init__(self, sock: socket.socket, record: PeerConnection, stop: threading.Event) -> None:
        self._sock = sock
        self.record = record
        self._stop = stop
        self._until = time.monotonic() + MAX_SCRIPT_SECONDS

    @property
    def open(self) -> bool:
        return self.record.closed_at is None and not self._stop.is_set()

    def _client_closed(self) -> None:
        if self.record.closed_at is None:
            self.record.closed_at = time.monotonic()

    def read_request(self) -> bytes | None:
        """The next request's body on this connection (keep-alive); ``None`` when the client
        closed it instead."""
        body = _read_request(self._sock)
        if body is None:
            self._client_closed()
        return body

    def hold(self, seconds: float = MAX_SCRIPT_SECONDS) -> bool:
        """Wait ``seconds`` unless the client hangs up first; True while it is open and the
        script has time left (``MAX_SCRIPT_SECONDS``). What the client sends meanwhile is read
        and dropped."""
        until = min(time.monotonic() + seconds, self._until)
        while self.open:
            left = until - time.monotonic()
            if left <= 0:
                return time.monotonic() < self._until  # the script's time is up: stop
            readable, _, _ = select.select([self._sock], [], [], min(left, 0.05))
            if not readable:
                continue
            try:
                data = self._sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self._client_closed()
        return False

    def send(self, data: bytes) -> bool:
        """Send ``data`` at once; True while the client is still there."""
        if not self.open:
            return False
        try:
            self._sock.sendall(data)
        except TimeoutError:  # the client stopped reading but is still connected
            return False
        except OSError:
            self._client_closed()
            return False
        self.record.bytes_sent += len(data)
        return True

    def drip(self, data: bytes, interval: float, *, chunk: int = 1) -> bool:
        """Send ``data`` ``chunk`` bytes at a time, ``interval`` seconds apart."""
        for start in range(0, len(data), chunk):
            if not self.send(data[start : start + chunk]) or not self.hold(interval):
                return False
        return True

    def repeat(self, data: bytes, interval: float) -> None:
        """Send ``data`` again and again, ``interval`` seconds apart, until the client leaves."""
        while self.send(data) and self.hold(interval):
            pass


Script = Callable[[Wire, bytes], None]


def _read_request(sock: socket.socket) -> bytes | None:
    """The request's headers and ``Content-Length`` body (bounded), or ``None`` on EOF."""
    data = b""
    sock.settimeout(5)
    try:
        while b"\r\n\r\n" not in data and len(data) < MAX_REQUEST_BYTES:
            part = sock.recv(4096)
            if not part:
                return None
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = min(int(value.strip() or b"0"), MAX_REQUEST_BYTES)
        while len(body) < length:
            part = sock.recv(4096)
            if not part:
                return None
            body += part
    except (OSError, ValueError):
        return None
    finally:
        sock.settimeout(5)  # bounds every later send (a client that stopped reading)
    return body


class HostilePeer:
    """A TCP server on 127.0.0.1:<ephemeral> that runs ``script`` on every connection."""

    def __init__(self, script: Script, *, read_request: bool = True, scheme: str = "http") -> None:
        self._script = script
        self._read_request = read_request
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[PeerConnection] = []
        #: Exceptions raised by the script (a test should assert there are none).
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=32)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}/ocsp"
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def connections(self) -> list[PeerConnection]:
        with self._lock:
            return list(self._connections)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            record = PeerConnection(accepted_at=time.monotonic())
            with self._lock:
                self._connections.append(record)
            thread = threading.Thread(target=self._serve, args=(sock, record), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, record: PeerConnection) -> None:
        with sock:
            body = b""
            if self._read_request:
                request = _read_request(sock)
                if request is None:
                    record.closed_at = time.monotonic()
                    return
                body, record.request_at, record.request = request, time.monotonic(), request
            if not self._read_request:
                sock.settimeout(5)
            wire = Wire(sock, record, self._stop)
            try:
                self._script(wire, body)
            except OSError:
                pass
            except Exception as exc:  # a broken script must be visible to the test
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def wait_closed(self, count: int, *, timeout: float = 5.0) -> list[PeerConnection]:
        """The first ``count`` connections once the client closed each (bounded wait)."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            found = self.connections
            if len(found) >= count and all(c.closed_at is not None for c in found[:count]):
                break
            time.sleep(0.01)
        return self.connections[:count]

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._accepting.join(timeout=5)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> HostilePeer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- scripts ------------------------------------------------------------------------------------

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def drip_status_line(interval: float = 0.05) -> Script:
    """The status line one byte at a time, forever (it never ends)."""

    def script(wire: Wire, _body: bytes) -> None:
        wire.drip(b"HTTP/1.1 200 " + b"O" * 100_000, interval)

    return script


def drip_headers(interval: float = 0.05) -> Script:
    """A status line at once, then header bytes one at a time, forever."""

    def script(wire: Wire, _body: bytes) -> None:
        if wire.send(OK_HEAD):
            wire.drip(b"X-Padding: " + b"a" * 100_000, interval)

    return script


def endless_continue(interval: float = 0.0) -> Script:
    """``100 Continue`` after ``100 Continue``, ``interval`` seconds apart, forever."""
    return lambda wire, _body: wire.repeat(CONTINUE, interval)


def hold_after_request() -> Script:
    """Reads the request and answers nothing, keeping the connection open."""

    def script(wire: Wire, _body: bytes) -> None:
        wire.hold()

    return script


def send_then_hold(data: bytes) -> Script:
    """Sends ``data`` at once, then keeps the connection open."""

    def script(wire: Wire, _body: bytes) -> None:
        if wire.send(data):
            wire.hold()

    return script


def drip_chunked_body(interval: float = 0.05) -> Script:
    """A 200 with a chunked body of one-byte chunks, one chunk per ``interval``, forever."""

    def script(wire: Wire, _body: bytes) -> None:
        if wire.send(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"):
            wire.repeat(b"1\r\n0\r\n", interval)

    return script


def drip_tls_handshake(interval: float = 0.05) -> Script:
    """(``read_request=False``) Takes the ClientHello, then drips a TLS handshake record that
    announces 16 KB, one byte at a time."""

    def script(wire: Wire, _body: bytes) -> None:
        wire.hold(0.05)  # the ClientHello arrives and is dropped
        wire.drip(b"\x16\x03\x03\x40\x00" + b"\x02" * 16_384, interval)

    return script


def answer_after(interims: int, answer: Callable[[bytes], bytes]) -> Script:
    """``interims`` times ``100 Continue``, then a 200 whose body is ``answer(request_body)``."""

    def script(wire: Wire, body: bytes) -> None:
        der = answer(body)
        head = OK_HEAD + f"Content-Length: {len(der)}\r\nConnection: close\r\n\r\n".encode()
        if wire.send(CONTINUE * interims + head + der):
            wire.hold(1.0)

    return script


# -- the categories the deadline tests run (transport and handler) -----------------------------


@dataclass(frozen=True)
class Category:
    """A way to stall or break an exchange. ``outage``: the peer never completes an answer, so
    the deadline ends it (TIMEOUT, the fail mode applies); otherwise the peer sends broken HTTP
    that the client refuses at once (PROTOCOL_ERROR, always a denial)."""

    script: Script
    outage: bool
    read_request: bool = True
    scheme: str = "http"


TOO_MANY_HEADERS = OK_HEAD + b"X-A: 1\r\n" * (MAX_HEADER_LINES + 1) + b"\r\n"

CATEGORIES: dict[str, Category] = {
    "drip-status-line": Category(drip_status_line(), outage=True),
    "drip-headers": Category(drip_headers(), outage=True),
    "drip-chunked-body": Category(drip_chunked_body(), outage=True),
    "hold-after-request": Category(hold_after_request(), outage=True),
    "never-reads-request": Category(hold_after_request(), outage=True, read_request=False),
    # one 100 Continue every 0.8 s: fewer than the limit before the deadline
    "slow-100-continue": Category(endless_continue(0.8), outage=True),
    "drip-tls-handshake": Category(
        drip_tls_handshake(), outage=True, read_request=False, scheme="https"
    ),
    "endless-100-continue": Category(endless_continue(), outage=False),
    "too-many-header-lines": Category(send_then_hold(TOO_MANY_HEADERS), outage=False),
    "status-line-too-long": Category(
        send_then_hold(b"HTTP/1.1 200 " + b"O" * (MAX_LINE_BYTES + 10)), outage=False
    ),
    "header-line-too-long": Category(
        send_then_hold(OK_HEAD + b"X-A: " + b"a" * (MAX_LINE_BYTES + 10)), outage=False
    ),
}
