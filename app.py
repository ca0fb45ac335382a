#!/usr/bin/env python3
"""Reference app: the library's constructs wired together.

Every account-specific value has a placeholder default so that ``cdk synth`` works without an AWS
account; override with ``-c key=value`` for a real deployment (see README, "Deploy").
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TypeVar

# jsii runs on the project's pinned Node LTS when it is installed (see package.json / Makefile).
_LOCAL_NODE = Path(__file__).resolve().parent / "node_modules" / ".bin" / "node"
if _LOCAL_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_LOCAL_NODE))

import aws_cdk as cdk  # noqa: E402
from aws_cdk import aws_certificatemanager as acm  # noqa: E402
from aws_cdk import aws_route53 as route53  # noqa: E402
from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: E402
from constructs import Construct  # noqa: E402

from ocsp_iot_constructs import (  # noqa: E402
    CaHierarchy,
    CaSubject,
    DevicePolicy,
    OcspFailMode,
    OcspPrivateCa,
    OcspStapling,
    OcspValidatingDomain,
)


class StaplingMode(Enum):
    """``-c stapling=...``: how the endpoint staples its server certificate's OCSP answer."""

    #: IoT Core fetches it from the responder in the server certificate (a public one).
    IOT = "iot"
    #: The stapling Lambda fetches it from the stack's Private CA and verifies it first (the
    #: server certificate must then be issued by the stack's issuing CA).
    LAMBDA = "lambda"
    #: No stapling.
    OFF = "off"


_E = TypeVar("_E", OcspFailMode, CaHierarchy, StaplingMode)

#: Context keys the reference stack always reads (``-c key=value``), with placeholder defaults
#: that synthesize anywhere.
CONTEXT_DEFAULTS: dict[str, str] = {
    "stackName": "OcspIotReference",
    "domainName": "iot.example.com",
    "serverCertificateArn": (
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    ),
    "failMode": "closed",
    "hierarchy": "ROOT_AND_ISSUING",
    "stapling": "iot",
}


def optional_context(scope: Construct, key: str) -> str | None:
    """A context value (``-c key=value``), or ``None`` when it is not given: the optional
    features (``validationCertificateArn``, ``hostedZoneId`` + ``hostedZoneName``) are then left
    out."""
    value = scope.node.try_get_context(key)
    return None if value in (None, "") else str(value)


def context_value(scope: Construct, key: str) -> str:
    """A context value, falling back to its placeholder default."""
    return optional_context(scope, key) or CONTEXT_DEFAULTS[key]


def _enum_context(scope: Construct, key: str, enum: type[_E]) -> _E:
    raw = context_value(scope, key)
    for member in enum:
        if raw.lower() in (member.name.lower(), str(member.value).lower()):
            return member
    allowed = ", ".join(str(m.value) for m in enum)
    msg = f"context {key!r} must be one of {allowed}, got {raw!r}"
    raise ValueError(msg)


def _require_together(**values: str | None) -> None:
    """Context keys that only work as a pair: one without the other is an error, not a feature
    silently left out."""
    given = {k: v for k, v in values.items() if v is not None}
    if given and len(given) < len(values):
        missing = ", ".join(repr(k) for k in values if k not in given)
        shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
        msg = (
            f"context {missing} must be given together with {', '.join(map(repr, given))} "
            f"(the CNAME is created in that hosted zone), got only {shown}; pass both "
            "(-c hostedZoneId=Z... -c hostedZoneName=example.com) or neither"
        )
        raise ValueError(msg)


class OcspIotReferenceStack(cdk.Stack):
    """An OCSP-checked IoT Core endpoint backed by its own AWS Private CA hierarchy."""

    def __init__(self, scope: Construct, construct_id: str, *, description: str) -> None:
        super().__init__(scope, construct_id, description=description)

        self.ca = OcspPrivateCa(
            self,
            "Pki",
            hierarchy=_enum_context(self, "hierarchy", CaHierarchy),
            root_subject=CaSubject(common_name="OCSP IoT Reference Root CA"),
            register_with_iot=True,
        )

        server_certificate = acm.Certificate.from_certificate_arn(
            self, "ServerCertificate", context_value(self, "serverCertificateArn")
        )
        validation_arn = optional_context(self, "validationCertificateArn")
        validation_certificate = (
            acm.Certificate.from_certificate_arn(self, "ValidationCertificate", validation_arn)
            if validation_arn
            else None
        )
        zone_id = optional_context(self, "hostedZoneId")
        zone_name = optional_context(self, "hostedZoneName")
        _require_together(hostedZoneId=zone_id, hostedZoneName=zone_name)
        hosted_zone = (
            route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=zone_id, zone_name=zone_name
            )
            if zone_id and zone_name
            else None
        )
        fail_mode = _enum_context(self, "failMode", OcspFailMode)
        stapling = _enum_context(self, "stapling", StaplingMode)

        self.domain = OcspValidatingDomain(
            self,
            "Devices",
            domain_name=context_value(self, "domainName"),
            server_certificate=server_certificate,
            validation_certificate=validation_certificate,
            trusted_cas=[self.ca],
            hosted_zone=hosted_zone,
            fail_mode=fail_mode,
            # choosing open with -c failMode=open is the deployer's explicit acknowledgement
            acknowledge_fail_open=fail_mode is OcspFailMode.OPEN,
            # stapling and the pre-auth check on one endpoint: one domain configuration
            stapling=None
            if stapling is StaplingMode.OFF
            else OcspStapling(
                responder_function=stapling is StaplingMode.LAMBDA,
                trusted_cas=[self.ca] if stapling is StaplingMode.LAMBDA else (),
            ),
            # what `ocsp-iot enroll` attaches to every device certificate
            device_policy=DevicePolicy(topic_prefix="devices"),
        )
        cdk.CfnOutput(self, "IssuingCaArn", value=self.ca.issuing_ca_arn)
        cdk.CfnOutput(self, "OcspResponderUrl", value=self.ca.ocsp_responder_url)
        cdk.CfnOutput(self, "DomainConfigurationName", value=self.domain.domain_configuration_name)
        cdk.CfnOutput(self, "PreAuthFunctionName", value=self.domain.function.function_name)
        stapling_function = self.domain.stapling.function if self.domain.stapling else None
        if stapling_function is not None:
            cdk.CfnOutput(self, "StaplingFunctionName", value=stapling_function.function_name)
        # read by `ocsp-iot enroll --outputs` (cdk deploy --outputs-file)
        cdk.CfnOutput(self, "DomainName", value=self.domain.domain_name)
        if self.domain.device_policy_name is not None:
            cdk.CfnOutput(self, "DevicePolicyName", value=self.domain.device_policy_name)
            cdk.CfnOutput(
                self, "DeviceTopicPrefix", value=self.domain.device_topic_prefix or "devices"
            )
        if self.ca.iot_ca_certificate is not None:
            cdk.CfnOutput(self, "IotCaCertificateId", value=self.ca.iot_ca_certificate.attr_id)


def build_app(app: cdk.App) -> OcspIotReferenceStack:
    """Add the reference stack to ``app`` and register cdk-nag's rule packs on it."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return OcspIotReferenceStack(
        app,
        context_value(app, "stackName"),
        description="ocsp-iot-constructs reference stack (OCSP-checked AWS IoT Core fleet)",
    )


def main() -> None:
    app = cdk.App()
    build_app(app)
    app.synth()


if __name__ == "__main__":
    main()
