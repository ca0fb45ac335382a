"""The device certificate: may it be a TLS client, does it carry only extensions the checker
understands, and which trusted CA issued it directly?"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ocsp_core.chain import (
    DEVICE_EXTENSIONS,
    is_directly_issued_by,
    unknown_critical_extension,
    validity_problem,
)


@dataclass(frozen=True, slots=True)
class UntrustedIssuer:
    """No trusted CA issued the device certificate directly (``detail`` says how it failed)."""

    detail: str


def device_usage_problem(leaf: x509.Certificate) -> str | None:
    """Why ``leaf`` cannot be a device (TLS client) certificate, or ``None``.

    A CA certificate (basicConstraints cA=TRUE) is refused even when a trusted CA issued it; a
    key usage, when present, must allow digitalSignature (a TLS client proves its key by
    signing); an extended key usage, when present, must allow clientAuth.
    """
    try:
        extensions = leaf.extensions
    except ValueError:  # duplicate or malformed extensions
        return "its extensions do not parse"
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "a CA certificate (basicConstraints cA=TRUE) is not a device certificate"
    except x509.ExtensionNotFound:
        pass
    try:
        if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return "key usage does not allow digitalSignature (a TLS client signs with its key)"
    except x509.ExtensionNotFound:
        pass
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    allowed = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    if not any(usage in allowed for usage in usages):
        return "extended key usage does not allow clientAuth"
    return None


def unknown_device_extension(leaf: x509.Certificate) -> str | None:
    """The dotted OID of a critical extension of ``leaf`` that the checker does not understand
    (``ocsp_core.chain.DEVICE_EXTENSIONS``), or ``None``. Call after
    :func:`device_usage_problem` (which refuses extensions that do not parse)."""
    return unknown_critical_extension(leaf.extensions, DEVICE_EXTENSIONS)


def find_issuer(
    leaf: x509.Certificate, trusted: Sequence[x509.Certificate], now: dt.datetime
) -> x509.Certificate | UntrustedIssuer:
    """Return the trusted CA that issued ``leaf`` directly, or why there is none.

    Several trusted CAs may share a subject (key rollover): each one is tried. The CA itself
    must be valid at ``now``. Intermediates sent by the device are never consulted.
    """
    named = [ca for ca in trusted if ca.subject == leaf.issuer]
    signed_by = [ca for ca in named if is_directly_issued_by(leaf, ca)]
    for ca in signed_by:
        if validity_problem(ca, now) is None:
            return ca
    # Only a denial renders the name (cost paid off the allow path).
    issuer_name = leaf.issuer.rfc4514_string()[:200]
    if not named:
        detail = f"issuer {issuer_name!r} is not a trusted CA"
    elif not signed_by:
        detail = f"signature does not verify with any trusted CA named {issuer_name!r}"
    else:
        detail = f"trusted CA {issuer_name!r} is not valid now"
    return UntrustedIssuer(detail)
