"""OpenSSL's own OCSP responder (``openssl ocsp``) on 127.0.0.1: the local stand-in for the CA's
OCSP responder.

OpenSSL 3.0's ``openssl ocsp -port N`` listens on every interface (``ACCEPT [::]:N``), which a
local-only tool must not do. So the listener is ours (:class:`OcspHttpServer`, loopback only)
and each request is handed to ``openssl ocsp -index ... -reqin req.der -respout resp.der``
(:class:`OpensslOcsp`): the same code path as its server mode (index lookup, CA match, signing,
nonce copy, ``-nmin``), at about 6 ms per request.

- :class:`OpensslOcsp`: the responder logic: an ``index.txt`` (what ``openssl ca`` keeps) that
  says which serials are good or revoked, and one ``openssl ocsp`` run per request. Serials not
  in the index are ``unknown``.
- :class:`OcspHttpServer`: an HTTP server on ``127.0.0.1`` that takes RFC 6960 requests (POST
  body, or GET with the base64 request in the path) and answers with a callable.
- :class:`OpensslResponder`: the two together, with the URL to write into certificates' AIA.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from ocsp_iot.device import PrivateKey, write_private_key
from ocsp_iot.errors import MissingProgramError, OcspIotError

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
#: The most the server reads of a request body (an OCSP request is a few hundred bytes).
MAX_REQUEST_BYTES = 65_536
#: Upper bound on one ``openssl ocsp`` run.
OPENSSL_TIMEOUT_SECONDS = 10.0
#: What a responder sends for a request it cannot read (RFC 6960 ``malformedRequest``).
MALFORMED_REQUEST = ocsp.OCSPResponseBuilder.build_unsuccessful(
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST
).public_bytes(serialization.Encoding.DER)


class ResponderError(OcspIotError):
    """The responder could not be set up."""


def openssl_binary() -> str:
    """The ``openssl`` command; its absence is an error that says how to install it."""
    found = shutil.which("openssl")
    if found is None:
        msg = "openssl is not installed: install the Debian package openssl (`make setup` does)"
        raise MissingProgramError(msg)
    return found


def _index_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%y%m%d%H%M%SZ")


def _index_serial(serial: int) -> str:
    text = format(serial, "X")
    return ("0" + text) if len(text) % 2 else text


def _index_subject(cert: x509.Certificate) -> str:
    return "/" + "/".join(attribute.rfc4514_string() for attribute in cert.subject)


@dataclass(frozen=True)
class _Row:
    status: str  # V (valid) or R (revoked)
    expires: str
    revoked: str
    serial: str
    subject: str


def _pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


class OpensslOcsp:
    """``openssl ocsp`` in responder mode, one run per request (no listener).

    :param ca: the CA whose certificates it answers for (others get ``unknown`` from openssl).
    :param signer: the certificate that signs the answers: ``ca`` itself or a delegate.
    :param signer_key: its private key.
    :param nmin: minutes from thisUpdate to nextUpdate (``None``: no nextUpdate, as openssl does
        without ``-nmin``/``-ndays``).
    :param key_id: name the responder by key hash instead of by name.
    :param other_certs: certificates to add to every answer (``-rother``).
    :param extra_args: more ``openssl ocsp`` options.
    :param folder: where the index and the keys go (default: a new temporary folder, removed by
        :meth:`close`; a folder given is kept).
    """

    def __init__(
        self,
        *,
        ca: x509.Certificate,
        signer: x509.Certificate,
        signer_key: PrivateKey,
        nmin: int | None = 5,
        key_id: bool = False,
        other_certs: Sequence[x509.Certificate] = (),
        extra_args: Sequence[str] = (),
        folder: Path | None = None,
    ) -> None:
        openssl = openssl_binary()
        self._owns_folder = folder is None
        self.folder = (
            Path(tempfile.mkdtemp(prefix="ocsp-iot-responder-")) if folder is None else folder
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        ca_path = self.folder / "ca.pem"
        ca_path.write_bytes(_pem([ca]))
        signer_path = self.folder / "signer.pem"
        signer_path.write_bytes(_pem([signer]))
        key_path = self.folder / "signer.key"
        write_private_key(key_path, signer_key)
        self.index_path = self.folder / "index.txt"
        (self.folder / "index.txt.attr").write_text("unique_subject = no\n")
        self._rows: dict[int, _Row] = {}
        self._lock = threading.Lock()
        self._write_index()
        args = [
            openssl,
            "ocsp",
            "-index",
            str(self.index_path),
            "-CA",
            str(ca_path),
            "-rsigner",
            str(signer_path),
            "-rkey",
            str(key_path),
        ]
        if nmin is not None:
            args += ["-nmin", str(nmin)]
        if key_id:
            args.append("-resp_key_id")
        if other_certs:
            other = self.folder / "other.pem"
            other.write_bytes(_pem(other_certs))
            args += ["-rother", str(other)]
        self.args = [*args, *extra_args]
        self._sequence = itertools.count()
        #: openssl's stderr of the last request it could not answer.
        self.last_error = b""

    # -- the index -------------------------------------------------------------------------
    def _write_index(self) -> None:
        lines = [
            f"{r.status}\t{r.expires}\t{r.revoked}\t{r.serial}\tunknown\t{r.subject}\n"
            for r in self._rows.values()
        ]
        tmp = self.index_path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.replace(self.index_path)

    def set_good(self, cert: x509.Certificate) -> None:
        """Answer ``good`` for ``cert`` from now on."""
        with self._lock:
            self._rows[cert.serial_number] = _Row(
                "V",
                _index_time(cert.not_valid_after_utc),
                "",
                _index_serial(cert.serial_number),
                _index_subject(cert),
            )
            self._write_index()

    def set_revoked(
        self,
        cert: x509.Certificate,
        *,
        when: dt.datetime | None = None,
        reason: str | None = "keyCompromise",
    ) -> None:
        """Answer ``revoked`` for ``cert`` (revoked ``when``, default ten minutes ago, with the
        RFC 5280 ``reason`` as openssl spells it, or none)."""
        revoked = _index_time(when or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)))
        with self._lock:
            self._rows[cert.serial_number] = _Row(
                "R",
                _index_time(cert.not_valid_after_utc),
                revoked + (f",{reason}" if reason else ""),
                _index_serial(cert.serial_number),
                _index_subject(cert),
            )
            self._write_index()

    def forget(self, cert: x509.Certificate) -> None:
        """Drop ``cert`` from the index: openssl then answers ``unknown``."""
        with self._lock:
            self._rows.pop(cert.serial_number, None)
            self._write_index()

    # -- answering -------------------------------------------------------------------------
    def respond(self, request_der: bytes) -> bytes | None:
        """Run openssl on one DER request: the DER response, or ``None`` when openssl could not
        answer (its stderr is then in :attr:`last_error`)."""
        n = next(self._sequence)
        req_path = self.folder / f"req-{n}.der"
        resp_path = self.folder / f"resp-{n}.der"
        req_path.write_bytes(request_der)
        try:
            with self._lock:  # the index must not change under openssl's feet
                done = subprocess.run(  # noqa: S603 - our openssl, our arguments
                    [*self.args, "-reqin", str(req_path), "-respout", str(resp_path)],
                    capture_output=True,
                    timeout=OPENSSL_TIMEOUT_SECONDS,
                    check=False,
                )
            if done.returncode != 0 or not resp_path.exists():
                self.last_error = done.stderr
                return None
            return resp_path.read_bytes()
        except subprocess.TimeoutExpired:
            self.last_error = b"openssl ocsp timed out"
            return None
        finally:
            req_path.unlink(missing_ok=True)
            resp_path.unlink(missing_ok=True)

    def answer(self, request_der: bytes | None) -> bytes:
        """What the responder sends for ``request_der`` (``None``: unreadable): openssl's
        answer, or ``malformedRequest`` (what openssl's server mode sends for a request it
        cannot parse) when there is none."""
        response = self.respond(request_der) if request_der else None
        return MALFORMED_REQUEST if response is None else response

    def close(self) -> None:
        if self._owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def request_from_get_path(path: str) -> bytes | None:
    """The DER OCSP request of an RFC 6960 (A.1) GET: the base64 of the DER, URL-encoded, as
    the last path segment; ``None`` when it is not one."""
    tail = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    try:
        return base64.b64decode(tail, validate=True) or None
    except (binascii.Error, ValueError):
        return None


class OcspHttpServer:
    """An HTTP/1.0 server on ``127.0.0.1`` (a free port) answering OCSP requests with
    ``answer(request_der | None) -> response_der`` in a daemon thread per request."""

    def __init__(self, answer: Callable[[bytes | None], bytes], *, path: str = "/ocsp") -> None:
        self._answer = answer
        self._lock = threading.Lock()
        self._count = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ocsp-iot-responder",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    @property
    def closed(self) -> bool:
        """Stopped listening (:meth:`close`)."""
        return self._closed

    @property
    def request_count(self) -> int:
        """OCSP requests answered so far."""
        with self._lock:
            return self._count

    def _counted(self) -> None:
        with self._lock:
            self._count += 1

    def close(self) -> None:
        """Stop listening (clients then get *connection refused*); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            timeout = 10

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._serve(request_from_get_path(self.path))

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if not 0 < length <= MAX_REQUEST_BYTES:
                    self._serve(None)
                    return
                self._serve(self.rfile.read(length))

            def _serve(self, request_der: bytes | None) -> None:
                server._counted()
                body = server._answer(request_der)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", OCSP_RESPONSE_TYPE)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    return

        return Handler


class OpensslResponder:
    """``openssl ocsp`` behind :class:`OcspHttpServer`: ``with OpensslResponder(...) as r:``
    gives ``r.url`` (for certificates' AIA and the handlers' settings), ``r.set_good(cert)``,
    ``r.set_revoked(cert)`` and ``r.stop()`` (the responder becomes unreachable)."""

    def __init__(
        self,
        *,
        ca: x509.Certificate,
        signer: x509.Certificate,
        signer_key: PrivateKey,
        nmin: int | None = 60,
        folder: Path | None = None,
    ) -> None:
        self.ocsp = OpensslOcsp(
            ca=ca, signer=signer, signer_key=signer_key, nmin=nmin, folder=folder
        )
        try:
            self.server = OcspHttpServer(self.ocsp.answer)
        except OSError as exc:
            self.ocsp.close()
            raise ResponderError(
                f"the OCSP responder could not listen on 127.0.0.1: {exc}"
            ) from exc
        self.url = self.server.url

    @property
    def request_count(self) -> int:
        return self.server.request_count

    def set_good(self, cert: x509.Certificate) -> None:
        self.ocsp.set_good(cert)

    def set_revoked(self, cert: x509.Certificate, **options: Any) -> None:
        self.ocsp.set_revoked(cert, **options)

    def stop(self) -> None:
        """Stop listening; the index stays (``close`` removes it)."""
        self.server.close()

    def close(self) -> None:
        self.server.close()
        self.ocsp.close()

    def __enter__(self) -> OpensslResponder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
