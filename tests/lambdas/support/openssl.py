"""OpenSSL's own OCSP responder and client, for the Lambda tests.

``OpensslResponder``: OpenSSL's responder logic (``openssl ocsp -index ... -CA ... -rsigner ...
-rkey ...``) answering every POST/GET that reaches a ``LoopbackServer``. OpenSSL 3.0's ``-port``
takes a bare number and listens on the wildcard address (``ACCEPT [::]:port``), which the house
rules forbid, so the loopback listener is ours and each request is handed to ``openssl ocsp
-reqin req.der -respout resp.der`` (the same code path as its server mode: index lookup, CA
match, signing, nonce copy, ``-nmin``). Costs ~6 ms per request. ``run_openssl_client`` runs
``openssl ocsp`` as a client. ``StaplingTlsServer`` (``openssl s_server -status_file``) and
``run_s_client_status`` (``openssl s_client -status``) are a TLS server that staples and a
client that prints the staple, both on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from .forge import unsuccessful
from .loopback import LoopbackServer, RecordedRequest, Reply
from .pki import Issued, utcnow

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
        revoked = _index_time(when or (utcnow() - dt.timedelta(minutes=10)))
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


# --------------------------------------------------------------------------------------------
# A real TLS server that staples, and a real TLS client that reads the staple
# --------------------------------------------------------------------------------------------

#: Upper bound on any wait for ``s_server`` or ``s_client``.
TLS_WAIT_SECONDS = 20.0


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class StaplingTlsServer:
    """``openssl s_server`` on 127.0.0.1 only, serving ``server`` (certificate and key) and
    stapling the DER OCSP response ``staple`` (``-status_file``), or nothing when ``staple`` is
    ``None``. It accepts one connection (``-naccept 1``) and is stopped on exit."""

    def __init__(self, server: Issued, *, staple: bytes | None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="ocsp-tls-"))
        (self._dir / "server.pem").write_bytes(server.pem)
        key = self._dir / "server.key.pem"
        key.write_bytes(server.key_pem)
        key.chmod(0o600)
        self.port = _free_loopback_port()
        args = [
            openssl_binary(),
            "s_server",
            "-accept",
            f"127.0.0.1:{self.port}",
            "-cert",
            str(self._dir / "server.pem"),
            "-key",
            str(key),
            "-naccept",
            "1",
            # answer HTTP instead of relaying stdin (at EOF, plain s_server drops the client)
            "-www",
        ]
        if staple is not None:
            (self._dir / "staple.der").write_bytes(staple)
            args += ["-status_file", str(self._dir / "staple.der")]
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._await_listening()

    def _await_listening(self) -> None:
        """Wait (bounded) for s_server's ``ACCEPT`` line: it is then listening."""
        stdout = self._process.stdout
        assert stdout is not None
        deadline = time.monotonic() + TLS_WAIT_SECONDS
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], 0.2)
            if ready:
                # the raw file descriptor: a buffered readline could keep "ACCEPT" out of sight
                chunk = os.read(stdout.fileno(), 4096)
                seen += chunk
                if b"ACCEPT" in seen:
                    return
                if not chunk:  # s_server exited
                    break
        self.close()
        msg = f"openssl s_server did not start listening: {seen.decode(errors='replace')}"
        raise RuntimeError(msg)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> StaplingTlsServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def run_s_client_status(port: int, server_name: str) -> str:
    """``openssl s_client -connect 127.0.0.1:PORT -servername NAME -status`` (stdin closed, so
    it disconnects after the handshake); its output."""
    done = subprocess.run(
        [
            openssl_binary(),
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            server_name,
            "-status",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=TLS_WAIT_SECONDS,
        check=False,
    )
    return done.stdout + done.stderr


def openssl_request(cert: Issued, issuer: Issued, *, nonce: bool = True) -> bytes:
    """The DER OCSP request ``openssl ocsp`` builds for ``cert`` (as a TLS stack or IoT Core
    would: one CertID, SHA-1, with a nonce unless ``nonce=False``)."""
    with tempfile.TemporaryDirectory(prefix="ocsp-request-") as tmp:
        d = Path(tmp)
        (d / "issuer.pem").write_bytes(issuer.pem)
        (d / "cert.pem").write_bytes(cert.pem)
        subprocess.run(
            [
                openssl_binary(),
                "ocsp",
                "-issuer",
                str(d / "issuer.pem"),
                "-cert",
                str(d / "cert.pem"),
                "-reqout",
                str(d / "request.der"),
                *([] if nonce else ["-no_nonce"]),
            ],
            capture_output=True,
            timeout=15,
            check=True,
        )
        return (d / "request.der").read_bytes()
