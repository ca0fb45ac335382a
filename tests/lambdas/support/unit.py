"""Helpers for the ``test_unit_*`` modules: OCSP responses built with ``OCSPResponseBuilder``,
signed by real keys, with every field under the test's control."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from preauth.settings import Settings, load_settings

from .forge import CertIdParts, sign_response
from .pki import Issued, Pki

#: A fixed "now" for the unit tests (the test PKI is valid from an hour ago for 30 days). It lies
#: well behind the wall clock on purpose: a test that mixes it with wall-clock stamps (such as
#: the producedAt that ``OCSPResponseBuilder`` writes) then fails every time instead of only
#: when the suite happens to run slowly.
NOW = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)).replace(microsecond=0)
#: The CertID hash RFC 5019 responders use (not a signature hash).
SHA1 = hashes.SHA1()  # noqa: S303


def respond(
    device: Issued,
    issuer: Issued,
    *,
    signer: Issued | None = None,
    status: str = "good",
    cert_id_hash: hashes.HashAlgorithm | None = None,
    serial: int | None = None,
    cert_id_issuer: x509.Certificate | None = None,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | str | None = "default",
    responder_by: str = "name",
    certs: list[x509.Certificate] | None = None,
    include_signer: bool = True,
    nonce: bytes | None = None,
    signature_hash: hashes.HashAlgorithm | None = None,
    revocation_reason: x509.ReasonFlags | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] | None = None,
) -> bytes:
    """DER of a successful basic OCSP response about ``device`` (issued by ``issuer``).

    Defaults: signed by ``issuer`` with SHA-256, SHA-1 CertID, thisUpdate a minute before
    ``NOW``, nextUpdate five minutes after, ResponderID by name, signer certificate included
    when it is not the issuer.
    """
    signer = signer or issuer
    algorithm = cert_id_hash or SHA1
    nxt = NOW + dt.timedelta(minutes=5) if next_update == "default" else next_update
    if nxt is not None and not isinstance(nxt, dt.datetime):
        raise TypeError(nxt)
    id_issuer = cert_id_issuer if cert_id_issuer is not None else issuer.cert
    probe = ocsp.OCSPRequestBuilder().add_certificate(device.cert, id_issuer, algorithm).build()
    included = list(certs or [])
    if include_signer and signer is not issuer and signer.cert not in included:
        included.insert(0, signer.cert)
    return sign_response(
        CertIdParts(
            probe.issuer_name_hash,
            probe.issuer_key_hash,
            device.serial if serial is None else serial,
            algorithm,
        ),
        signer=signer,
        status=status,
        this_update=this_update if this_update is not None else NOW - dt.timedelta(minutes=1),
        next_update=nxt,
        revocation_time=NOW - dt.timedelta(hours=1),
        revocation_reason=revocation_reason,
        responder_by=responder_by,
        certs=included,
        nonce=nonce,
        extensions=extensions,
        signature_hash=signature_hash,
        # producedAt = NOW, not the wall clock: the suite may run long after NOW was taken
        produced_at=NOW,
    )


def settings_for(pki: Pki, *, allowed: tuple[str, ...] = (), **overrides: Any) -> Settings:
    """``Settings`` trusting ``issuing_ca`` and ``rsa_ca``, the handler's defaults otherwise
    (read by its own ``load_settings``, so no default is declared here)."""
    base = load_settings(
        {
            "TRUSTED_CA_PEM": (pki.issuing_ca.pem + pki.rsa_ca.pem).decode(),
            "OCSP_ALLOWED_URLS": "http://unused.invalid/",
        }
    )
    return dataclasses.replace(base, allowed_urls=frozenset(allowed), **overrides)
