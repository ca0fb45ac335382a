"""The IoT Core custom domain part shared by the domain constructs: the checks of the domain
name, certificates, configuration name, TLS policy and tags; the ``AWS::IoT::DomainConfiguration``
with the invoke permissions of the Lambdas it calls (client-certificate validation and/or the
server-certificate OCSP responder); the optional DNS record and the endpoint lookup behind it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import custom_resources as cr
from constructs import Construct

from ._types import TlsSecurityPolicy
from ._validation import DNS_NAME_RULE, Problems, acknowledge, implements, is_dns_name, is_token

_CONFIG_NAME = re.compile(r"^[\w.-]{1,128}$")

#: Construct id of the stack-wide singleton Lambda behind every ``AwsCustomResource``.
AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
#: Construct id (on the stack) of the marker that finds the stack's one endpoint lookup.
ENDPOINT_LOOKUP_MARKER_ID = "OcspIotDataAtsEndpoint"


# -- checks ----------------------------------------------------------------------------------


#: The CNAME's TTL when none is given, and the longest one taken.
DEFAULT_RECORD_TTL = cdk.Duration.minutes(5)
MAX_RECORD_TTL = cdk.Duration.days(2)


def config_name_of(problems: Problems, scope: Construct, given: object) -> str:
    """The domain configuration's name: ``given``, or a unique one for ``scope`` (also when
    ``given`` is not a string, which is reported)."""
    if given is not None and not isinstance(given, str):
        problems.add("domain_configuration_name", "a string", given)
        given = None
    if given is None:
        return cdk.Names.unique_resource_name(scope, max_length=128, separator="-")
    return given


def check_record_ttl(problems: Problems, record_ttl: object) -> cdk.Duration:
    """The CNAME's TTL: whole seconds from 1 second to 2 days."""
    if record_ttl is None:
        return DEFAULT_RECORD_TTL
    if not isinstance(record_ttl, cdk.Duration):
        problems.add("record_ttl", "a cdk.Duration", record_ttl, "e.g. cdk.Duration.minutes(5)")
        return DEFAULT_RECORD_TTL
    if not record_ttl.is_unresolved():
        millis = record_ttl.to_milliseconds()
        problems.require(
            millis % 1000 == 0 and 1000 <= millis <= MAX_RECORD_TTL.to_milliseconds(),
            "record_ttl",
            "whole seconds from 1 second to 2 days",
            record_ttl.to_human_string(),
        )
    return record_ttl


def check_domain_name(
    problems: Problems, domain_name: object, hosted_zone: route53.IHostedZone | None
) -> None:
    """A lower-case FQDN the user owns, below ``hosted_zone`` when one is given."""
    if not isinstance(domain_name, str):
        problems.add("domain_name", "a string", domain_name)
        return
    if hosted_zone is not None and not implements(hosted_zone, route53.IHostedZone):
        problems.add("hosted_zone", "a route53.IHostedZone", hosted_zone)
        hosted_zone = None
    if hosted_zone is not None and not is_token(hosted_zone.zone_name + domain_name):
        zone = hosted_zone.zone_name.rstrip(".")
        problems.require(
            domain_name.endswith(f".{zone}"),
            "domain_name",
            f"a name below hosted_zone {zone!r} (the CNAME is created there, and DNS allows "
            "no CNAME at the zone apex)",
            domain_name,
        )
    if is_token(domain_name):
        return
    ok = is_dns_name(domain_name)
    lower = domain_name.lower()
    problems.require(
        ok,
        "domain_name",
        f"{DNS_NAME_RULE} such as 'devices.example.com'",
        domain_name,
        f"use {lower!r}" if lower != domain_name and is_dns_name(lower) else None,
    )
    if ok and domain_name.endswith(".amazonaws.com"):
        problems.add(
            "domain_name",
            "a domain you own (IoT's own amazonaws.com endpoints need no custom domain)",
            domain_name,
        )


def _same_place(one: Construct, other: Construct) -> bool:
    """Can the two constructs' stacks be in one account and Region (IoT Core's scope for a
    domain name)? Only two different concrete accounts or Regions say no."""
    first, second = cdk.Stack.of(one), cdk.Stack.of(other)
    for a, b in ((first.account, second.account), (first.region, second.region)):
        if not is_token(a) and not is_token(b) and a != b:
            return False
    return True


def check_unique_domain_name(problems: Problems, scope: Construct, domain_name: object) -> None:
    """No other ``AWS::IoT::DomainConfiguration`` of the app serves ``domain_name`` in the same
    account and Region (one created before ``scope``; a name only known at deploy time is not
    compared, nor stacks of two different concrete accounts or Regions)."""
    if not isinstance(domain_name, str) or is_token(domain_name):
        return
    for node in scope.node.root.node.find_all():
        if (
            isinstance(node, iot.CfnDomainConfiguration)
            and node.domain_name == domain_name
            and _same_place(scope, node)
        ):
            owner = node.node.scope
            path = (owner or node).node.path
            problems.add(
                "domain_name",
                "a name that no other domain configuration of the app serves in this account "
                "and Region (IoT Core serves a domain name from one domain configuration)",
                domain_name,
                f"{path!r} already serves it: give this one another domain_name, or, for OCSP "
                "stapling and the pre-auth check on one endpoint, replace both by one "
                "OcspValidatingDomain(..., stapling=OcspStapling(...))",
            )
            return


def check_certificates(
    problems: Problems,
    server_certificate: object,
    validation_certificate: object,
) -> None:
    """An ACM server certificate; a public validation certificate when it is private."""
    if server_certificate is None:
        problems.add(
            "server_certificate",
            "an ACM certificate (acm.ICertificate) for domain_name",
            None,
        )
    elif not implements(server_certificate, acm.ICertificate):
        problems.add("server_certificate", "an acm.ICertificate", type(server_certificate).__name__)
    if validation_certificate is not None and not implements(
        validation_certificate, acm.ICertificate
    ):
        problems.add(
            "validation_certificate", "an acm.ICertificate", type(validation_certificate).__name__
        )
    if isinstance(server_certificate, acm.PrivateCertificate) and validation_certificate is None:
        problems.add(
            "validation_certificate",
            "a public ACM certificate for domain_name when server_certificate is issued by a "
            "private CA",
            None,
            "IoT Core proves domain ownership with it (e.g. acm.Certificate with DNS validation)",
        )
    if isinstance(validation_certificate, acm.PrivateCertificate):
        problems.add(
            "validation_certificate",
            "a publicly trusted ACM certificate",
            "an acm.PrivateCertificate",
        )


def check_domain_settings(
    problems: Problems,
    *,
    config_name: str,
    tls_security_policy: object,
    tags: Mapping[object, object],
) -> None:
    """The domain configuration's name, TLS policy and tags."""
    if not is_token(config_name):
        problems.require(
            bool(_CONFIG_NAME.match(config_name)) and not config_name.startswith("IoT:"),
            "domain_configuration_name",
            "1-128 characters of letters, digits, '_', '.' and '-'",
            config_name,
        )
    if not (isinstance(tls_security_policy, str) and is_token(tls_security_policy)):
        problems.require(
            isinstance(tls_security_policy, str) and tls_security_policy in TlsSecurityPolicy.ALL,
            "tls_security_policy",
            f"one of {', '.join(TlsSecurityPolicy.ALL)}",
            tls_security_policy,
        )
    for key, value in tags.items():
        problems.require(
            isinstance(key, str) and 0 < len(key) <= 128 and not key.startswith("aws:"),
            f"tags[{key!r}]",
            "a key of 1-128 characters not starting with 'aws:'",
            key,
        )
        problems.require(
            isinstance(value, str) and len(value) <= 256,
            f"tags[{key!r}]",
            "a string value of at most 256 characters",
            value,
        )


# -- the domain configuration ----------------------------------------------------------------


@dataclass(frozen=True)
class InvokedFunction:
    """A Lambda the domain configuration invokes, and the construct id of its permission."""

    permission_id: str
    function: lambda_.IFunction


@dataclass(frozen=True, kw_only=True)
class DomainSpec:
    """Everything ``AWS::IoT::DomainConfiguration`` needs, already checked.

    :param client_certificate_callback: the custom client certificate validation Lambda.
    :param server_certificate_config: ``ServerCertificateConfig`` (OCSP stapling), or none.
    :param authorizer: ``AuthorizerConfig`` (``CUSTOM_AUTH_X509`` only), or none.
    """

    name: str
    domain_name: str
    server_certificate: acm.ICertificate
    validation_certificate: acm.ICertificate | None
    tls_security_policy: str
    enabled: bool
    authentication_type: str | None = None
    application_protocol: str | None = None
    authorizer: iot.CfnDomainConfiguration.AuthorizerConfigProperty | None = None
    client_certificate_callback: lambda_.IFunction | None = None
    server_certificate_config: iot.CfnDomainConfiguration.ServerCertificateConfigProperty | None = (
        None
    )


def source_arn_pattern(scope: Construct, config_name: str) -> str:
    """The ``SourceArn`` pattern of an invoke permission for the domain configuration
    ``config_name`` (its ARN suffix is service-generated, hence ``/*``)."""
    return cdk.Stack.of(scope).format_arn(
        service="iot",
        resource="domainconfiguration",
        resource_name=f"{config_name}/*",
        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
    )


def invoke_permission(
    scope: Construct, id: str, function: lambda_.IFunction, source_arn: str
) -> lambda_.CfnPermission:
    """``lambda:InvokeFunction`` for ``iot.amazonaws.com``, scoped to this account and to
    ``source_arn``."""
    return lambda_.CfnPermission(
        scope,
        id,
        action="lambda:InvokeFunction",
        function_name=function.function_arn,
        principal="iot.amazonaws.com",
        source_account=cdk.Stack.of(scope).account,
        source_arn=source_arn,
    )


def create_domain_configuration(
    scope: Construct, spec: DomainSpec, *, permissions: Sequence[lambda_.CfnPermission] = ()
) -> iot.CfnDomainConfiguration:
    """The domain configuration (construct id ``Resource``), created after ``permissions``:
    IoT must be allowed to call its Lambdas before the domain serves a connection."""
    callback = spec.client_certificate_callback
    configuration = iot.CfnDomainConfiguration(
        scope,
        "Resource",
        domain_configuration_name=spec.name,
        domain_name=spec.domain_name,
        server_certificate_arns=[spec.server_certificate.certificate_arn],
        validation_certificate_arn=(
            spec.validation_certificate.certificate_arn if spec.validation_certificate else None
        ),
        service_type="DATA",
        authentication_type=spec.authentication_type,
        application_protocol=spec.application_protocol,
        client_certificate_config=(
            iot.CfnDomainConfiguration.ClientCertificateConfigProperty(
                client_certificate_callback_arn=callback.function_arn
            )
            if callback is not None
            else None
        ),
        server_certificate_config=spec.server_certificate_config,
        authorizer_config=spec.authorizer,
        tls_config=iot.CfnDomainConfiguration.TlsConfigProperty(
            security_policy=spec.tls_security_policy
        ),
        domain_configuration_status="ENABLED" if spec.enabled else "DISABLED",
    )
    for permission in permissions:
        configuration.node.add_dependency(permission)
    return configuration


# -- DNS -------------------------------------------------------------------------------------


def _describe_endpoint_call() -> cr.AwsSdkCall:
    return cr.AwsSdkCall(
        service="Iot",
        action="describeEndpoint",
        parameters={"endpointType": "iot:Data-ATS"},
        physical_resource_id=cr.PhysicalResourceId.of("iot-Data-ATS-endpoint"),
        output_paths=["endpointAddress"],
    )


def _acknowledge_aws_custom_resource_provider(stack: cdk.Stack) -> None:
    """The CDK-owned singleton provider of ``AwsCustomResource`` (shared in the stack)."""
    provider = stack.node.try_find_child(AWS_CUSTOM_RESOURCE_PROVIDER_ID)
    if provider is None:  # pragma: no cover - created by the AwsCustomResource just before
        return
    role = provider.node.try_find_child("ServiceRole")
    if role is not None:
        acknowledge(
            role.node.find_child("Resource"),
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource provider role: the managed policy only lets it write its "
            "own CloudWatch logs",
        )
    function = provider.node.find_child("Resource")
    acknowledge(
        function,
        "Serverless::Serverless-LambdaDLQ",
        "CDK's AwsCustomResource provider is invoked by CloudFormation during deployments only; "
        "a failure fails the deployment, there is nothing to redrive",
    )
    acknowledge(
        function,
        "Serverless::Serverless-LambdaTracing",
        "CDK's AwsCustomResource provider (one IoT DescribeEndpoint call per deployment) offers "
        "no tracing option",
    )


@dataclass(frozen=True)
class DnsRecord:
    """The CNAME and the endpoint address it points to (a deploy-time value)."""

    endpoint_address: str
    cname_record: route53.CnameRecord


class _EndpointLookup(Construct):
    """The stack's one ``iot:Data-ATS`` endpoint lookup, found by its fixed id on the stack.

    The lookup itself (``DataAtsEndpoint``, an ``AwsCustomResource``) stays inside the first
    construct that needed it, so its logical id is what it was before the lookup was shared;
    every later domain of the stack reads ``endpoint_address`` from it. This marker adds
    nothing to the template.
    """

    def __init__(self, scope: Construct, id: str, *, endpoint_address: str) -> None:
        super().__init__(scope, id)
        self.endpoint_address = endpoint_address


def data_ats_endpoint(scope: Construct) -> str:
    """The account's ``iot:Data-ATS`` endpoint (a deploy-time value), which CloudFormation
    cannot return: one ``AwsCustomResource`` (``DataAtsEndpoint``, created in ``scope`` by the
    first caller of the stack) asks IoT at deploy time; later callers share it."""
    stack = cdk.Stack.of(scope)
    marker = stack.node.try_find_child(ENDPOINT_LOOKUP_MARKER_ID)
    if isinstance(marker, _EndpointLookup):
        return marker.endpoint_address
    lookup = cr.AwsCustomResource(
        scope,
        "DataAtsEndpoint",
        on_create=_describe_endpoint_call(),
        on_update=_describe_endpoint_call(),
        policy=cr.AwsCustomResourcePolicy.from_statements(
            [
                # iot:DescribeEndpoint supports no resource-level permissions.
                iam.PolicyStatement(actions=["iot:DescribeEndpoint"], resources=["*"])
            ]
        ),
        install_latest_aws_sdk=False,
        memory_size=256,
        timeout=cdk.Duration.minutes(2),
    )
    acknowledge(
        lookup.node.find_child("CustomResourcePolicy").node.find_child("Resource"),
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "iot:DescribeEndpoint supports no resource-level permissions; it is the only action "
        "granted",
    )
    _acknowledge_aws_custom_resource_provider(stack)
    endpoint_address = lookup.get_response_field("endpointAddress")
    _EndpointLookup(stack, ENDPOINT_LOOKUP_MARKER_ID, endpoint_address=endpoint_address)
    return endpoint_address


def create_dns(
    scope: Construct,
    *,
    hosted_zone: route53.IHostedZone,
    domain_name: str,
    ttl: cdk.Duration,
    domain_configuration: iot.CfnDomainConfiguration,
    comment: str,
) -> DnsRecord:
    """A CNAME ``domain_name`` -> the account's ``iot:Data-ATS`` endpoint
    (:func:`data_ats_endpoint`: one lookup per stack)."""
    endpoint_address = data_ats_endpoint(scope)
    record = route53.CnameRecord(
        scope,
        "Cname",
        zone=hosted_zone,
        record_name=f"{domain_name}.",
        domain_name=endpoint_address,
        ttl=ttl,
        comment=comment,
    )
    record.node.add_dependency(domain_configuration)
    return DnsRecord(endpoint_address, record)
