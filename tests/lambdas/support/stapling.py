"""Drive the stapling handler through its public contract only, and build what IoT Core sends.

``ocsp_request`` builds an OCSP request as a client would (one CertID, optional nonce), and
``event_for`` wraps it as IoT Core does (a bare string, the base64 of the DER). ``Stapler`` sets
nothing: it calls ``stapling_handler.handler(event, context)``, checks the answer is a string
that is ``""`` or base64 of a DER ``OCSPResponse``, and reads the one JSON line it logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from .forge import der_children, der_wrap
from .pki import Issued

#: The CertID hash IoT Core and RFC 5019 clients use (not a signature hash).
SHA1 = hashes.SHA1()  # noqa: S303


def ocsp_request(
    cert: Issued | x509.Certificate,
    issuer: Issued | x509.Certificate,
    *,
    algorithm: hashes.HashAlgorithm = SHA1,
    nonce: bytes | None = None,
) -> bytes:
    """DER of a one-CertID OCSP request for ``cert`` issued by ``issuer``."""
    leaf = cert.cert if isinstance(cert, Issued) else cert
    ca = issuer.cert if isinstance(issuer, Issued) else issuer
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def event_for(
    cert: Issued | x509.Certificate,
    issuer: Issued | x509.Certificate,
    **request: Any,
) -> str:
    """The event IoT Core sends: the base64 of the DER request (a JSON string)."""
    return base64.b64encode(ocsp_request(cert, issuer, **request)).decode("ascii")


def with_two_cert_ids(request_der: bytes) -> bytes:
    """``request_der`` whose requestList holds its Request twice."""
    (tbs,) = der_children(request_der)
    parts = der_children(tbs)
    index = next(i for i, part in enumerate(parts) if part[0] == 0x30)  # requestList
    (single,) = der_children(parts[index])
    parts[index] = der_wrap(0x30, single + single)
    return der_wrap(0x30, der_wrap(0x30, b"".join(parts)))


def stapling_env(
    *,
    responder_url: str | None,
    trusted: Iterable[Issued],
    authorized: Issued | None = None,
    extra: Mapping[str, str | int | float] | None = None,
) -> dict[str, str]:
    env = {"TRUSTED_CA_PEM": "".join(ca.pem.decode("ascii") for ca in trusted)}
    if responder_url is not None:
        env["OCSP_RESPONDER_URL"] = responder_url
    if authorized is not None:
        env["OCSP_AUTHORIZED_RESPONDER_PEM"] = authorized.pem.decode("ascii")
    for key, value in (extra or {}).items():
        env[key] = str(value)
    return env


@dataclass(frozen=True)
class Staple:
    """One invocation: what was returned (``der`` decoded, empty for ``""``) and its log line."""

    answer: str
    der: bytes
    log: dict[str, Any]
    seconds: float

    @property
    def reason(self) -> str:
        return str(self.log.get("reason"))

    @property
    def stapled(self) -> bool:
        return bool(self.der)

    @property
    def status(self) -> ocsp.OCSPCertStatus:
        """The status of the (only) SingleResponse of the returned answer."""
        response = ocsp.load_der_ocsp_response(self.der)
        return response.certificate_status

    def __repr__(self) -> str:  # short, for assertion messages
        keys = ("outcome", "reason", "detail", "cacheHit", "ResponderRequests")
        shown = ", ".join(f"{k}={self.log.get(k)!r}" for k in keys)
        return f"Staple({len(self.der)} bytes, {{{shown}}})"


class Stapler:
    """Calls the handler and reads its answer: a string, ``""`` or the base64 of a DER
    ``OCSPResponse``; exactly one JSON line on stdout, nothing on stderr."""

    def __init__(self, handler_module: Any, capsys: pytest.CaptureFixture[str]) -> None:
        self.module = handler_module
        self._capsys = capsys

    def raw(self, event: Any, context: Any = None) -> tuple[Any, str, str]:
        self._capsys.readouterr()
        answer = self.module.handler(event, context)
        captured = self._capsys.readouterr()
        return answer, captured.out, captured.err

    def __call__(self, event: Any, context: Any = None) -> Staple:
        started = time.monotonic()
        answer, out, err = self.raw(event, context)
        seconds = time.monotonic() - started
        assert type(answer) is str, f"answer is not a string: {answer!r}"
        lines = out.splitlines()
        assert len(lines) == 1, f"expected one log line on stdout, got {out!r}"
        assert err == "", err
        log = json.loads(lines[0])
        assert isinstance(log, dict), log
        der = b""
        if answer:
            try:
                der = base64.b64decode(answer, validate=True)
            except binascii.Error as exc:  # pragma: no cover - a failing test says so
                pytest.fail(f"answer is not base64: {exc}")
            assert ocsp.load_der_ocsp_response(der).response_status is (
                ocsp.OCSPResponseStatus.SUCCESSFUL
            )
        assert log["outcome"] == ("STAPLE" if answer else "EMPTY"), (answer[:40], log)
        assert log["stapleBytes"] == len(der)
        return Staple(answer=answer, der=der, log=log, seconds=seconds)
