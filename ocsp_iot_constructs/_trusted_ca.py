"""Synth-time check of a trusted CA certificate: the construct's copy of the Lambda's rules
(``lambda_src/ocsp_core/chain.py``, ``ca_problem``), so that a CA the deployed Lambda would
refuse (and then deny every device with ``CONFIG_ERROR``) fails at synth instead.

A trusted CA must parse as an X.509 certificate and:

- be a CA: basicConstraints present with cA=TRUE;
- be allowed to sign certificates: a keyUsage, when present, has keyCertSign (RFC 5280
  4.2.1.3);
- carry no nameConstraints, critical or not: the Lambda does not evaluate them, and RFC 5280
  4.2.1.10 forbids ignoring them;
- carry no critical extension outside :data:`CA_EXTENSIONS` (RFC 5280 4.2).

The constructs never import the Lambda code: the rules exist once per side, and
``tests/contract`` feeds the same generated certificates to both and requires the same verdict.
Only literal PEMs can be checked; a deploy-time PEM (a token, e.g. ``OcspPrivateCa``'s) is
checked by the Lambda when it starts, and its ``CONFIG_ERROR`` decisions raise an alarm.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

#: Extensions a trusted CA certificate may carry as critical: the descriptive ones (key
#: identifiers, authority information access, subjectAltName) and the two the Lambda checks.
CA_EXTENSIONS = frozenset(
    {
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
    }
)

#: Each problem, as the phrase after "must be" (the Lambda's ``ocsp_core.chain`` says the same).
NOT_PARSED = "an X.509 certificate (its DER does not parse)"
NOT_A_CA = "a CA certificate (basicConstraints cA=TRUE)"
NO_KEY_CERT_SIGN = "a CA certificate whose keyUsage allows keyCertSign (signing certificates)"
NAME_CONSTRAINTS = (
    "a CA certificate without nameConstraints (they are not evaluated, and RFC 5280 forbids "
    "ignoring them)"
)
BAD_EXTENSIONS = "a certificate whose extensions parse"


def unknown_critical_phrase(oid: str) -> str:
    return f"a certificate without critical extensions the checker does not understand ({oid})"


def ca_problem(cert: x509.Certificate) -> str | None:  # noqa: PLR0911 - one return per rule
    """Why ``cert`` cannot be a trusted CA that issues devices, or ``None`` when it can."""
    try:
        extensions = cert.extensions
    except ValueError:  # duplicate or malformed extensions
        return BAD_EXTENSIONS
    try:
        if not extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return NOT_A_CA
    except x509.ExtensionNotFound:
        return NOT_A_CA
    try:
        if not extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return NO_KEY_CERT_SIGN
    except x509.ExtensionNotFound:
        pass  # no keyUsage: every use is allowed
    if any(extension.oid == ExtensionOID.NAME_CONSTRAINTS for extension in extensions):
        return NAME_CONSTRAINTS
    for extension in extensions:
        if extension.critical and extension.oid not in CA_EXTENSIONS:
            return unknown_critical_phrase(extension.oid.dotted_string)
    return None


def pem_problem(pem: str) -> tuple[str, str] | None:
    """Why the literal PEM ``pem`` (one ``CERTIFICATE`` block) cannot be a trusted CA, and how
    to show it in the message (its subject, or the start of the PEM when it does not parse);
    ``None`` when it can be one."""
    try:
        cert = x509.load_pem_x509_certificate(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        text = pem.strip()
        return NOT_PARSED, text if len(text) <= 60 else f"{text[:60]}... ({len(text)} characters)"
    problem = ca_problem(cert)
    if problem is None:
        return None
    try:
        subject = cert.subject.rfc4514_string()[:200]
    except ValueError:
        subject = "(a subject that cannot be printed)"
    return problem, subject
