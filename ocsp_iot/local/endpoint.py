"""A local look-alike of an AWS IoT Core custom-domain endpoint with both features of this
library: custom client certificate validation (the pre-auth Lambda) and OCSP stapling.

``LocalEndpoint`` listens on loopback only and, for every connection:

1. requires TLS (1.2 or 1.3) with SNI equal to its ``server_name`` (no SNI, or another name,
   fails the handshake with a ``handshake_failure`` alert) and a client certificate (the client
   must prove it holds the key; the chain itself is *not* judged by TLS);
2. staples the current OCSP answer about its server certificate when the client asks for one
   (``status_request``), from a :class:`~ocsp_iot.local.staple.StapleRefresher`;
3. right after the handshake, builds the documented pre-auth event from the chain exactly as the
   client sent it and calls the very same ``preauth_handler.handler`` the Lambda runs, with the
   environment given as ``preauth_env`` (see :class:`ocsp_iot._lambda.PreauthEnvironment`);
4. forwards an allowed connection to the MQTT broker on loopback (plain TCP, byte for byte);
   closes a denied one (``close_notify``) before any byte reaches the broker.

The decision is taken after the handshake rather than inside it (OpenSSL's verify callback),
because only then is the chain the one the client sent: inside the handshake OpenSSL hands out
the chain *it built*, reordered, with unrelated certificates dropped. IoT Core decides "in the
TLS layer"; with TLS 1.3 (what devices negotiate) a client learns of the refusal only after its
own Finished either way, so the two look alike on the wire.

Each connection has its own thread; sockets are non-blocking and every wait is a ``poll`` with
a deadline, so a client that never sends a ClientHello only ties up its own thread until
``handshake_timeout``. The port also accepts a minimal SOCKS5 CONNECT (no authentication) in
front of TLS, so a client such as ``mosquitto_pub --proxy socks5h://127.0.0.1:PORT -h NAME`` can
send a DNS name as SNI without any DNS entry; the SOCKS target is ignored.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import ipaddress
import logging
import select
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from ocsp_iot._lambda import (
    ConfigError,
    LambdaContext,
    PreauthEnvironment,
    call_preauth,
    check_preauth_environment,
)
from ocsp_iot._net import wait_for
from ocsp_iot.device import PrivateKey, key_matches
from ocsp_iot.local.staple import DEFAULT_REFRESH_SECONDS, StapleRefresher, StapleSource

_log = logging.getLogger("ocsp_iot.local.endpoint")

#: Bytes buffered per direction while relaying (back-pressure beyond that).
RELAY_BUFFER_BYTES = 65_536
#: How long a refused connection is drained after our alert/close_notify, so the client reads
#: it instead of a TCP reset (closing with unread data makes the kernel send RST).
CLOSE_LINGER_SECONDS = 1.0
_SOCKS_VERSION = 0x05
_TLS_HANDSHAKE_RECORD = 0x16
_WANT = (SSL.WantReadError, SSL.WantWriteError)


class Outcome(enum.StrEnum):
    """What became of one connection."""

    #: the pre-auth handler allowed it; it was forwarded to the broker
    ALLOWED = "ALLOWED"
    #: the pre-auth handler denied it; closed after the handshake
    DENIED = "DENIED"
    #: no SNI, or SNI naming another endpoint
    REFUSED_SNI = "REFUSED_SNI"
    #: the client sent no certificate
    NO_CLIENT_CERT = "NO_CLIENT_CERT"
    #: any other handshake failure (no shared version or cipher, bad CertificateVerify, ...)
    HANDSHAKE_FAILED = "HANDSHAKE_FAILED"
    #: no complete handshake within ``handshake_timeout``
    TIMEOUT = "TIMEOUT"
    #: allowed, but the broker could not be reached
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
    #: more than ``max_connections`` at once
    OVER_CAPACITY = "OVER_CAPACITY"


@dataclass(frozen=True)
class ConnectionRecord:
    """One connection's outcome, given to ``on_connection`` once it is decided."""

    connection_id: str
    peer: str
    outcome: Outcome
    server_name: str | None = None
    #: The handler's reason (``GOOD``, ``REVOKED``, ...) or, when refused before it, why.
    reason: str | None = None
    detail: str = ""
    tls_version: str | None = None
    #: The client asked for a staple (``status_request``) and whether one was sent.
    status_requested: bool = False
    stapled: bool = False
    principal_id: str | None = None
    #: Subjects of the chain the client sent, leaf first.
    chain_subjects: tuple[str, ...] = ()
    #: From the accept to the completed (or failed) handshake.
    handshake_ms: float | None = None
    #: The pre-auth handler's own time (its invocation only).
    decision_ms: float | None = None
    #: From the completed handshake to the decision: what the check adds to a connection,
    #: including the wait for the handler (its invocations are serialized).
    check_ms: float | None = None


class Recorder:
    """An ``on_connection`` callback that keeps every :class:`ConnectionRecord` (thread-safe),
    so a caller can wait for the records its own clients caused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[ConnectionRecord] = []

    def __call__(self, record: ConnectionRecord) -> None:
        with self._lock:
            self._records.append(record)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def since(self, index: int) -> list[ConnectionRecord]:
        """The records after the first ``index``."""
        with self._lock:
            return list(self._records[index:])

    def wait(self, index: int, count: int = 1, timeout: float = 20.0) -> list[ConnectionRecord]:
        """The records since ``index`` once there are ``count`` (the endpoint reports a refusal
        in the handshake right after sending its alert, so a client may finish first);
        whatever there is after ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self) - index < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.since(index)


@dataclass
class _State:
    """Per-connection facts the OpenSSL callbacks fill in."""

    connection_id: str
    server_name: str | None = None
    sni_problem: str | None = None
    status_requested: bool = False
    stapled: bool = False


class EndpointError(Exception):
    """The endpoint cannot start with the configuration given."""


def _loopback(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        msg = f"host must be a loopback IP address such as 127.0.0.1, got {host!r}"
        raise EndpointError(msg) from exc
    if not address.is_loopback:
        msg = f"host must be a loopback address (the endpoint is local only), got {host!r}"
        raise EndpointError(msg)
    return host


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except Exception:  # a name cryptography cannot render
        return "<unreadable subject>"


class LocalEndpoint:
    """An IoT Core custom-domain look-alike on loopback; use as a context manager.

    :param server_name: the endpoint's domain name; clients must send it as SNI.
    :param certificate: the server certificate presented for ``server_name``.
    :param chain: certificates sent after it, its issuer first (the issuer must be the first
        one when stapling, as IoT Core requires the CA in the domain's chain).
    :param private_key: the server certificate's key.
    :param broker: ``(host, port)`` of the MQTT broker allowed connections are forwarded to.
    :param preauth_env: the pre-auth handler's environment (``TRUSTED_CA_PEM``,
        ``OCSP_ALLOWED_URLS``, ...: docs/preauth-lambda.md). Applied to the process while the
        endpoint runs; it must be valid (else :class:`EndpointError` listing every problem).
    :param staple_source: where staples come from (the stapling Lambda's contract); ``None``:
        never staple.
    :param staple_refresh_seconds: how often the staple is refreshed (IoT Core: hourly).
    :param host: the loopback address to listen on. :param port: ``0`` picks a free port.
    :param handshake_timeout: seconds a client has from connecting to a completed handshake.
    :param max_connections: connections served at once; more are closed at once.
    :param on_connection: called (from the connection's thread) with each decided
        :class:`ConnectionRecord`; it must not block.
    :param lambda_timeout_seconds: what the handler's context reports as its timeout.
    """

    def __init__(
        self,
        *,
        server_name: str,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        private_key: PrivateKey,
        broker: tuple[str, int],
        preauth_env: Mapping[str, str],
        staple_source: StapleSource | None = None,
        staple_refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        host: str = "127.0.0.1",
        port: int = 0,
        handshake_timeout: float = 10.0,
        max_connections: int = 1024,
        on_connection: Callable[[ConnectionRecord], None] | None = None,
        lambda_timeout_seconds: float = 4.0,
    ) -> None:
        if not server_name or server_name != server_name.strip():
            msg = f"server_name must be a DNS name, got {server_name!r}"
            raise EndpointError(msg)
        if not key_matches(certificate, private_key):
            msg = "private_key does not match the server certificate"
            raise EndpointError(msg)
        if handshake_timeout <= 0 or max_connections < 1:
            msg = "handshake_timeout must be above 0 and max_connections at least 1"
            raise EndpointError(msg)
        self.server_name = server_name
        self.host = _loopback(host)
        self._requested_port = port
        self.broker = (_loopback(broker[0]), broker[1])
        self.handshake_timeout = handshake_timeout
        self.on_connection = on_connection
        self.lambda_timeout_seconds = lambda_timeout_seconds
        try:
            self._environment = PreauthEnvironment(preauth_env)
            check_preauth_environment(preauth_env)
        except ValueError as exc:
            raise EndpointError(str(exc)) from exc
        except ConfigError as exc:
            msg = "the pre-auth handler's environment is invalid: " + "; ".join(exc.problems)
            raise EndpointError(msg) from exc
        self.staples: StapleRefresher | None = None
        if staple_source is not None:
            if not chain:
                msg = "stapling needs the server certificate's issuer as the first chain entry"
                raise EndpointError(msg)
            try:
                certificate.verify_directly_issued_by(chain[0])
            except Exception as exc:
                msg = "stapling needs the server certificate's issuer as the first chain entry"
                raise EndpointError(msg) from exc
            self.staples = StapleRefresher(
                source=staple_source,
                certificate=certificate,
                issuer=chain[0],
                refresh_seconds=staple_refresh_seconds,
            )
        self._context = self._server_context(certificate, chain, private_key)
        # Switched to for a wrong or missing SNI: it has no certificate, so the handshake fails
        # with a handshake_failure alert (the servername callback cannot abort by itself).
        self._refuse_context = SSL.Context(SSL.TLS_SERVER_METHOD)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._active: dict[int, socket.socket] = {}
        self._threads: set[threading.Thread] = set()
        self._stats: Counter[str] = Counter()
        self._handshaking = 0
        self._peaks: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread: threading.Thread | None = None
        self._env_entered = False

    # -- set-up ----------------------------------------------------------------------------
    def _server_context(
        self,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        key: PrivateKey,
    ) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.use_certificate(certificate)
        for extra in chain:
            ctx.add_extra_chain_cert(extra)
        ctx.use_privatekey(key)
        ctx.check_privatekey()
        # A certificate is required; whether it is trusted is the pre-auth handler's call.
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, self._on_verify)
        ctx.set_tlsext_servername_callback(self._on_servername)
        ctx.set_ocsp_server_callback(self._on_status_request)
        # No resumption: every connection presents its certificate and is decided afresh.
        ctx.set_options(SSL.OP_NO_TICKET)
        ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        return ctx

    @property
    def port(self) -> int:
        if self._listener is None:
            msg = "the endpoint is not started"
            raise RuntimeError(msg)
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def open_connections(self) -> int:
        """Client connections being served right now (handshaking, deciding or relaying)."""
        with self._lock:
            return len(self._threads)

    def stats(self) -> Counter[str]:
        """Connections by :class:`Outcome`, plus ``broker_connections`` opened."""
        with self._lock:
            return Counter(self._stats)

    def peaks(self, *, reset: bool = False) -> dict[str, int]:
        """The most connections served at once (``connections``) and the most of them in their
        TLS handshake at once (``handshakes``: from the accept to the handshake's end) since
        the start or the last ``reset``."""
        with self._lock:
            peaks = {
                "connections": self._peaks["connections"],
                "handshakes": self._peaks["handshakes"],
            }
            if reset:
                self._peaks = Counter(connections=len(self._threads), handshakes=self._handshaking)
            return peaks

    def _handshake_started(self, started: bool) -> None:
        with self._lock:
            self._handshaking += 1 if started else -1
            self._peaks["handshakes"] = max(self._peaks["handshakes"], self._handshaking)

    def start(self, *, staple_wait_seconds: float = 10.0) -> LocalEndpoint:
        """Apply the handler's environment, start the staple refresher (waiting up to
        ``staple_wait_seconds`` for its first answer) and start accepting connections."""
        self._environment.__enter__()
        self._env_entered = True
        try:
            self._wake = socket.socketpair()
            if self.staples is not None:
                self.staples.start()
                self.staples.first_refresh_done.wait(staple_wait_seconds)
            listener = socket.create_server((self.host, self._requested_port), backlog=1024)
            listener.setblocking(False)
            self._listener = listener
        except BaseException:
            self.stop()
            raise
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="ocsp-iot-endpoint-accept", daemon=True
        )
        self._accept_thread.start()
        _log.info(
            "endpoint %s listening on %s:%d, forwarding to %s:%d",
            self.server_name,
            self.host,
            self.port,
            *self.broker,
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, end every live connection, stop the refresher, restore the
        environment. Waits at most ``timeout`` seconds for the connection threads."""
        self._stopping.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake[1].send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            sockets = list(self._active.values())
            threads = list(self._threads)
        for sock in sockets:  # wakes every poll(); the threads then exit
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = [t for t in threads if t.is_alive()]
        if left:
            _log.warning("%d connection threads still running after %g s", len(left), timeout)
        if self.staples is not None:
            self.staples.stop()
        if self._listener is not None:
            self._listener.close()
        if self._wake is not None:
            for end in self._wake:
                end.close()
            self._wake = None
        if self._env_entered:
            self._env_entered = False
            self._environment.__exit__(None, None, None)

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- OpenSSL callbacks (run inside do_handshake, in the connection's thread) -------------
    @staticmethod
    def _state(conn: SSL.Connection) -> _State:
        state = conn.get_app_data()
        if not isinstance(state, _State):  # pragma: no cover - set on every connection
            msg = "connection without state"
            raise TypeError(msg)
        return state

    def _on_servername(self, conn: SSL.Connection) -> None:
        state = self._state(conn)
        raw = conn.get_servername()
        name = raw.decode("ascii", errors="replace") if raw is not None else None
        state.server_name = name
        if name is None:
            state.sni_problem = "the client sent no SNI"
        elif name.lower() != self.server_name.lower():
            state.sni_problem = f"SNI {name[:100]!r} is not {self.server_name}"
        if state.sni_problem is not None:
            conn.set_context(self._refuse_context)

    def _on_status_request(self, conn: SSL.Connection, _data: object) -> bytes:
        state = self._state(conn)
        state.status_requested = True
        der = self.staples.current_der() if self.staples is not None else b""
        state.stapled = bool(der)
        return der

    @staticmethod
    def _on_verify(
        _conn: SSL.Connection, _cert: object, _errno: int, _depth: int, _ok: int
    ) -> bool:
        return True  # trust is decided by the pre-auth handler on the chain as sent

    # -- accepting -------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake
        if listener is None or wake is None:  # pragma: no cover - started only after both
            return
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        poller.register(wake[0], select.POLLIN)
        while not self._stopping.is_set():
            events = dict(poller.poll())
            if self._stopping.is_set() or wake[0].fileno() in events:
                return
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                _log.warning("accept failed: %s", exc)
                time.sleep(0.05)
                continue
            self._admit(sock, f"{peer[0]}:{peer[1]}")

    def _admit(self, sock: socket.socket, peer: str) -> None:
        if not self._slots.acquire(blocking=False):
            sock.close()
            self._report(ConnectionRecord(uuid.uuid4().hex, peer, Outcome.OVER_CAPACITY))
            return
        thread = threading.Thread(
            target=self._serve, args=(sock, peer), name="ocsp-iot-endpoint-conn", daemon=True
        )
        with self._lock:
            self._active[sock.fileno()] = sock
            self._threads.add(thread)
            self._peaks["connections"] = max(self._peaks["connections"], len(self._threads))
        thread.start()

    def _report(self, record: ConnectionRecord) -> None:
        with self._lock:
            self._stats[record.outcome.value] += 1
        level = logging.INFO if record.outcome is Outcome.ALLOWED else logging.WARNING
        _log.log(
            level,
            "[%s] %s %s: %s %s",
            record.connection_id[:8],
            record.peer,
            record.outcome.value,
            record.reason or "",
            record.detail,
        )
        if self.on_connection is not None:
            try:
                self.on_connection(record)
            except Exception:
                _log.exception("on_connection raised")

    # -- one connection --------------------------------------------------------------------
    def _serve(self, sock: socket.socket, peer: str) -> None:
        fileno = sock.fileno()
        try:
            self._serve_connection(sock, peer)
        except Exception:  # never let a connection thread die with a traceback on stderr
            _log.exception("connection from %s failed unexpectedly", peer)
        finally:
            sock.close()
            with self._lock:
                self._active.pop(fileno, None)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def _serve_connection(self, sock: socket.socket, peer: str) -> None:
        started = time.monotonic()
        deadline = started + self.handshake_timeout
        state = _State(connection_id=str(uuid.uuid4()))
        sock.setblocking(False)
        # A relay of small MQTT packets: without this, a packet written while the previous
        # segment (e.g. TLS 1.3's NewSessionTicket) awaits the client's delayed ACK waits ~40 ms.
        _no_delay(sock)

        def record(outcome: Outcome, **fields: Any) -> ConnectionRecord:
            fields.setdefault("handshake_ms", round((time.monotonic() - started) * 1000, 2))
            return ConnectionRecord(
                state.connection_id,
                peer,
                outcome,
                server_name=state.server_name,
                status_requested=state.status_requested,
                stapled=state.stapled,
                **fields,
            )

        self._handshake_started(True)
        try:
            conn = self._handshake_socks_and_tls(sock, state, deadline, record)
        finally:
            self._handshake_started(False)
        if conn is None:
            return
        handshake_done = time.monotonic()
        allowed, decided = self._decide(conn, state)
        decided["handshake_ms"] = round((handshake_done - started) * 1000, 2)
        decided["check_ms"] = round((time.monotonic() - handshake_done) * 1000, 2)
        if not allowed:
            self._report(record(Outcome.DENIED, **decided))
            _close_notify(conn)
            _drain_and_close(sock)
            return
        try:
            backend = socket.create_connection(self.broker, timeout=5)
        except OSError as exc:
            decided["detail"] = f"broker {self.broker[0]}:{self.broker[1]}: {exc}"
            self._report(record(Outcome.BROKER_UNAVAILABLE, **decided))
            _close_notify(conn)
            _drain_and_close(sock)
            return
        with self._lock:
            self._stats["broker_connections"] += 1
            self._active[backend.fileno()] = backend
        self._report(record(Outcome.ALLOWED, **decided))
        try:
            _no_delay(backend)
            backend.setblocking(False)
            _Relay(conn, sock, backend, self._stopping).run()
        finally:
            with self._lock:
                self._active.pop(backend.fileno(), None)
            backend.close()

    def _handshake_socks_and_tls(
        self,
        sock: socket.socket,
        state: _State,
        deadline: float,
        record: Callable[..., ConnectionRecord],
    ) -> SSL.Connection | None:
        """The SOCKS5 preamble (if any) and the TLS handshake; ``None`` (reported) when either
        fails."""
        try:
            self._maybe_socks5(sock, deadline)
        except TimeoutError:
            self._report(record(Outcome.TIMEOUT, detail="no TLS handshake started in time"))
            return None
        except (OSError, ValueError) as exc:
            self._report(record(Outcome.HANDSHAKE_FAILED, detail=f"before TLS: {exc}"))
            return None
        conn = SSL.Connection(self._context, sock)
        conn.set_app_data(state)
        conn.set_accept_state()
        try:
            self._handshake(conn, sock, deadline)
        except TimeoutError:
            self._report(record(Outcome.TIMEOUT, detail="handshake not completed in time"))
            return None
        except (SSL.Error, OSError) as exc:
            self._report(self._handshake_failure(state, exc, record))
            _drain_and_close(sock)
            return None
        return conn

    def _decide(self, conn: SSL.Connection, state: _State) -> tuple[bool, dict[str, Any]]:
        """Build the pre-auth event from the chain exactly as the client sent it (on the
        server side OpenSSL keeps the leaf apart from the rest) and ask the handler."""
        leaf = conn.get_peer_certificate(as_cryptography=True)
        sent = [leaf, *(conn.get_peer_cert_chain(as_cryptography=True) or [])] if leaf else []
        # UNCONFIRMED what IoT Core puts in principalId; the IoT certificate ID is our guess.
        principal = hashlib.sha256(sent[0].public_bytes(Encoding.DER)).hexdigest() if sent else ""
        event = {
            "connectionMetadata": {"id": state.connection_id},
            "principalId": principal,
            "serverName": state.server_name or "",
            "clientCertificateChain": [c.public_bytes(Encoding.PEM).decode() for c in sent],
        }
        result = call_preauth(
            event,
            LambdaContext(
                function_name="ocsp-iot-local-preauth",
                timeout_seconds=self.lambda_timeout_seconds,
            ),
        )
        return result.allowed, {
            "reason": result.reason,
            "detail": result.detail,
            "tls_version": conn.get_protocol_version_name(),
            "principal_id": principal,
            "chain_subjects": tuple(_subject(c) for c in sent),
            "decision_ms": round(result.seconds * 1000, 2),
        }

    @staticmethod
    def _handshake_failure(
        state: _State, exc: Exception, record: Callable[..., ConnectionRecord]
    ) -> ConnectionRecord:
        text = str(exc)
        if state.sni_problem is not None:
            return record(Outcome.REFUSED_SNI, reason="SNI", detail=state.sni_problem)
        if "peer did not return a certificate" in text or "PEER_DID_NOT_RETURN" in text.upper():
            return record(
                Outcome.NO_CLIENT_CERT, reason="NO_CLIENT_CERT", detail="no client certificate"
            )
        return record(Outcome.HANDSHAKE_FAILED, detail=text[:300])

    def _maybe_socks5(self, sock: socket.socket, deadline: float) -> None:
        """Serve a SOCKS5 CONNECT (RFC 1928, no authentication) if that is what the client
        speaks first; then TLS follows on the same socket."""
        first = _recv_exact(sock, 1, deadline, peek=True)
        if first[0] != _SOCKS_VERSION:
            return
        _, methods = _recv_exact(sock, 2, deadline)
        offered = _recv_exact(sock, methods, deadline)
        if 0x00 not in offered:
            _send_all(sock, b"\x05\xff", deadline)
            msg = "SOCKS5 client offers no 'no authentication' method"
            raise ValueError(msg)
        _send_all(sock, b"\x05\x00", deadline)
        version, command, _, address_type = _recv_exact(sock, 4, deadline)
        if version != _SOCKS_VERSION or command != 0x01:
            _send_all(sock, b"\x05\x07\x00\x01" + bytes(6), deadline)
            msg = f"SOCKS5 command {command} is not CONNECT"
            raise ValueError(msg)
        if address_type == 0x03:
            target = _recv_exact(sock, _recv_exact(sock, 1, deadline)[0], deadline).decode(
                "ascii", errors="replace"
            )
        elif address_type in (0x01, 0x04):
            raw = _recv_exact(sock, 4 if address_type == 0x01 else 16, deadline)
            target = str(ipaddress.ip_address(raw))
        else:
            msg = f"SOCKS5 address type {address_type} is unknown"
            raise ValueError(msg)
        port = int.from_bytes(_recv_exact(sock, 2, deadline), "big")
        _log.debug("SOCKS5 CONNECT %s:%d (served here)", target, port)
        _send_all(sock, b"\x05\x00\x00\x01" + bytes(6), deadline)

    @staticmethod
    def _handshake(conn: SSL.Connection, sock: socket.socket, deadline: float) -> None:
        while True:
            try:
                conn.do_handshake()
            except SSL.WantReadError:
                wait_for(sock, select.POLLIN, deadline)
            except SSL.WantWriteError:
                wait_for(sock, select.POLLOUT, deadline)
            else:
                return


# -- socket helpers --------------------------------------------------------------------------


def _no_delay(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _recv_exact(sock: socket.socket, n: int, deadline: float, *, peek: bool = False) -> bytes:
    data = b""
    while len(data) < n:
        wait_for(sock, select.POLLIN, deadline)
        try:
            chunk = sock.recv(n - len(data), socket.MSG_PEEK if peek else 0)
        except BlockingIOError:
            continue
        if not chunk:
            msg = "the client closed the connection"
            raise ConnectionError(msg)
        if peek:
            return chunk
        data += chunk
    return data


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
    while data:
        wait_for(sock, select.POLLOUT, deadline)
        try:
            data = data[sock.send(data) :]
        except BlockingIOError:
            continue


def _close_notify(conn: SSL.Connection) -> None:
    with contextlib.suppress(SSL.Error, OSError):
        conn.shutdown()


def _drain_and_close(sock: socket.socket, linger: float = CLOSE_LINGER_SECONDS) -> None:
    """Send FIN, then read and discard until the client closes or ``linger`` passes, so our
    alert or close_notify reaches the client instead of a reset."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        while True:
            wait_for(sock, select.POLLIN, deadline)
            try:
                if not sock.recv(65_536):
                    return
            except BlockingIOError:
                continue
    except (OSError, TimeoutError):
        return


@dataclass
class _Relay:
    """Single-threaded, bidirectional relay between the TLS client and the broker (an SSL
    object must not be used from two threads), with bounded buffers both ways."""

    conn: SSL.Connection
    sock: socket.socket
    backend: socket.socket
    stopping: threading.Event
    to_broker: bytes = b""
    to_client: bytes = b""
    client_eof: bool = False
    broker_eof: bool = False
    ssl_wants: int = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                moved = self._step()
            except (SSL.Error, OSError):
                return
            if (self.client_eof and not self.to_broker) or (self.broker_eof and not self.to_client):
                if self.broker_eof:
                    _close_notify(self.conn)
                return
            if not moved:
                self._wait()

    def _step(self) -> bool:
        self.ssl_wants = 0
        moved = self._from_client()
        moved = self._to_client() or moved
        return self._broker_side() or moved

    def _from_client(self) -> bool:
        if self.client_eof or len(self.to_broker) >= RELAY_BUFFER_BYTES:
            return False
        try:
            self.to_broker += self.conn.recv(RELAY_BUFFER_BYTES)
        except SSL.WantReadError:
            self.ssl_wants |= select.POLLIN
        except SSL.WantWriteError:
            self.ssl_wants |= select.POLLOUT
        except (SSL.ZeroReturnError, SSL.SysCallError):
            self.client_eof = True
        else:
            return True
        return self.client_eof

    def _to_client(self) -> bool:
        if not self.to_client:
            return False
        try:
            sent = self.conn.send(self.to_client[:RELAY_BUFFER_BYTES])
        except SSL.WantWriteError:
            self.ssl_wants |= select.POLLOUT
        except SSL.WantReadError:
            self.ssl_wants |= select.POLLIN
        else:
            self.to_client = self.to_client[sent:]
            return True
        return False

    def _broker_side(self) -> bool:
        moved = False
        if not self.broker_eof and len(self.to_client) < RELAY_BUFFER_BYTES:
            try:
                data = self.backend.recv(RELAY_BUFFER_BYTES)
            except BlockingIOError:
                pass
            else:
                self.to_client += data
                self.broker_eof = not data
                moved = True
        if self.to_broker:
            try:
                sent = self.backend.send(self.to_broker)
            except BlockingIOError:
                pass
            else:
                self.to_broker = self.to_broker[sent:]
                moved = True
        return moved

    def _wait(self) -> None:
        if self.conn.pending():
            return
        client = self.ssl_wants
        if not self.client_eof and len(self.to_broker) < RELAY_BUFFER_BYTES:
            client |= select.POLLIN
        if self.to_client:
            client |= select.POLLOUT
        broker = 0
        if not self.broker_eof and len(self.to_client) < RELAY_BUFFER_BYTES:
            broker |= select.POLLIN
        if self.to_broker:
            broker |= select.POLLOUT
        poller = select.poll()
        if client:
            poller.register(self.sock, client)
        if broker:
            poller.register(self.backend, broker)
        poller.poll(5_000)
