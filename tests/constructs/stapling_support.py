"""Helpers shared by the ``StaplingDomainConfig`` tests and the stapling contract tests: a real
CA and delegated responder (PEM), and a stapling domain with test defaults."""

from __future__ import annotations

from functools import cache
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm

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
    props: dict[str, Any] = {
        "domain_name": "devices.example.com",
        "server_certificate": server_cert(stack),
        "stapling": stapling,
    }
    props.update(overrides)
    return StaplingDomainConfig(stack, "Endpoint", **props)
