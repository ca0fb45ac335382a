"""OpenSSL's own OCSP responder and client, for the Lambda tests.

``OpensslResponder``: OpenSSL's responder logic (the package's
``ocsp_iot.local.responder.OpensslOcsp``: one ``openssl ocsp -index ... -reqin req.der -respout
resp.der`` per request, ~6 ms) answering every POST/GET that reaches a recording
``LoopbackServer`` (the tests read what was asked). ``run_openssl_client`` runs
``openssl ocsp`` as a client. ``StaplingTlsServer`` (``openssl s_server -status_file``) and
``run_s_client_status`` (``openssl s_client -status``) are a TLS server that staples and a
client that prints the staple, both on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography import x509

from ocsp_iot.local import responder

from .loopback import LoopbackServer, RecordedRequest, Reply
from .pki import Issued

# --------------------------------------------------------------------------------------------
# A real openssl ocsp responder
# --------------------------------------------------------------------------------------------


def openssl_binary() -> str:
    """The ``openssl`` CLI; the project installs it, so a missing one is an error, never a skip."""
    return responder.openssl_binary()


def _cert(device: Issued | x509.Certificate) -> x509.Certificate:
    return device.cert if isinstance(device, Issued) else device


class OpensslResponder:
    """``openssl ocsp`` in responder mode (the package's ``OpensslOcsp``) behind a recording
    ``LoopbackServer`` on 127.0.0.1.

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
        self.ocsp = responder.OpensslOcsp(
            ca=ca.cert,
            signer=signer.cert,
            signer_key=signer.key,
            nmin=nmin,
            key_id=key_id,
            other_certs=other_certs or (),
            extra_args=extra_args or (),
        )
        self.server = LoopbackServer(self._answer)
        self.url = self.server.url

    # -- index -----------------------------------------------------------------------------
    def set_good(self, device: Issued | x509.Certificate) -> None:
        self.ocsp.set_good(_cert(device))

    def set_revoked(
        self,
        device: Issued | x509.Certificate,
        *,
        when: dt.datetime | None = None,
        reason: str | None = "keyCompromise",
    ) -> None:
        self.ocsp.set_revoked(_cert(device), when=when, reason=reason)

    def forget(self, device: Issued | x509.Certificate) -> None:
        """Drop a serial from the index: openssl then answers ``unknown``."""
        self.ocsp.forget(_cert(device))

    # -- serving ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    @property
    def request_count(self) -> int:
        return self.server.request_count

    @property
    def last_error(self) -> bytes:
        return self.ocsp.last_error

    def respond(self, request_der: bytes) -> bytes | None:
        """Run openssl on one DER request; the DER response, or None if openssl failed."""
        return self.ocsp.respond(request_der)

    def _answer(self, recorded: RecordedRequest) -> Reply:
        return Reply(body=self.ocsp.answer(recorded.ocsp_der))

    def close(self) -> None:
        self.server.close()
        self.ocsp.close()

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
