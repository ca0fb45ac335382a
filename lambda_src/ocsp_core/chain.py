"""Certificate checks: is a certificate valid now, was it issued directly by a given CA, and
may it be used in its role at all (RFC 5280 section 4.2)?

RFC 5280 4.2: a certificate carrying a *critical* extension that the checker does not recognise
or cannot process must be rejected. The checker therefore names, per role, the extensions it
understands; each constraint among them is checked for that role:

- every role: subjectKeyIdentifier, authorityKeyIdentifier, authorityInfoAccess and
  subjectAltName only *describe* (a key, a name, where to find more): nothing in them
  constrains the certificate's use, and no name constraint is evaluated (see below);
- a device certificate: basicConstraints (cA must be false), keyUsage (digitalSignature, what
  a TLS client signs with) and extendedKeyUsage (clientAuth);
- a delegated responder certificate: basicConstraints, keyUsage (digitalSignature),
  extendedKeyUsage (OCSPSigning) and id-pkix-ocsp-nocheck (its own status is never asked);
- a trusted CA certificate: basicConstraints (cA must be true) and keyUsage (keyCertSign).

Policy extensions (certificatePolicies, policyMappings, policyConstraints, inhibitAnyPolicy)
are not processed, so a critical one makes the certificate unusable. A trusted CA with
nameConstraints, critical or not, is refused outright: the checker does not evaluate name
constraints, and RFC 5280 4.2.1.10 binds every certificate below the CA by them.
``cryptography.x509.verification`` would not close that gap: it evaluates DNS, IP and email
constraints against subjectAltName only, refuses directoryName constraints, and requires a
subjectAltName of every device, which IoT device certificates rarely carry.

The construct keeps a copy of the trusted-CA rules (``ocsp_iot_constructs._ocsp_client``) so
that a CA the Lambda would refuse fails at synth; a test feeds the same certificates to both.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from .reasons import OcspReason

#: Extensions that only describe; every role understands them.
DESCRIPTIVE_EXTENSIONS = frozenset(
    {
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    }
)
#: What a device certificate may carry as critical.
DEVICE_EXTENSIONS = DESCRIPTIVE_EXTENSIONS | {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
}
#: What a delegated OCSP responder certificate may carry as critical.
RESPONDER_EXTENSIONS = DESCRIPTIVE_EXTENSIONS | {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.OCSP_NO_CHECK,
}
#: What a trusted CA certificate may carry as critical (nameConstraints is refused anyway).
CA_EXTENSIONS = DESCRIPTIVE_EXTENSIONS | {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
}

#: Why a certificate cannot be a trusted CA, as the phrase after "must be" (the construct's copy
#: says the same: a test compares them).
CA_NOT_A_CA = "a CA certificate (basicConstraints cA=TRUE)"
CA_NO_KEY_CERT_SIGN = "a CA certificate whose keyUsage allows keyCertSign (signing certificates)"
CA_NAME_CONSTRAINTS = (
    "a CA certificate without nameConstraints (they are not evaluated, and RFC 5280 forbids "
    "ignoring them)"
)
CA_BAD_EXTENSIONS = "a certificate whose extensions parse"


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


def unknown_critical_extension(
    extensions: x509.Extensions, understood: frozenset[x509.ObjectIdentifier]
) -> str | None:
    """The dotted OID of the first critical extension outside ``understood``, or ``None``."""
    for extension in extensions:
        if extension.critical and extension.oid not in understood:
            return str(extension.oid.dotted_string)
    return None


def unknown_critical_phrase(oid: str) -> str:
    """The phrase (after "must be") for a critical extension that is not understood."""
    return f"a certificate without critical extensions the checker does not understand ({oid})"


def ca_problem(cert: x509.Certificate) -> str | None:  # noqa: PLR0911 - one return per rule
    """Why ``cert`` cannot be a trusted CA that issues devices (the phrase after "must be"), or
    ``None`` when it can."""
    try:
        extensions = cert.extensions
    except ValueError:  # duplicate or malformed extensions
        return CA_BAD_EXTENSIONS
    try:
        if not extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return CA_NOT_A_CA
    except x509.ExtensionNotFound:
        return CA_NOT_A_CA
    try:
        if not extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return CA_NO_KEY_CERT_SIGN
    except x509.ExtensionNotFound:
        pass  # no keyUsage: every use is allowed (RFC 5280 4.2.1.3)
    if any(extension.oid == ExtensionOID.NAME_CONSTRAINTS for extension in extensions):
        return CA_NAME_CONSTRAINTS
    unknown = unknown_critical_extension(extensions, CA_EXTENSIONS)
    if unknown is not None:
        return unknown_critical_phrase(unknown)
    return None
