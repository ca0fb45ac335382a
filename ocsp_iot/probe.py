"""``ocsp-iot probe``: connect like a device and say what happened.

It does, as one command, what IoT Core's stapling troubleshooting guide and the walkthrough do
with ``openssl s_client -connect HOST:8883 -servername NAME -status -showcerts``: connect with
SNI (and a client certificate when given), ask for a staple (``status_request``), and report:

- the server certificate (subject, issuer, SANs, validity) and whether its chain verifies for
  the name against ``--ca`` (or the public roots of ``certifi``);
- whether a staple came back and what it says, verified with the Lambda's own core against the
  server certificate's issuer (from the presented chain, or ``--ca``);
- whether the connection was accepted: the handshake completed and the server kept the
  connection open (``--mqtt``: and answered an MQTT CONNECT with a CONNACK of 0).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import select
import socket
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification

from ocsp_iot._mqtt import CONNACK_CODES, DISCONNECT, connect_packet, parse_connack
from ocsp_iot._net import wait_for
from ocsp_iot._progress import progress
from ocsp_iot.check import summarise_answer
from ocsp_iot.device import Device, issued_by, load_device, read_certificates
from ocsp_iot.errors import InputError, MissingExtraError, UnreachableError

if TYPE_CHECKING:
    from OpenSSL import SSL

DEFAULT_PORT = 8883
#: How long the server must keep a finished handshake open to count as accepted.
DEFAULT_WAIT_SECONDS = 1.0


def _ssl() -> Any:
    try:
        from OpenSSL import SSL  # noqa: PLC0415 - optional extra, imported when used
    except ImportError as exc:
        raise MissingExtraError(command="ocsp-iot probe", module="pyOpenSSL", extra="cli") from exc
    return SSL


def parse_target(target: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT`` (default port 8883)."""
    host, port_text = target, ""
    if target.startswith("["):
        end = target.find("]")
        if end < 0:
            raise InputError(f"target {target!r}: missing ']' after the IPv6 address")
        host, rest = target[1:end], target[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InputError(f"target {target!r}: expected :PORT after ']'")
        port_text = rest[1:]
    elif target.count(":") == 1:
        host, port_text = target.split(":")
    if not host:
        raise InputError(f"target {target!r}: no host")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65_536:
        raise InputError(f"target {target!r}: port must be a number from 1 to 65535")
    return host, int(port_text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(cert: x509.Certificate, now: dt.datetime) -> dict[str, Any]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san]
    except (x509.ExtensionNotFound, ValueError):
        names = []
    expired = cert.not_valid_after_utc < now
    early = cert.not_valid_before_utc > now
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "subjectAltNames": names,
        "notBefore": _time(cert.not_valid_before_utc),
        "notAfter": _time(cert.not_valid_after_utc),
        "validNow": not expired and not early,
        "serial": format(cert.serial_number, "x"),
    }


PUBLIC_ROOTS = "public roots (certifi)"


def _public_roots() -> list[x509.Certificate]:
    import certifi  # noqa: PLC0415 - requests' dependency; only needed without --ca

    with warnings.catch_warnings():  # a few public roots predate RFC 5280's serial rules
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return read_certificates(Path(certifi.where()), what="public roots")


def _verify_chain(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    server_name: str | None,
    now: dt.datetime,
) -> tuple[bool, str]:
    if server_name is None:
        return False, "not checked: no server name to check it for"
    try:
        builder = verification.PolicyBuilder().store(verification.Store(list(roots))).time(now)
        subject: x509.GeneralName = (
            x509.IPAddress(ipaddress.ip_address(server_name))
            if _is_ip(server_name)
            else x509.DNSName(server_name)
        )
        verifier = builder.build_server_verifier(subject)  # type: ignore[arg-type]
        verifier.verify(chain[0], list(chain[1:]))
    except verification.VerificationError as exc:
        return False, str(exc)
    except ValueError as exc:
        return False, f"cannot be checked: {exc}"
    return True, f"valid for {server_name}"


@dataclass
class ProbeReport:
    host: str
    port: int
    server_name: str | None
    trust: str
    tls_version: str | None = None
    cipher: str | None = None
    handshake_error: str | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)
    chain_verified: bool = False
    chain_detail: str = ""
    staple: dict[str, Any] | None = None
    accepted: bool = False
    connection_detail: str = ""
    mqtt: dict[str, Any] | None = None
    client_certificate: str | None = None
    require_staple: bool = False
    #: TCP connected, but the server never completed a handshake (exit code 3).
    unreachable: bool = False

    @property
    def staple_ok(self) -> bool:
        return bool(self.staple and self.staple.get("verified") and self.staple["status"] == "GOOD")

    def ok(self) -> bool:
        return self.accepted and (self.staple_ok or not self.require_staple)

    def as_json(self) -> dict[str, Any]:
        return {
            "command": "probe",
            "target": {"host": self.host, "port": self.port},
            "serverNameSent": self.server_name,
            "clientCertificate": self.client_certificate,
            "tls": {"version": self.tls_version, "cipher": self.cipher},
            "handshakeError": self.handshake_error,
            "serverCertificate": self.chain[0] if self.chain else None,
            "chain": [c["subject"] for c in self.chain],
            "verification": {
                "verified": self.chain_verified,
                "detail": self.chain_detail,
                "trust": self.trust,
            },
            "staple": self.staple,
            "accepted": self.accepted,
            "unreachable": self.unreachable,
            "connection": self.connection_detail,
            "mqtt": self.mqtt,
        }

    def as_text(self) -> str:
        lines = [
            f"target:      {self.host}:{self.port}, SNI "
            + (self.server_name if self.server_name else "none"),
            f"client cert: {self.client_certificate or 'none'}",
        ]
        if self.tls_version:
            lines.append(f"tls:         {self.tls_version}, {self.cipher}")
        if self.chain:
            leaf = self.chain[0]
            lines += [
                f"server cert: {leaf['subject']}",
                f"  issuer:    {leaf['issuer']}",
                f"  names:     {', '.join(leaf['subjectAltNames']) or '-'}",
                f"  valid:     {leaf['notBefore']} to {leaf['notAfter']}"
                + ("" if leaf["validNow"] else " (NOT valid now)"),
                f"  chain:     {' <- '.join(c['subject'] for c in self.chain)}",
                f"  verified:  {'yes' if self.chain_verified else 'NO'}, {self.chain_detail}"
                f" (trust: {self.trust})",
            ]
        lines.append(f"staple:      {_staple_text(self.staple)}")
        lines.append(
            f"connection:  {'ACCEPTED' if self.accepted else 'REFUSED'}, {self.connection_detail}"
        )
        return "\n".join(lines)


def _staple_text(staple: dict[str, Any] | None) -> str:
    if staple is None:
        return "none sent"
    if "error" in staple:
        return str(staple["error"])
    if not staple.get("verified"):
        return f"{staple.get('status', '?')} but NOT verified: {staple.get('problem')}"
    text = (
        f"{str(staple['status']).lower()} (verified, signed by the {staple['signer']}), "
        f"thisUpdate {staple['thisUpdate']}, nextUpdate {staple.get('nextUpdate') or 'none'}"
    )
    return text


@dataclass
class _Client:
    """A pyOpenSSL client connection with a deadline on every step."""

    ssl: Any
    sock: socket.socket
    conn: SSL.Connection
    deadline: float
    staple: list[bytes] = field(default_factory=list)

    def handshake(self) -> None:
        while True:
            try:
                self.conn.do_handshake()
            except self.ssl.WantReadError:
                wait_for(self.sock, select.POLLIN, self.deadline)
            except self.ssl.WantWriteError:
                wait_for(self.sock, select.POLLOUT, self.deadline)
            else:
                return

    def send(self, data: bytes) -> None:
        while data:
            try:
                data = data[self.conn.send(data) :]
            except self.ssl.WantWriteError:
                wait_for(self.sock, select.POLLOUT, self.deadline)
            except self.ssl.WantReadError:
                wait_for(self.sock, select.POLLIN, self.deadline)

    def recv(self, until: float) -> bytes:
        """Bytes from the server; ``b""`` if it closed; ``TimeoutError`` at ``until``."""
        while True:
            try:
                return bytes(self.conn.recv(4096))
            except self.ssl.WantReadError:
                wait_for(self.sock, select.POLLIN, until)
            except self.ssl.WantWriteError:
                wait_for(self.sock, select.POLLOUT, until)
            except self.ssl.ZeroReturnError:
                return b""

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self.conn.shutdown()
        self.sock.close()


def _context(ssl: Any, device: Device | None, staple: list[bytes]) -> Any:
    ctx = ssl.Context(ssl.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(ssl.TLS1_2_VERSION)
    ctx.set_verify(ssl.VERIFY_NONE, None)  # verified afterwards, to report rather than abort
    if device is not None and device.key is not None:
        ctx.use_certificate(device.certificate)
        for extra in device.chain:
            ctx.add_extra_chain_cert(extra)
        ctx.use_privatekey(device.key)

    def on_staple(_conn: object, data: bytes, _user: object) -> bool:
        if data:
            staple.append(bytes(data))
        return True  # judged afterwards

    ctx.set_ocsp_client_callback(on_staple)
    return ctx


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        with progress(f"connecting to {host}:{port}"):
            sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise UnreachableError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    except TimeoutError as exc:
        raise UnreachableError(f"{host}:{port}: no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise UnreachableError(f"{host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def run_probe(
    *,
    target: str,
    server_name: str | None = None,
    cert_path: Path | None = None,
    key_path: Path | None = None,
    ca_path: Path | None = None,
    timeout: float = 10.0,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    mqtt: bool = False,
    client_id: str | None = None,
    require_staple: bool = False,
) -> ProbeReport:
    """Probe ``target``; ``InputError``/``UnreachableError`` for bad input or no connection."""
    ssl = _ssl()
    host, port = parse_target(target)
    if key_path is not None and cert_path is None:
        raise InputError("--key needs --cert")
    device = load_device(cert_path, key=key_path, need_key=True) if cert_path else None
    roots = read_certificates(ca_path, what="CA certificate") if ca_path else []
    trust = str(ca_path) if ca_path else PUBLIC_ROOTS
    name = server_name if server_name is not None else (None if _is_ip(host) else host)
    report = ProbeReport(
        host=host, port=port, server_name=name, trust=trust, require_staple=require_staple
    )
    if device is not None:
        report.client_certificate = device.certificate.subject.rfc4514_string()
    sock = _connect(host, port, timeout)
    staple: list[bytes] = []
    conn = ssl.Connection(_context(ssl, device, staple), sock)
    if name is not None:
        conn.set_tlsext_host_name(name.encode("idna") if not _is_ip(name) else name.encode())
    conn.request_ocsp()
    conn.set_connect_state()
    client = _Client(ssl, sock, conn, time.monotonic() + timeout)
    try:
        with progress(f"TLS handshake with {host}:{port}"):
            _exchange(client, report, wait_seconds, mqtt, client_id)
    finally:
        client.close()
    now = dt.datetime.now(dt.UTC)
    chain = conn.get_peer_cert_chain(as_cryptography=True) or []
    report.chain = [_describe(c, now) for c in chain]
    if chain:
        if ca_path is None:
            roots = _public_roots()
        report.chain_verified, report.chain_detail = _verify_chain(chain, roots, name, now)
        report.staple = _staple_summary(staple, chain, roots, now)
    return report


def _exchange(
    client: _Client, report: ProbeReport, wait_seconds: float, mqtt: bool, client_id: str | None
) -> None:
    ssl = client.ssl
    try:
        client.handshake()
    except TimeoutError:
        report.handshake_error = "no complete handshake within the timeout"
        report.connection_detail = "the server did not complete a TLS handshake in time"
        report.unreachable = True
        return
    except (ssl.Error, OSError) as exc:
        report.handshake_error = _ssl_error_text(exc)
        report.connection_detail = f"the handshake failed: {report.handshake_error}"
        return
    report.tls_version = client.conn.get_protocol_version_name()
    report.cipher = client.conn.get_cipher_name()
    try:
        if mqtt:
            _mqtt_exchange(client, report, client_id or f"ocsp-iot-probe-{uuid.uuid4().hex[:8]}")
        else:
            data = client.recv(time.monotonic() + wait_seconds)
            report.accepted = bool(data)
            report.connection_detail = (
                "the server sent data after the handshake"
                if data
                else "the server closed the connection after the handshake"
            )
    except TimeoutError:
        if not mqtt:
            report.accepted = True
            report.connection_detail = (
                f"handshake completed and the server kept the connection open for "
                f"{wait_seconds:g} s"
            )
        else:
            report.connection_detail = "no CONNACK within the timeout"
    except (ssl.Error, OSError) as exc:
        report.connection_detail = f"the server ended the connection: {_ssl_error_text(exc)}"


def _mqtt_exchange(client: _Client, report: ProbeReport, client_id: str) -> None:
    client.send(connect_packet(client_id))
    data = client.recv(client.deadline)
    code = parse_connack(data)
    report.mqtt = {"clientId": client_id, "connackCode": code}
    if code is None:
        report.connection_detail = (
            "the server closed the connection instead of answering CONNECT"
            if not data
            else "the server answered CONNECT with something other than a CONNACK"
        )
        return
    report.accepted = code == 0
    report.connection_detail = f"MQTT CONNACK {code} ({CONNACK_CODES.get(code, 'unknown')})"
    if code == 0:
        client.send(DISCONNECT)


def _ssl_error_text(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], list) and args[0]:
        reasons = [str(item[-1]) for item in args[0] if isinstance(item, tuple) and item]
        if reasons:
            return "; ".join(reasons)
    if args and isinstance(args[0], int) and len(args) > 1:
        return str(args[1])  # SysCallError(-1, 'Unexpected EOF')
    return str(exc) or type(exc).__name__


def _staple_summary(
    staple: list[bytes],
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: dt.datetime,
) -> dict[str, Any] | None:
    if not staple:
        return None
    leaf = chain[0]
    issuer = next(
        (c for c in [*chain[1:], *roots] if issued_by(leaf, c)),
        None,
    )
    if issuer is None:
        return {"error": "a staple came back, but the server certificate's issuer is unknown"}
    summary = summarise_answer(staple[0], device=leaf, issuer=issuer, now=now)
    summary.pop("asked", None)
    return summary
