"""Helpers shared by the ``OcspValidatingDomain`` tests and the construct-to-Lambda contract
tests: a stack, certificates, a deterministic CA PEM, a domain with test defaults."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk.assertions import Template
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from ocsp_iot_constructs.ocsp_private_ca import SigningAlgorithm
from ocsp_iot_constructs.ocsp_validating_domain import (
    OcspValidatingDomain,
    TrustedCa,
)
from tests.support import new_app

ACCOUNT = "123456789012"


REGION = "eu-west-1"


CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"


OCSP_URL = "http://ocsp.example.com"


PSS_HASHES: dict[SigningAlgorithm, hashes.HashAlgorithm] = {
    SigningAlgorithm.SHA256WITHRSA_PSS: hashes.SHA256(),
    SigningAlgorithm.SHA384WITHRSA_PSS: hashes.SHA384(),
    SigningAlgorithm.SHA512WITHRSA_PSS: hashes.SHA512(),
}


def ca_pem(name: str = "External CA") -> str:
    """A real CA certificate that is the same on every run (Ed25519 signs deterministically),
    so that the snapshot is stable."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA_PEM = ca_pem()


SECOND_CA_PEM = ca_pem("Second CA")


def new_stack(app: cdk.App | None = None) -> cdk.Stack:
    return cdk.Stack(app or new_app(), "Stack", env=cdk.Environment(account=ACCOUNT, region=REGION))


def server_cert(stack: cdk.Stack) -> acm.ICertificate:
    return acm.Certificate.from_certificate_arn(stack, "ServerCert", CERT_ARN)


def private_server_cert(stack: cdk.Stack) -> acm.PrivateCertificate:
    """An ACM certificate issued by an (imported) AWS Private CA."""
    pca = cdk.aws_acmpca.CertificateAuthority.from_certificate_authority_arn(
        stack, "Pca", f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/abc"
    )
    return acm.PrivateCertificate(
        stack, "Private", domain_name="devices.example.com", certificate_authority=pca
    )


def make_domain(stack: cdk.Stack, **overrides: Any) -> OcspValidatingDomain:
    props: dict[str, Any] = {
        "domain_name": "devices.example.com",
        "server_certificate": server_cert(stack),
        "trusted_cas": [TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL)],
    }
    props.update(overrides)
    return OcspValidatingDomain(stack, "Domain", **props)


def template_of(stack: cdk.Stack) -> Template:
    return Template.from_stack(stack)


def only(template: Template, type_: str) -> tuple[str, dict[str, Any]]:
    resources = template.find_resources(type_)
    assert len(resources) == 1, resources
    logical_id, resource = next(iter(resources.items()))
    return logical_id, dict(resource)
