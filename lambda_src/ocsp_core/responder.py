"""Which responder to ask: a configured override, else an allow-listed OCSP URL of the
certificate's Authority Information Access extension (never any other URL: the certificate may
be an attacker's)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from .reasons import OcspReason, Rejection
from .settings import normalize_url


def ocsp_urls(cert: x509.Certificate) -> list[str] | None:
    """The OCSP URLs of ``cert``'s AIA extension, in order; ``None`` without the extension."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def choose_responder(
    cert: x509.Certificate, *, allowed_urls: frozenset[str], override: str | None
) -> str | Rejection:
    """The normalized URL to ask about ``cert``: ``override``, else the first allow-listed OCSP
    URL of its AIA."""
    if override is not None:
        return override
    urls = ocsp_urls(cert)
    if urls is None:
        return Rejection(OcspReason.NO_RESPONDER_URL, "no AIA extension and no OCSP_RESPONDER_URL")
    if not urls:
        return Rejection(
            OcspReason.NO_RESPONDER_URL, "no OCSP URL in AIA and no OCSP_RESPONDER_URL"
        )
    for url in urls:
        try:
            normalized = normalize_url(url)
        except ValueError:
            continue
        if normalized in allowed_urls:
            return normalized
    return Rejection(
        OcspReason.URL_NOT_ALLOWED, f"AIA OCSP URL {urls[0][:200]!r} is not allow-listed"
    )
