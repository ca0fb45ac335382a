"""Helpers shared by the ``StaplingDomainConfig`` tests and the stapling contract tests: a real
CA and delegated responder (PEM), and a stapling domain with test defaults."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ocsp_iot_constructs import (
    OcspAuthorizedResponder,
    OcspStapling,
    StaplingDomainConfig,
    TrustedCa,
)
from tests.constructs.domain_support import ACCOUNT, OCSP_URL, REGION, server_cert
from tests.lambdas.support.pki import Pki, build_pki

RESPONDER_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/99999999-8888-7777-6666-555555555555"


@cache
def stapling_pki() -> Pki:
    """One test PKI (fresh keys per run) whose PEMs the construct and the Lambda both read."""
    return build_pki()


def ca_pem() -> str:
    return stapling_pki().issuing_ca.pem.decode()


def delegate_pem() -> str:
    return stapling_pki().delegate.pem.decode()


def trusted_ca(url: str | None = OCSP_URL) -> TrustedCa:
    return TrustedCa.from_pem(ca_pem(), ocsp_responder_url=url)


def authorized_responder(stack: cdk.Stack, *, pem: str | None = None) -> OcspAuthorizedResponder:
    return OcspAuthorizedResponder(
        certificate=acm.Certificate.from_certificate_arn(stack, "Responder", RESPONDER_ARN),
        certificate_pem=delegate_pem() if pem is None else pem,
    )


def lambda_stapling(**options: Any) -> OcspStapling:
    """``OcspStapling`` with the Lambda, trusting the test CA (its URL is the responder)."""
    values: dict[str, Any] = {"responder_function": True, "trusted_cas": [trusted_ca()]}
    values.update(options)
    return OcspStapling(**values)


def make_stapling(
    stack: cdk.Stack, stapling: OcspStapling | None = None, **overrides: Any
) -> StaplingDomainConfig:
    props: dict[str, Any] = {"domain_name": "devices.example.com", "stapling": stapling}
    props.update(overrides)
    if "server_certificate" not in props:
        props["server_certificate"] = server_cert(stack)
    return StaplingDomainConfig(stack, "Endpoint", **props)


def fixed_delegate_pem(issuer_name: str = "External CA") -> str:
    """A delegated responder (OCSPSigning EKU) of ``domain_support.ca_pem(issuer_name)``, the
    same on every run (Ed25519 signs deterministically), so that snapshots are stable."""
    ca_key = ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(issuer_name.encode()).digest()
    )
    key = ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"{issuer_name} responder".encode()).digest()
    )
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OCSP Responder")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .sign(ca_key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
