"""Public value types of server-certificate OCSP stapling: the option group :class:`OcspStapling`
taken by ``StaplingDomainConfig`` and by ``OcspValidatingDomain(stapling=...)``, and
:class:`OcspAuthorizedResponder`.

Re-exported unchanged by ``stapling_domain_config`` and the package (``__all__``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from ._types import TrustedIssuer

__all__ = ["OcspAuthorizedResponder", "OcspStapling"]


@dataclass(frozen=True, kw_only=True)
class OcspAuthorizedResponder:
    """A delegated OCSP responder that signs the server certificate's OCSP answers
    (RFC 6960 4.2.2.2: issued directly by the server certificate's CA, with the OCSPSigning
    extended key usage).

    IoT Core is told about it with ``OcspAuthorizedResponderArn`` and then verifies every staple
    against it instead of the CA; the stapling Lambda returns only answers it signed.

    :param certificate: the responder certificate **imported** into ACM (same account and
        Region), e.g. ``acm.Certificate.from_certificate_arn(...)``.
    :param certificate_pem: the same certificate, PEM. Required with the stapling Lambda (it
        verifies answers against it); otherwise optional, and used for the synth-time checks.
    """

    certificate: acm.ICertificate
    certificate_pem: str | None = None


@dataclass(frozen=True, kw_only=True)
class OcspStapling:
    """Server-certificate OCSP stapling of an IoT Core custom domain
    (``ServerCertificateConfig``): IoT Core fetches the OCSP answer for its own server
    certificate about hourly and staples it into every TLS handshake.

    By default IoT Core fetches the answer itself, from the OCSP URL in the server certificate
    (a responder it can reach over public IPv4, such as AWS Private CA's). With
    ``responder_function=True`` IoT Core asks a Lambda instead (``OcspLambdaArn``), which
    forwards to ``responder_url`` (private responders, in a VPC) and returns only answers it
    verified.

    :param responder_function: deploy the stapling Lambda. Default: ``False``.
    :param trusted_cas: the CA or CAs that issue the server certificate (``OcspPrivateCa`` or
        ``TrustedCa.from_pem``). Required with the Lambda (answers must be signed by one of them
        or by ``authorized_responder``); without it optional, used for synth-time checks.
    :param responder_url: the responder the Lambda forwards to. Default: the ``ocsp_responder_url``
        of the only trusted CA.
    :param authorized_responder: the delegated responder IoT Core verifies staples against.
        Default: none (staples must be signed by the CA itself).
    :param ocsp_timeout: per responder request (Lambda). Default: 2 seconds.
    :param cache_max_age: how long the Lambda reuses a verified answer (never at or past its
        nextUpdate). Default: 1 hour.
    :param max_age_without_next_update: how long an answer without nextUpdate may be stapled
        after its thisUpdate (Lambda). Default: 5 minutes.
    :param max_response_bytes: the largest answer the Lambda reads and returns; at most 4,096
        (IoT Core's limit). Default: 4,096.
    :param architecture: of the Lambda. Default: ``Architecture.ARM_64``.
    :param memory_size: of the Lambda, MB. Default: 256.
    :param timeout: of the Lambda. Default: 5 seconds.
    :param log_retention: of the Lambda's log group. Default: three months.
    :param tracing: X-Ray active tracing of the Lambda. Default: ``True``.
    :param reserved_concurrent_executions: of the Lambda. Default: none (unreserved).
    :param vpc: place the Lambda in this VPC (to reach a private responder). Default: not in a
        VPC.
    :param vpc_subnets: the subnets of ``vpc``. Default: its private subnets.
    :param security_groups: of the Lambda in ``vpc``. Default: one that only allows egress.
    :param log_encryption_key: a customer managed KMS key for the Lambda's log group. Default:
        CloudWatch Logs' own encryption.
    :param retrieval_alarm_hours: the ``StapleRetrievalsAlarm`` fires when IoT Core has not
        retrieved a staple for this many hours in a row (it refreshes hourly). Default: 3.
    :param days_to_expiry_threshold: the ``DaysToExpiryAlarm`` fires when the server
        certificate expires in fewer days. Default: 30.
    """

    responder_function: bool = False
    trusted_cas: Sequence[TrustedIssuer] = ()
    responder_url: str | None = None
    authorized_responder: OcspAuthorizedResponder | None = None
    ocsp_timeout: cdk.Duration | None = None
    cache_max_age: cdk.Duration | None = None
    max_age_without_next_update: cdk.Duration | None = None
    max_response_bytes: int | None = None
    architecture: lambda_.Architecture | None = None
    memory_size: int = 256
    timeout: cdk.Duration | None = None
    log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
    tracing: bool = True
    reserved_concurrent_executions: int | None = None
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] = ()
    log_encryption_key: kms.IKey | None = None
    retrieval_alarm_hours: int = 3
    days_to_expiry_threshold: int = 30
