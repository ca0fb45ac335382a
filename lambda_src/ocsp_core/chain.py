"""Is the device certificate directly issued by one of the trusted CAs, and valid now?"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .models import Decision, Reason, deny


def validity_problem(cert: x509.Certificate, now: dt.datetime) -> Reason | None:
    """``CERT_NOT_YET_VALID`` / ``CERT_EXPIRED`` when ``now`` is outside the validity period."""
    if now < cert.not_valid_before_utc:
        return Reason.CERT_NOT_YET_VALID
    if now > cert.not_valid_after_utc:
        return Reason.CERT_EXPIRED
    return None


def device_usage_problem(leaf: x509.Certificate) -> str | None:
    """Why ``leaf`` cannot be a device (TLS client) certificate, or ``None``.

    A CA certificate (basicConstraints cA=TRUE) is refused even when a trusted CA issued it;
    an extended key usage, when present, must allow clientAuth.
    """
    extensions = leaf.extensions
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "a CA certificate (basicConstraints cA=TRUE) is not a device certificate"
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


def is_directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name equals the CA's subject and the CA's key verifies the signature."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, ValueError (names, algorithm), TypeError (key type)
        return False
    return True


def find_issuer(
    leaf: x509.Certificate, trusted: Sequence[x509.Certificate], now: dt.datetime
) -> x509.Certificate | Decision:
    """Return the trusted CA that issued ``leaf`` directly, or a ``UNTRUSTED_ISSUER`` denial.

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
    return deny(Reason.UNTRUSTED_ISSUER, detail)
