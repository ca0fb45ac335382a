"""HTTP servers on 127.0.0.1 with scripted behaviour, for the Lambda tests.

- ``LoopbackServer``: a ``ThreadingHTTPServer`` on ``("127.0.0.1", 0)`` in a daemon thread. Every
  request is recorded (``.requests``); what it answers is a ``Behaviour`` the test sets
  (``server.behaviour = ...``): a callable ``(RecordedRequest) -> Reply``. A ``Reply`` can delay,
  drip its body byte by byte, lie about its length, or stream an unbounded body.
- ``RawListener``: a bare TCP listener that only counts connections (SSRF tests).
- ``fixed``: a behaviour that always sends one ``Reply`` (``forge.answer_with`` signs answers).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .pki import Issued, Pki, utcnow

OCSP_RESPONSE_TYPE = "application/ocsp-response"
#: Upper bound for any single wait inside a server thread (a test never needs more).
MAX_WAIT_SECONDS = 30.0
#: The most a server reads from a request body.
MAX_REQUEST_BYTES = 65536


# --------------------------------------------------------------------------------------------
# Loopback HTTP server with scripted behaviour
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    @property
    def ocsp_der(self) -> bytes | None:
        """The DER OCSP request carried by a POST body or a GET path (RFC 6960 A.1)."""
        if self.method == "POST":
            return self.body
        tail = self.path.rsplit("/", 1)[-1]
        try:
            return base64.b64decode(urllib.parse.unquote(tail), validate=True)
        except ValueError:
            return None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = OCSP_RESPONSE_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    #: Seconds to wait before sending anything.
    delay: float = 0.0
    #: When > 0, send the body ``drip_chunk`` bytes at a time, this many seconds apart.
    drip_interval: float = 0.0
    drip_chunk: int = 1
    #: Content-Length to announce; ``None`` = ``len(body)``; ``-1`` = no header (close-delimited).
    content_length: int | None = None
    #: Repeat ``body`` this many times (a large body without holding it in memory twice).
    repeat: int = 1
    #: Close the connection without any HTTP answer.
    hang_up: bool = False


Behaviour = Callable[[RecordedRequest], Reply]


def _not_configured(_request: RecordedRequest) -> Reply:
    return Reply(status=503, body=b"no behaviour set", content_type="text/plain")


class LoopbackServer:
    """An HTTP server on 127.0.0.1:<ephemeral> that records requests and replies as told."""

    def __init__(
        self,
        behaviour: Behaviour | None = None,
        *,
        path: str = "/ocsp",
        tls: ssl.SSLContext | None = None,
        keep_alive: bool = False,
    ) -> None:
        """``keep_alive``: answer HTTP/1.1 and keep the connection open between requests (by
        default each answer ends its connection, as HTTP/1.0)."""
        self.behaviour: Behaviour = behaviour or _not_configured
        self._protocol = "HTTP/1.1" if keep_alive else "HTTP/1.0"
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stop = threading.Event()
        self.connections = 0
        #: Exceptions raised by behaviours (a test should assert there are none).
        self.errors: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        if tls is not None:  # handshakes happen on accept; a failed one is dropped quietly
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port: int = self._httpd.server_address[1]
        scheme = "http" if tls is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- recorded traffic ------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self.errors.clear()
            self.connections = 0

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server is closing; True when it is closing."""
        return self._stop.wait(min(seconds, MAX_WAIT_SECONDS))

    # -- request handling ------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = server._protocol
            timeout = 10

            def setup(self) -> None:
                super().setup()
                server._count_connection()

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(min(max(length, 0), MAX_REQUEST_BYTES)))

            def _serve(self, body: bytes) -> None:
                request = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.monotonic(),
                )
                server._record(request)
                try:
                    reply = server.behaviour(request)
                except Exception as exc:  # a broken test setup must be visible, not a hang-up
                    server._record_error(exc)
                    reply = Reply(status=599, body=repr(exc).encode(), content_type="text/plain")
                # A client that gives up mid-answer is exactly what hostile tests expect.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                if reply.delay and server._wait(reply.delay):
                    return
                if reply.hang_up:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                if reply.content_type is not None:
                    self.send_header("Content-Type", reply.content_type)
                total = len(reply.body) * reply.repeat
                if reply.content_length is None:
                    self.send_header("Content-Length", str(total))
                elif reply.content_length >= 0:
                    self.send_header("Content-Length", str(reply.content_length))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                if reply.drip_interval > 0:
                    data = reply.body * reply.repeat
                    for start in range(0, len(data), max(reply.drip_chunk, 1)):
                        self.wfile.write(data[start : start + reply.drip_chunk])
                        self.wfile.flush()
                        if server._wait(reply.drip_interval):
                            return
                    return
                for _ in range(reply.repeat):
                    self.wfile.write(reply.body)

        return Handler


class RawListener:
    """A TCP listener on 127.0.0.1 that never answers; ``connections_seen()`` counts attempts."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/ocsp"

    def connections_seen(self, wait: float = 0.3) -> int:
        """Accept whatever the kernel queued (bounded wait); returns how many connections."""
        count = 0
        self._sock.settimeout(wait)
        while True:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RawListener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (bound then closed: connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/ocsp"


def fixed(reply: Reply) -> Behaviour:
    return lambda _request: reply


def untrusted_tls_context(pki: Pki, directory: Path) -> ssl.SSLContext:
    """A server context whose certificate (for 127.0.0.1) no public CA bundle trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(pki.other_ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utcnow() - dt.timedelta(hours=1))
        .not_valid_after(utcnow() + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(pki.other_ca.key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.pem", directory / "tls.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(Issued(cert, key).key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
