"""Candidate trust anchors: CA certificates (and things that are not) with every combination of
the extensions that decide whether the pre-auth Lambda can trust them (RFC 5280 4.2).

``CA_VARIANTS`` names hand-picked cases with the problem each must be refused for
(``ocsp_core.chain``'s phrase, ``None``: accepted); ``ca_candidates()`` is a hypothesis strategy
that combines the same building blocks freely. The Lambda tests check the rules with the named
cases; the contract tests feed both to the Lambda and to the construct's copy of the rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from hypothesis import strategies as st
from ocsp_core import chain

from .pki import Issued, custom_certificate, usage

Extension = tuple[x509.ExtensionType, bool]

#: A private-arc OID no checker understands.
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.7.1")
#: One key for every candidate (signing is then the only cost of a generated certificate).
KEY = ec.derive_private_key(
    int.from_bytes(hashlib.sha256(b"candidate CA key").digest(), "big"), ec.SECP256R1()
)


def unknown(critical: bool) -> Extension:
    return x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00"), critical


def ca_constraints(ca: bool = True, critical: bool = True) -> Extension:
    return x509.BasicConstraints(ca=ca, path_length=None), critical


def key_usage(*, key_cert_sign: bool, critical: bool = True) -> Extension:
    return usage(key_cert_sign=key_cert_sign), critical


def name_constraints(critical: bool = True) -> Extension:
    permitted = [x509.DNSName("devices.example.com")]
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical


def subject_key_id(critical: bool = False) -> Extension:
    return x509.SubjectKeyIdentifier.from_public_key(KEY.public_key()), critical


def policies(critical: bool = True) -> Extension:
    return (
        x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)]
        ),
        critical,
    )


def policy_constraints(critical: bool = True) -> Extension:
    return x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None), critical


def eku(critical: bool) -> Extension:
    return x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical


def subject_alt_name(critical: bool) -> Extension:
    return x509.SubjectAlternativeName([x509.DNSName("device-1.devices.example.com")]), critical


def info_access(critical: bool) -> Extension:
    ocsp_url = x509.UniformResourceIdentifier("http://ocsp.example.com/")
    return (
        x509.AuthorityInformationAccess(
            [x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP, ocsp_url)]
        ),
        critical,
    )


def malformed_constraints() -> Extension:
    """basicConstraints whose value does not parse (``cert.extensions`` raises)."""
    return x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\x01\x02"), True


def candidate(name: str, extensions: Sequence[Extension]) -> Issued:
    return custom_certificate(name, issuer=None, extensions=extensions, key=KEY)


def _unknown_phrase(oid: x509.ObjectIdentifier) -> str:
    return chain.unknown_critical_phrase(oid.dotted_string)


#: name -> (extensions, the problem ``ocsp_core.chain.ca_problem`` names; ``None``: a usable CA)
CA_VARIANTS: dict[str, tuple[list[Extension], str | None]] = {
    "ca": ([ca_constraints(), key_usage(key_cert_sign=True), subject_key_id()], None),
    "ca-without-key-usage": ([ca_constraints()], None),
    "ca-with-non-critical-constraints": ([ca_constraints(critical=False)], None),
    "ca-with-critical-info-access": ([ca_constraints(), info_access(critical=True)], None),
    "ca-with-non-critical-unknown": ([ca_constraints(), unknown(critical=False)], None),
    "ca-with-non-critical-policies": ([ca_constraints(), policies(critical=False)], None),
    "device-certificate": (
        [ca_constraints(ca=False), key_usage(key_cert_sign=False), eku(critical=False)],
        chain.CA_NOT_A_CA,
    ),
    "no-basic-constraints": ([key_usage(key_cert_sign=True)], chain.CA_NOT_A_CA),
    "key-usage-without-keyCertSign": (
        [ca_constraints(), key_usage(key_cert_sign=False)],
        chain.CA_NO_KEY_CERT_SIGN,
    ),
    "name-constraints": ([ca_constraints(), name_constraints()], chain.CA_NAME_CONSTRAINTS),
    "name-constraints-non-critical": (
        [ca_constraints(), name_constraints(critical=False)],
        chain.CA_NAME_CONSTRAINTS,
    ),
    "critical-unknown-extension": (
        [ca_constraints(), unknown(critical=True)],
        _unknown_phrase(UNKNOWN_OID),
    ),
    "critical-certificate-policies": (
        [ca_constraints(), policies()],
        _unknown_phrase(ExtensionOID.CERTIFICATE_POLICIES),
    ),
    "critical-policy-constraints": (
        [ca_constraints(), policy_constraints()],
        _unknown_phrase(ExtensionOID.POLICY_CONSTRAINTS),
    ),
    "critical-extended-key-usage": (
        [ca_constraints(), eku(critical=True)],
        _unknown_phrase(ExtensionOID.EXTENDED_KEY_USAGE),
    ),
    "malformed-extension": ([malformed_constraints()], chain.CA_BAD_EXTENSIONS),
}


@st.composite
def ca_candidates(draw: st.DrawFn) -> Issued:
    """A self-signed certificate with a random selection of the building blocks above."""
    optional: list[Extension] = []
    constraints = draw(st.sampled_from(["none", "ca", "not-ca"]))
    if constraints != "none":
        optional.append(ca_constraints(ca=constraints == "ca", critical=draw(st.booleans())))
    if draw(st.booleans()):
        optional.append(key_usage(key_cert_sign=draw(st.booleans()), critical=draw(st.booleans())))
    for make in (name_constraints, unknown, policies, policy_constraints, eku, info_access):
        if draw(st.booleans()):
            optional.append(make(draw(st.booleans())))
    if draw(st.booleans()):
        optional.append(subject_key_id(draw(st.booleans())))
    if draw(st.integers(0, 15)) == 0:
        optional = [malformed_constraints()]
    return candidate("Generated CA", draw(st.permutations(optional)))
