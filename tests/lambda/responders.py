"""OCSP responders on 127.0.0.1 for end-to-end tests: a real ``openssl ocsp`` and a hostile one.

- ``LoopbackServer``: a ``ThreadingHTTPServer`` on ``("127.0.0.1", 0)`` in a daemon thread. Every
  request is recorded (``.requests``); what it answers is a ``Behaviour`` the test sets
  (``server.behaviour = ...``): a callable ``(RecordedRequest) -> Reply``. A ``Reply`` can delay,
  drip its body byte by byte, lie about its length, or stream an unbounded body.
- ``OpensslResponder``: OpenSSL's own responder logic (``openssl ocsp -index ... -CA ...
  -rsigner ... -rkey ...``) answering every POST/GET that reaches a ``LoopbackServer``. OpenSSL
  3.0's ``-port`` takes a bare number and listens on the wildcard address (``ACCEPT [::]:port``),
  which the house rules forbid, so the loopback listener is ours and each request is handed to
  ``openssl ocsp -reqin req.der -respout resp.der`` (the same code path as its server mode:
  index lookup, CA match, signing, nonce copy, ``-nmin``). Costs ~6 ms per request.
- ``build_answer``: a signed OCSP response for a parsed request, with every field overridable
  (signer, CertID, status, times, nonce, ResponderID, included certificates).
- ``with_extra_single_responses`` / ``with_responder_id``: DER surgery for what
  ``OCSPResponseBuilder`` refuses to build (several SingleResponses; a ResponderID that does not
  match the signing key); the result is re-signed with the given key.
- ``RawListener``: a bare TCP listener that only counts connections (SSRF tests).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp

from .pki import Issued, PrivateKey

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
#: (signatureAlgorithm AlgorithmIdentifier DER, function signing the tbsResponseData DER)
SignatureSpec = tuple[bytes, Callable[[bytes], bytes]]


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
    ) -> None:
        self.behaviour: Behaviour = behaviour or _not_configured
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
            protocol_version = "HTTP/1.0"
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


# --------------------------------------------------------------------------------------------
# Building OCSP answers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedRequest:
    der: bytes
    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: hashes.HashAlgorithm
    nonce: bytes | None


def parse_request(request: RecordedRequest | bytes) -> ParsedRequest | None:
    der = request if isinstance(request, bytes) else request.ocsp_der
    if not der:
        return None
    try:
        req = ocsp.load_der_ocsp_request(der)
        nonce: bytes | None
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        return ParsedRequest(
            der=der,
            serial=req.serial_number,
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            hash_algorithm=req.hash_algorithm,
            nonce=nonce,
        )
    except ValueError:
        return None


def cert_id_hashes(
    issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of ``issuer`` under ``algorithm`` (RFC 6960 4.1.1).

    The name hash covers the issuer's subject DN; the key hash covers the subjectPublicKey BIT
    STRING's value (without its unused-bits octet).
    """
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _algorithm_id, bit_string = _children(spki)
    key_bits = _content(bit_string)[1:]

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()

    return digest(issuer.subject.public_bytes()), digest(key_bits)


_ECHO = "echo"
_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def build_answer(
    request: ParsedRequest,
    *,
    signer: Issued,
    status: str = "good",
    serial: int | None = None,
    cert_id_issuer: x509.Certificate | None = None,
    this_update_offset: float = -60.0,
    next_update_offset: float | None = 300.0,
    nonce: bytes | str | None = _ECHO,
    responder_by: str = "name",
    responder_cert: x509.Certificate | None = None,
    certs: list[x509.Certificate] | None = None,
    include_signer: bool = True,
    revocation_reason: x509.ReasonFlags | None = None,
    cert_id_algorithm: hashes.HashAlgorithm | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """A successful, signed BasicOCSPResponse (DER) answering ``request``.

    By default the CertID echoes the request's; ``serial`` / ``cert_id_issuer`` replace parts
    of it; ``cert_id_algorithm`` (needs ``cert_id_issuer``) re-hashes it. Times are offsets
    in seconds from ``now`` (default: the wall clock, which also stamps producedAt; a given
    ``now`` stamps producedAt too) (``next_update_offset=None``: no nextUpdate).
    ``nonce="echo"`` copies the request nonce (if any), ``None`` omits it, bytes send those.
    ``responder_cert`` (default: the signer) names the ResponderID; its key must be the signer's
    key for ``OCSPResponseBuilder`` (use ``with_responder_id`` otherwise).
    """
    produced_at = now
    now = now or _utcnow()
    algorithm = cert_id_algorithm or request.hash_algorithm
    name_hash, key_hash = (
        cert_id_hashes(cert_id_issuer, algorithm)
        if cert_id_issuer is not None
        else (request.issuer_name_hash, request.issuer_key_hash)
    )
    this_update = now + dt.timedelta(seconds=this_update_offset)
    next_update = (
        None if next_update_offset is None else now + dt.timedelta(seconds=next_update_offset)
    )
    included = list(certs or [])
    if include_signer and signer.cert not in included:
        included.insert(0, signer.cert)
    echoed = request.nonce if nonce == _ECHO else nonce
    return sign_response(
        CertIdParts(name_hash, key_hash, request.serial if serial is None else serial, algorithm),
        signer=signer,
        status=status,
        this_update=this_update,
        next_update=next_update,
        revocation_time=now - dt.timedelta(hours=1),
        revocation_reason=revocation_reason,
        responder_by=responder_by,
        responder_cert=responder_cert,
        certs=included,
        nonce=echoed if isinstance(echoed, bytes) else None,
        produced_at=produced_at,
    )


@dataclass(frozen=True)
class CertIdParts:
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    algorithm: hashes.HashAlgorithm


def sign_response(
    cert_id: CertIdParts,
    *,
    signer: Issued,
    status: str,
    this_update: dt.datetime,
    next_update: dt.datetime | None,
    revocation_time: dt.datetime,
    revocation_reason: x509.ReasonFlags | None = None,
    responder_by: str = "name",
    responder_cert: x509.Certificate | None = None,
    certs: list[x509.Certificate] | None = None,
    nonce: bytes | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] | None = None,
    signature_hash: hashes.HashAlgorithm | None = None,
    produced_at: dt.datetime | None = None,
) -> bytes:
    """DER of a successful BasicOCSPResponse with one SingleResponse, every field as given
    (``revocation_*`` only used when ``status="revoked"``); the core of ``build_answer`` and
    of the unit tests' ``respond``."""
    revoked = status == "revoked"
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=cert_id.issuer_name_hash,
        issuer_key_hash=cert_id.issuer_key_hash,
        serial_number=cert_id.serial,
        algorithm=cert_id.algorithm,
        cert_status=_STATUS[status],
        this_update=this_update,
        next_update=next_update,
        revocation_time=revocation_time if revoked else None,
        revocation_reason=revocation_reason if revoked else None,
    )
    by_key = responder_by == "key"
    encoding = ocsp.OCSPResponderEncoding.HASH if by_key else ocsp.OCSPResponderEncoding.NAME
    builder = builder.responder_id(encoding, responder_cert or signer.cert)
    if certs:
        builder = builder.certificates(certs)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    for extension, critical in extensions or []:
        builder = builder.add_extension(extension, critical=critical)
    response = builder.sign(signer.key, signature_hash or hashes.SHA256())
    der = response.public_bytes(serialization.Encoding.DER)
    if produced_at is None:  # the builder stamps producedAt with the wall clock
        return der
    return with_produced_at(der, produced_at, key=signer.key, hash_algorithm=signature_hash)


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


# -- minimal DER surgery ---------------------------------------------------------------------


def _read_tlv(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the TLV at ``offset``."""
    tag = der[offset]
    length = der[offset + 1]
    pos = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _children(der: bytes) -> list[bytes]:
    """The complete TLVs inside the (single) constructed TLV ``der``."""
    _tag, start, end = _read_tlv(der, 0)
    out: list[bytes] = []
    pos = start
    while pos < end:
        _t, _cstart, cend = _read_tlv(der, pos)
        out.append(der[pos:cend])
        pos = cend
    return out


def _content(tlv: bytes) -> bytes:
    _tag, start, end = _read_tlv(tlv, 0)
    return tlv[start:end]


def _wrap(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size), *size]) + content


@dataclass
class _Basic:
    status: bytes
    response_type: bytes
    tbs_parts: list[bytes]  # [version?], responderID, producedAt, responses, [extensions]
    sig_alg: bytes
    certs: list[bytes] = field(default_factory=list)

    @classmethod
    def parse(cls, response_der: bytes) -> _Basic:
        status, wrapped = _children(response_der)
        (response_bytes,) = _children(wrapped)
        response_type, octets = _children(response_bytes)
        basic = _content(octets)
        parts = _children(basic)
        tbs, sig_alg = parts[0], parts[1]
        return cls(status, response_type, _children(tbs), sig_alg, parts[3:])

    @property
    def _responses_index(self) -> int:
        # ResponseData: version [0]? , responderID, producedAt (GeneralizedTime), responses, ...
        return 3 if self.tbs_parts[0][0] == 0xA0 else 2

    @property
    def single_responses(self) -> list[bytes]:
        return _children(self.tbs_parts[self._responses_index])

    def set_single_responses(self, singles: list[bytes]) -> None:
        self.tbs_parts[self._responses_index] = _wrap(0x30, b"".join(singles))

    def set_responder_id(self, responder_id: bytes) -> None:
        self.tbs_parts[self._responses_index - 2] = responder_id

    def responder_id(self) -> bytes:
        return self.tbs_parts[self._responses_index - 2]

    def set_produced_at(self, when: dt.datetime) -> None:
        self.tbs_parts[self._responses_index - 1] = _wrap(
            0x18, when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode()
        )

    def sign(
        self,
        key: PrivateKey,
        *,
        algorithm: SignatureSpec | None = None,
        hash_algorithm: hashes.HashAlgorithm | None = None,
    ) -> bytes:
        """Re-sign with ``key``: ``algorithm`` = (AlgorithmIdentifier DER, signing function);
        by default ``hash_algorithm`` (SHA-256) with the key's own scheme and the original
        AlgorithmIdentifier (which must name that hash)."""
        tbs = _wrap(0x30, b"".join(self.tbs_parts))
        digest = hash_algorithm or hashes.SHA256()
        if algorithm is not None:
            self.sig_alg, sign = algorithm
            signature = sign(tbs)
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(tbs, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(tbs, padding.PKCS1v15(), digest)
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            signature = key.sign(tbs)
        else:  # pragma: no cover - the test PKI has only EC and RSA keys
            raise TypeError(type(key))
        basic = _wrap(
            0x30, tbs + self.sig_alg + _wrap(0x03, b"\x00" + signature) + b"".join(self.certs)
        )
        response_bytes = _wrap(0x30, self.response_type + _wrap(0x04, basic))
        return _wrap(0x30, self.status + _wrap(0xA0, response_bytes))


def with_extra_single_responses(base: bytes, others: list[bytes], *, key: PrivateKey) -> bytes:
    """``base``'s ResponseData with the SingleResponses of ``others`` appended, re-signed."""
    parsed = _Basic.parse(base)
    singles = parsed.single_responses
    for other in others:
        singles += _Basic.parse(other).single_responses
    parsed.set_single_responses(singles)
    return parsed.sign(key)


def with_single_responses_first(base: bytes, others: list[bytes], *, key: PrivateKey) -> bytes:
    """Like ``with_extra_single_responses`` but the others' SingleResponses come first."""
    parsed = _Basic.parse(base)
    singles: list[bytes] = []
    for other in others:
        singles += _Basic.parse(other).single_responses
    parsed.set_single_responses(singles + parsed.single_responses)
    return parsed.sign(key)


def resigned_with_sha1(base: bytes, *, key: PrivateKey) -> bytes:
    """``base`` re-signed with ECDSA over SHA-1 (a weak signature hash)."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(type(key))
    # ecdsa-with-SHA1 (1.2.840.10045.4.1): what builders refuse to produce
    sha1 = hashes.SHA1()  # noqa: S303 - the hostile case
    spec = (_algorithm_id("1.2.840.10045.4.1"), lambda tbs: key.sign(tbs, ec.ECDSA(sha1)))
    return _Basic.parse(base).sign(key, algorithm=spec)


def with_single_extension(base: bytes, *, key: PrivateKey, critical: bool) -> bytes:
    """``base`` whose first SingleResponse carries a private-OID singleExtension, re-signed."""
    parsed = _Basic.parse(base)
    first, *rest = parsed.single_responses
    flag = _wrap(0x01, b"\xff") if critical else b""
    extension = _wrap(0x30, _oid("1.3.6.1.4.1.55555.1") + flag + _wrap(0x04, b"\x05\x00"))
    first = _wrap(0x30, _content(first) + _wrap(0xA1, _wrap(0x30, extension)))
    parsed.set_single_responses([first, *rest])
    return parsed.sign(key)


def with_produced_at(
    base: bytes,
    when: dt.datetime,
    *,
    key: PrivateKey,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    """``base`` with producedAt set to ``when`` (``OCSPResponseBuilder`` always stamps the wall
    clock), re-signed by ``key`` with ``hash_algorithm`` (default SHA-256; none for Ed25519)."""
    parsed = _Basic.parse(base)
    parsed.set_produced_at(when)
    return parsed.sign(key, hash_algorithm=hash_algorithm)


def resigned(base: bytes, *, key: PrivateKey, algorithm: SignatureSpec) -> bytes:
    """``base`` re-signed with ``algorithm`` (see ``pss``)."""
    return _Basic.parse(base).sign(key, algorithm=algorithm)


# -- RSASSA-PSS (RFC 4055), including parameters that a strict verifier must refuse -------------

HASH_OIDS = {
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - only to build refused cases
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out += bytes(reversed(chunk))
    return _wrap(0x06, bytes(out))


def _algorithm_id(dotted: str, params: bytes = b"") -> bytes:
    return _wrap(0x30, _oid(dotted) + params)


def _int(value: int) -> bytes:
    return _wrap(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def pss(
    key: PrivateKey,
    hash_name: str = "sha256",
    *,
    declared_hash: str | None = None,
    mgf_hash: str | None = None,
    salt: int | None = None,
    declared_salt: int | None = None,
    trailer: int | None = None,
    omit_params: bool = False,
) -> SignatureSpec:
    """An RSASSA-PSS (AlgorithmIdentifier, signer) pair. The signature really uses
    ``hash_name``, MGF1 with ``mgf_hash`` (default: the same) and ``salt`` (default: the hash
    length); ``declared_*``/``trailer`` make the parameters say otherwise, and
    ``omit_params`` sends an empty RSASSA-PSS-params (all defaults: SHA-1)."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(type(key))
    digest = _HASHES[hash_name]
    mgf = mgf_hash or hash_name
    salt_length = digest.digest_size if salt is None else salt
    declared = declared_hash or hash_name
    salt_field = salt_length if declared_salt is None else declared_salt
    # DER: a field equal to its DEFAULT (SHA-1, MGF1-SHA-1, salt 20, trailer 1) is omitted.
    fields = (
        (b"" if declared == "sha1" else _wrap(0xA0, _algorithm_id(HASH_OIDS[declared])))
        + (
            b""
            if mgf == "sha1"
            else _wrap(0xA1, _algorithm_id("1.2.840.113549.1.1.8", _algorithm_id(HASH_OIDS[mgf])))
        )
        + (b"" if salt_field == 20 else _wrap(0xA2, _int(salt_field)))
        + (b"" if trailer in (None, 1) else _wrap(0xA3, _int(trailer)))
    )
    params = _wrap(0x30, b"" if omit_params else fields)
    padder = padding.PSS(mgf=padding.MGF1(_HASHES[mgf]), salt_length=salt_length)
    return (
        _algorithm_id("1.2.840.113549.1.1.10", params),
        lambda tbs: key.sign(tbs, padder, digest),
    )


def with_responder_id(base: bytes, responder_id_from: bytes, *, key: PrivateKey) -> bytes:
    """``base`` with the ResponderID of ``responder_id_from``, re-signed with ``key``."""
    parsed = _Basic.parse(base)
    parsed.set_responder_id(_Basic.parse(responder_id_from).responder_id())
    return parsed.sign(key)


def with_response_type(base: bytes) -> bytes:
    """``base`` whose responseType is id-pkix-ocsp.2 instead of .1 (basic); body unchanged."""
    status, wrapped = _children(base)
    (response_bytes,) = _children(wrapped)
    old_type, octets = _children(response_bytes)
    new_type = old_type[:-1] + bytes([old_type[-1] ^ 0x03])
    new_bytes = _wrap(0x30, new_type + octets)
    return _wrap(0x30, status + _wrap(0xA0, new_bytes))


def flip_signature_bit(base: bytes) -> bytes:
    """``base`` with one bit of its signature flipped (structure intact)."""
    status, wrapped = _children(base)
    (response_bytes,) = _children(wrapped)
    response_type, octets = _children(response_bytes)
    parts = _children(_content(octets))
    sig = bytearray(_content(parts[2]))
    sig[-1] ^= 0x01
    basic = _wrap(0x30, parts[0] + parts[1] + _wrap(0x03, bytes(sig)) + b"".join(parts[3:]))
    return _wrap(0x30, status + _wrap(0xA0, _wrap(0x30, response_type + _wrap(0x04, basic))))


#: Public names of the DER helpers, for tests that build certificates by hand.
der_children = _children
der_content = _content
der_wrap = _wrap


# -- behaviours --------------------------------------------------------------------------------


def answer_with(make: Callable[[ParsedRequest], bytes], **reply: Any) -> Behaviour:
    """A behaviour that parses the OCSP request and replies ``make(request)`` (400 if none)."""

    def behave(recorded: RecordedRequest) -> Reply:
        parsed = parse_request(recorded)
        if parsed is None:
            return Reply(status=400, body=b"not an OCSP request", content_type="text/plain")
        return Reply(body=make(parsed), **reply)

    return behave


def fixed(reply: Reply) -> Behaviour:
    return lambda _request: reply


# --------------------------------------------------------------------------------------------
# A real openssl ocsp responder
# --------------------------------------------------------------------------------------------

_OPENSSL = shutil.which("openssl")
_seq = itertools.count()


def openssl_binary() -> str:
    """The ``openssl`` CLI; the project installs it, so a missing one is an error, never a skip."""
    if _OPENSSL is None:
        msg = "the openssl CLI is not on PATH; `make test` installs it (Debian package openssl)"
        raise RuntimeError(msg)
    return _OPENSSL


def _index_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%y%m%d%H%M%SZ")


def _index_serial(serial: int) -> str:
    text = format(serial, "X")
    return ("0" + text) if len(text) % 2 else text


@dataclass(frozen=True)
class _Row:
    status: str  # V or R
    expires: str
    revoked: str
    serial: str
    subject: str


class OpensslResponder:
    """``openssl ocsp`` in responder mode behind a 127.0.0.1 listener.

    ``ca`` is the CA whose certificates it answers for (others get ``unknown`` from openssl);
    ``signer`` signs the responses (``ca`` itself or a delegate). ``nmin`` sets nextUpdate
    (``None``: no nextUpdate, as openssl does without ``-nmin``/``-ndays``). Serials not in the
    index are ``unknown``. ``key_id=True`` names the responder by key hash.
    """

    def __init__(
        self,
        *,
        ca: Issued,
        signer: Issued,
        nmin: int | None = 5,
        key_id: bool = False,
        other_certs: list[x509.Certificate] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        openssl = openssl_binary()
        self._dir = Path(tempfile.mkdtemp(prefix="ocsp-openssl-"))
        self._ca_path = self._dir / "ca.pem"
        self._ca_path.write_bytes(ca.pem)
        self._signer_path = self._dir / "signer.pem"
        self._signer_path.write_bytes(signer.pem)
        self._key_path = self._dir / "signer.key.pem"
        self._key_path.write_bytes(signer.key_pem)
        self._key_path.chmod(0o600)
        self._index = self._dir / "index.txt"
        (self._dir / "index.txt.attr").write_text("unique_subject = no\n")
        self._rows: dict[int, _Row] = {}
        self._lock = threading.Lock()
        self._write_index()
        args = [
            openssl,
            "ocsp",
            "-index",
            str(self._index),
            "-CA",
            str(self._ca_path),
            "-rsigner",
            str(self._signer_path),
            "-rkey",
            str(self._key_path),
        ]
        if nmin is not None:
            args += ["-nmin", str(nmin)]
        if key_id:
            args.append("-resp_key_id")
        if other_certs:
            other = self._dir / "other.pem"
            other.write_bytes(
                b"".join(c.public_bytes(serialization.Encoding.PEM) for c in other_certs)
            )
            args += ["-rother", str(other)]
        self._args = args + list(extra_args or [])
        self.server = LoopbackServer(self._answer)
        self.url = self.server.url
        self.last_error = b""

    # -- index -----------------------------------------------------------------------------
    def _write_index(self) -> None:
        lines = [
            f"{r.status}\t{r.expires}\t{r.revoked}\t{r.serial}\tunknown\t{r.subject}\n"
            for r in self._rows.values()
        ]
        tmp = self._index.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.replace(self._index)

    def _subject(self, cert: x509.Certificate) -> str:
        return "/" + "/".join(a.rfc4514_string() for a in cert.subject)

    def set_good(self, device: Issued | x509.Certificate) -> None:
        cert = device.cert if isinstance(device, Issued) else device
        with self._lock:
            self._rows[cert.serial_number] = _Row(
                "V",
                _index_time(cert.not_valid_after_utc),
                "",
                _index_serial(cert.serial_number),
                self._subject(cert),
            )
            self._write_index()

    def set_revoked(
        self,
        device: Issued | x509.Certificate,
        *,
        when: dt.datetime | None = None,
        reason: str | None = "keyCompromise",
    ) -> None:
        cert = device.cert if isinstance(device, Issued) else device
        revoked = _index_time(when or (_utcnow() - dt.timedelta(minutes=10)))
        with self._lock:
            self._rows[cert.serial_number] = _Row(
                "R",
                _index_time(cert.not_valid_after_utc),
                revoked + (f",{reason}" if reason else ""),
                _index_serial(cert.serial_number),
                self._subject(cert),
            )
            self._write_index()

    def forget(self, device: Issued | x509.Certificate) -> None:
        """Drop a serial from the index: openssl then answers ``unknown``."""
        cert = device.cert if isinstance(device, Issued) else device
        with self._lock:
            self._rows.pop(cert.serial_number, None)
            self._write_index()

    # -- serving ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    @property
    def request_count(self) -> int:
        return self.server.request_count

    def respond(self, request_der: bytes) -> bytes | None:
        """Run openssl on one DER request; the DER response, or None if openssl failed."""
        n = next(_seq)
        req_path = self._dir / f"req-{n}.der"
        resp_path = self._dir / f"resp-{n}.der"
        req_path.write_bytes(request_der)
        try:
            with self._lock:  # the index must not change under openssl's feet
                done = subprocess.run(
                    [*self._args, "-reqin", str(req_path), "-respout", str(resp_path)],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
            if done.returncode != 0 or not resp_path.exists():
                self.last_error = done.stderr
                return None
            return resp_path.read_bytes()
        finally:
            req_path.unlink(missing_ok=True)
            resp_path.unlink(missing_ok=True)

    def _answer(self, recorded: RecordedRequest) -> Reply:
        der = recorded.ocsp_der
        response = self.respond(der) if der else None
        if response is None:
            # What openssl's server mode sends for a request it cannot parse.
            response = unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        return Reply(body=response)

    def close(self) -> None:
        self.server.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> OpensslResponder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def run_openssl_client(
    *,
    url: str,
    issuer: Issued,
    device: Issued,
    trust: list[Issued],
    extra: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``openssl ocsp`` as a client against ``url`` (used to check the responders themselves)."""
    openssl = openssl_binary()
    with tempfile.TemporaryDirectory(prefix="ocsp-client-") as tmp:
        d = Path(tmp)
        (d / "issuer.pem").write_bytes(issuer.pem)
        (d / "device.pem").write_bytes(device.pem)
        (d / "trust.pem").write_bytes(b"".join(t.pem for t in trust))
        return subprocess.run(
            [
                openssl,
                "ocsp",
                "-issuer",
                str(d / "issuer.pem"),
                "-cert",
                str(d / "device.pem"),
                "-CAfile",
                str(d / "trust.pem"),
                "-url",
                url,
                "-timeout",
                "5",
                *(extra or []),
            ],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )


__all__ = [
    "OCSP_RESPONSE_TYPE",
    "Behaviour",
    "CertIdParts",
    "LoopbackServer",
    "OpensslResponder",
    "ParsedRequest",
    "RawListener",
    "RecordedRequest",
    "Reply",
    "SignatureSpec",
    "answer_with",
    "build_answer",
    "cert_id_hashes",
    "closed_port_url",
    "der_children",
    "der_content",
    "der_wrap",
    "fixed",
    "flip_signature_bit",
    "openssl_binary",
    "parse_request",
    "pss",
    "resigned",
    "resigned_with_sha1",
    "run_openssl_client",
    "sign_response",
    "unsuccessful",
    "with_extra_single_responses",
    "with_responder_id",
    "with_response_type",
    "with_single_extension",
    "with_single_responses_first",
]
