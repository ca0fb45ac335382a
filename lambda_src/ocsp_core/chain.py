"""Is a certificate valid now, and was it issued directly by a given CA?"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from .reasons import OcspReason


def validity_problem(cert: x509.Certificate, now: dt.datetime) -> OcspReason | None:
    """``CERT_NOT_YET_VALID`` / ``CERT_EXPIRED`` when ``now`` is outside the validity period."""
    if now < cert.not_valid_before_utc:
        return OcspReason.CERT_NOT_YET_VALID
    if now > cert.not_valid_after_utc:
        return OcspReason.CERT_EXPIRED
    return None


def is_directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name equals the CA's subject and the CA's key verifies the signature."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, ValueError (names, algorithm), TypeError (key type)
        return False
    return True
