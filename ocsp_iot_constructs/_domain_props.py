"""Synth-time validation of :class:`~ocsp_iot_constructs.ocsp_validating_domain.
OcspValidatingDomain` props.

``resolve`` checks every prop (through the shared checks of ``_domain_config``,
``_ocsp_client`` and ``_ocsp_function``), raises one ``PropsError`` listing every problem, and
otherwise returns the props with their defaults filled in and the Lambda environment rendered
(:class:`DomainProps`). ``warnings`` lists the risky-but-allowed choices.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from constructs import Construct

from . import _ocsp_client as client
from . import _preauth_function as contract
from ._device_policy import DevicePolicy, resolve_device_policy
from ._domain_config import (
    check_certificates,
    check_domain_name,
    check_domain_settings,
    check_record_ttl,
    config_name_of,
)
from ._ocsp_client import EnvironmentSize, OcspClientOptions
from ._ocsp_function import FunctionOptions, check_alarm_actions
from ._types import (
    DomainApplicationProtocol,
    DomainAuthenticationType,
    OcspFailMode,
    OcspHashAlgorithm,
    TrustedIssuer,
)
from ._validation import (
    Problems,
    check_bool,
    check_mapping,
    enum_member,
    implements,
    is_token,
)

#: IoT Core's budget for the pre-auth Lambda (the documented custom-authorizer limit; the
#: pre-auth limit itself is not published): the function's timeout must stay below it.
IOT_BUDGET = cdk.Duration.seconds(5)
#: The pre-auth function's timeout unless one is given.
DEFAULT_TIMEOUT = cdk.Duration.seconds(4)
#: The CNAME's TTL unless one is given, and the longest accepted (Route 53 takes more, but a
#: record that points at IoT's endpoint gains nothing from a longer one).
#: ``AuthorizerConfig.DefaultAuthorizerName`` (CloudFormation schema).
_AUTHORIZER_NAME = re.compile(r"[\w=,@-]{1,128}")


@dataclass(frozen=True, kw_only=True)
class DomainProps:
    """Validated props of one ``OcspValidatingDomain``, defaults applied."""

    domain_name: str
    config_name: str
    server_certificate: acm.ICertificate
    validation_certificate: acm.ICertificate | None
    authentication_type: DomainAuthenticationType
    application_protocol: DomainApplicationProtocol
    custom_authorizer_name: str | None
    allow_authorizer_override: bool
    tls_security_policy: str
    enabled: bool
    tags: Mapping[str, str]
    ocsp: OcspClientOptions
    function: FunctionOptions
    environment: Mapping[str, str]
    environment_size: EnvironmentSize
    acknowledge_fail_open: bool
    hosted_zone: route53.IHostedZone | None
    record_ttl: cdk.Duration
    responder_errors_alarm_threshold: int
    alarm_actions: Sequence[cloudwatch.IAlarmAction]
    ok_actions: Sequence[cloudwatch.IAlarmAction]
    deny_ratio_alarm_threshold: int
    alarms: bool = True
    device_policy: DevicePolicy | None = None

    @property
    def fail_mode(self) -> OcspFailMode:
        return self.ocsp.fail_mode or OcspFailMode(
            client.default_of(contract.SETTINGS, "fail_mode")
        )


def resolve(
    scope: Construct,
    construct_id: str,
    *,
    domain_name: str,
    server_certificate: acm.ICertificate,
    trusted_cas: Sequence[TrustedIssuer],
    validation_certificate: acm.ICertificate | None,
    domain_configuration_name: str | None,
    authentication_type: object,
    application_protocol: object,
    custom_authorizer_name: str | None,
    allow_authorizer_override: bool,
    tls_security_policy: str,
    enabled: bool,
    tags: Mapping[str, str] | None,
    allowed_responder_urls: Sequence[str],
    responder_url: str | None,
    ocsp: OcspClientOptions,
    acknowledge_fail_open: bool,
    function: FunctionOptions,
    alarm_actions: Sequence[cloudwatch.IAlarmAction],
    ok_actions: Sequence[cloudwatch.IAlarmAction],
    hosted_zone: route53.IHostedZone | None,
    record_ttl: cdk.Duration | None,
    responder_errors_alarm_threshold: int,
    deny_ratio_alarm_threshold: int,
    alarms: object = True,
    alarm_action: cloudwatch.IAlarmAction | None = None,
    extra_checks: Callable[[Problems], None] | None = None,
    device_policy: DevicePolicy | bool | None = None,
) -> DomainProps:
    """Validate every prop; raise one ``PropsError`` naming all problems, else the props.
    ``extra_checks`` records the problems of props checked elsewhere (``stapling``) in the same
    error."""
    problems = Problems("OcspValidatingDomain", construct_id)
    # An invalid enum is recorded; its default stands in until ``raise_if_any``.
    authentication = (
        enum_member(problems, "authentication_type", DomainAuthenticationType, authentication_type)
        or DomainAuthenticationType.AWS_X509
    )
    protocol = (
        enum_member(
            problems, "application_protocol", DomainApplicationProtocol, application_protocol
        )
        or DomainApplicationProtocol.SECURE_MQTT
    )
    ocsp = dataclasses.replace(
        ocsp,
        fail_mode=_optional_enum(problems, "fail_mode", OcspFailMode, ocsp.fail_mode),
        hash_algorithm=_optional_enum(
            problems, "hash_algorithm", OcspHashAlgorithm, ocsp.hash_algorithm
        ),
    )
    config_name = config_name_of(problems, scope, domain_configuration_name)
    check_domain_name(problems, domain_name, hosted_zone)
    if hosted_zone is not None and not implements(hosted_zone, route53.IHostedZone):
        hosted_zone = None  # reported by check_domain_name
    check_certificates(problems, server_certificate, validation_certificate)
    issuers = client.check_trusted_cas(problems, trusted_cas)
    tag_map = check_mapping(problems, "tags", {} if tags is None else tags, "tag keys to values")
    check_domain_settings(
        problems,
        config_name=config_name,
        tls_security_policy=tls_security_policy,
        tags=tag_map,
    )
    _check_authorizer(problems, authentication, custom_authorizer_name)
    for keyword, value in (
        ("allow_authorizer_override", allow_authorizer_override),
        ("enabled", enabled),
        ("acknowledge_fail_open", acknowledge_fail_open),
        ("alarms", alarms),
    ):
        check_bool(problems, keyword, value)
    ttl = check_record_ttl(problems, record_ttl)
    function.check(problems)
    check_alarm_actions(problems, "alarm_actions", alarm_actions)
    check_alarm_actions(problems, "ok_actions", ok_actions)
    if alarm_action is not None and not implements(alarm_action, cloudwatch.IAlarmAction):
        problems.add("alarm_action", "a cloudwatch.IAlarmAction", type(alarm_action).__name__)
    problems.require(
        _is_int(responder_errors_alarm_threshold) and responder_errors_alarm_threshold >= 1,
        "responder_errors_alarm_threshold",
        "a whole number, at least 1",
        responder_errors_alarm_threshold,
    )
    problems.require(
        _is_int(deny_ratio_alarm_threshold) and 1 <= deny_ratio_alarm_threshold <= 100,
        "deny_ratio_alarm_threshold",
        "a whole number of percent from 1 to 100",
        deny_ratio_alarm_threshold,
    )
    policy = resolve_device_policy(problems, device_policy)
    ocsp.check(problems, contract.SETTINGS, timeout=function.timeout)
    # Without a usable trusted CA (reported above) the URL rule would only add noise.
    allowed = client.allowed_urls(
        problems, issuers, allowed_responder_urls, responder_url, require_one=bool(issuers)
    )
    environment = ocsp.environment(
        contract.SETTINGS,
        issuers=issuers,
        allowed_urls=allowed,
        # a responder_url that is no string was reported; the size check measures the rest
        responder_url=responder_url if isinstance(responder_url, str) else None,
    )
    size = client.environment_size(
        environment,
        pem_tokens=[
            client.estimated_pem_bytes(i) for i in issuers if is_token(i.issuing_ca_certificate_pem)
        ],
    )
    problems.require(
        size.known_bytes <= client.ENV_LIMIT_BYTES,
        "the Lambda environment (trusted_cas PEMs, responder URLs and settings)",
        f"at most {client.ENV_LIMIT_BYTES} bytes in total (Lambda's 4 KB limit)",
        f"{size.known_bytes} bytes",
        "trust fewer CAs or use shorter responder URLs",
    )
    if extra_checks is not None:
        extra_checks(problems)
    problems.raise_if_any()
    return DomainProps(
        domain_name=domain_name,
        config_name=config_name,
        server_certificate=server_certificate,
        validation_certificate=validation_certificate,
        authentication_type=authentication,
        application_protocol=protocol,
        custom_authorizer_name=custom_authorizer_name,
        allow_authorizer_override=allow_authorizer_override,
        tls_security_policy=tls_security_policy,
        enabled=enabled,
        tags=tag_map,
        ocsp=ocsp,
        function=function,
        environment=environment,
        environment_size=size,
        acknowledge_fail_open=acknowledge_fail_open,
        hosted_zone=hosted_zone,
        record_ttl=ttl,
        responder_errors_alarm_threshold=responder_errors_alarm_threshold,
        alarm_actions=(*alarm_actions, *([] if alarm_action is None else [alarm_action])),
        ok_actions=tuple(ok_actions),
        deny_ratio_alarm_threshold=deny_ratio_alarm_threshold,
        alarms=bool(alarms),
        device_policy=policy,
    )


def warnings(props: DomainProps) -> list[tuple[str, str]]:
    """Risky but allowed settings: (warning id, message) pairs the user can acknowledge."""
    found: list[tuple[str, str]] = []
    timeout = props.function.timeout
    if timeout.to_milliseconds() >= IOT_BUDGET.to_milliseconds():
        found.append(
            (
                "preAuthTimeout",
                f"timeout is {timeout.to_human_string()}, not below IoT Core's ~5 s budget for "
                "the pre-auth Lambda; a slow check then fails the connection instead of "
                "returning the fail mode's answer. Use at most 4 seconds.",
            )
        )
    if props.fail_mode is OcspFailMode.OPEN and not props.acknowledge_fail_open:
        found.append(
            (
                "failOpen",
                "fail_mode is OPEN: devices are allowed when the OCSP responder is unreachable, "
                "so a revoked certificate connects during an outage (or a blocked responder). "
                "Set acknowledge_fail_open=True to confirm.",
            )
        )
    size = props.environment_size
    if size.estimated_bytes > client.ENV_LIMIT_BYTES:
        found.append(
            (
                "environmentSize",
                f"the Lambda environment may exceed Lambda's 4 KB limit: {size.known_bytes} "
                f"bytes are known and {size.token_count} deploy-time value(s) are estimated at "
                f"{size.estimated_bytes} bytes in total (a deploy-time CA certificate is "
                "estimated from its key algorithm); the deployment fails if it does.",
            )
        )
    return found


def function_options(
    *,
    architecture: lambda_.Architecture | None,
    memory_size: int,
    timeout: cdk.Duration | None,
    log_retention: logs.RetentionDays,
    tracing: bool,
    reserved_concurrent_executions: int | None,
    provisioned_concurrent_executions: int | None,
    vpc: ec2.IVpc | None,
    vpc_subnets: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup],
    log_encryption_key: kms.IKey | None,
    wheelhouse: str | os.PathLike[str] | None = None,
    lambda_bundle: str | os.PathLike[str] | None = None,
    snap_start: bool = False,
) -> FunctionOptions:
    """The pre-auth function's Lambda props with the construct's defaults."""
    return FunctionOptions.with_defaults(
        architecture=architecture,
        default_timeout=DEFAULT_TIMEOUT,
        timeout=timeout,
        log_retention=log_retention,
        memory_size=memory_size,
        tracing=tracing,
        reserved_concurrent_executions=reserved_concurrent_executions,
        provisioned_concurrent_executions=provisioned_concurrent_executions,
        vpc=vpc,
        vpc_subnets=vpc_subnets,
        security_groups=security_groups,
        log_encryption_key=log_encryption_key,
        wheelhouse=wheelhouse,
        lambda_bundle=lambda_bundle,
        snap_start=snap_start,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_E = TypeVar("_E", OcspFailMode, OcspHashAlgorithm)


def _optional_enum(problems: Problems, keyword: str, kind: type[_E], value: object) -> _E | None:
    return None if value is None else enum_member(problems, keyword, kind, value)


def _check_authorizer(
    problems: Problems,
    authentication_type: DomainAuthenticationType,
    custom_authorizer_name: object,
) -> None:
    if authentication_type is DomainAuthenticationType.CUSTOM_AUTH_X509:
        problems.require(
            isinstance(custom_authorizer_name, str)
            and (
                is_token(custom_authorizer_name)
                or _AUTHORIZER_NAME.fullmatch(custom_authorizer_name) is not None
            ),
            "custom_authorizer_name",
            "the default authorizer's name when authentication_type is CUSTOM_AUTH_X509 "
            "(1-128 of letters, digits and _=,@-)",
            custom_authorizer_name,
        )
    else:
        problems.require(
            custom_authorizer_name is None,
            "custom_authorizer_name",
            "unset unless authentication_type is CUSTOM_AUTH_X509",
            custom_authorizer_name,
        )
