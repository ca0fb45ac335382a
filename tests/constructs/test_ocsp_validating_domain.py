"""OcspValidatingDomain: fine-grained template assertions, failures, warnings, nag, snapshot."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Capture, Match, Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from syrupy.assertion import SnapshotAssertion

from ocsp_iot_constructs import _preauth_function as contract
from ocsp_iot_constructs._assets import lambda_source_dir
from ocsp_iot_constructs._validation import PropsError
from ocsp_iot_constructs.ocsp_private_ca import OcspPrivateCa
from ocsp_iot_constructs.ocsp_validating_domain import (
    DomainApplicationProtocol,
    DomainAuthenticationType,
    OcspFailMode,
    OcspHashAlgorithm,
    OcspValidatingDomain,
    TlsSecurityPolicy,
    TrustedCa,
    TrustedIssuer,
)
from tests.support import ROOT, cfn_lint_errors, new_app

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
OCSP_URL = "http://ocsp.example.com"


def _ca_pem(name: str = "External CA") -> str:
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


CA_PEM = _ca_pem()


def new_stack(app: cdk.App | None = None) -> cdk.Stack:
    return cdk.Stack(app or new_app(), "Stack", env=cdk.Environment(account=ACCOUNT, region=REGION))


def server_cert(stack: cdk.Stack) -> acm.ICertificate:
    return acm.Certificate.from_certificate_arn(stack, "ServerCert", CERT_ARN)


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
    return next(iter(resources.items()))


@pytest.fixture
def default_domain() -> Iterator[tuple[cdk.Stack, OcspValidatingDomain, Template]]:
    stack = new_stack()
    domain = make_domain(stack)
    yield stack, domain, template_of(stack)


# --------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------


def test_domain_configuration_defaults(default_domain: Any) -> None:
    stack, domain, template = default_domain
    logical_id, resource = only(template, "AWS::IoT::DomainConfiguration")
    assert logical_id == stack.get_logical_id(domain.domain_configuration)
    assert domain.node.default_child is domain.domain_configuration
    function_id = stack.get_logical_id(domain.function.node.default_child)
    assert resource["Properties"] == {
        "DomainConfigurationName": domain.domain_configuration_name,
        "DomainName": "devices.example.com",
        "ServerCertificateArns": [CERT_ARN],
        "ServiceType": "DATA",
        "AuthenticationType": "AWS_X509",
        "ApplicationProtocol": "SECURE_MQTT",
        "ClientCertificateConfig": {
            "ClientCertificateCallbackArn": {"Fn::GetAtt": [function_id, "Arn"]}
        },
        "TlsConfig": {"SecurityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"},
        "DomainConfigurationStatus": "ENABLED",
    }
    # derived from the construct path: stable, unique, and valid for IoT
    assert re.fullmatch(r"Stack-Domain-[0-9A-F]{8}", domain.domain_configuration_name)


def test_function_defaults(default_domain: Any) -> None:
    stack, domain, template = default_domain
    _, function = only(template, "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "preauth_handler.handler"
    assert props["MemorySize"] == 256
    assert props["Timeout"] == 4
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert "ReservedConcurrentExecutions" not in props
    log_group_id = stack.get_logical_id(domain.log_group.node.default_child)
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}
    assert props["Role"] == {
        "Fn::GetAtt": [stack.get_logical_id(domain.role.node.default_child), "Arn"]
    }
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


def test_environment_carries_the_contract(default_domain: Any) -> None:
    _, _, template = default_domain
    _, function = only(template, "AWS::Lambda::Function")
    assert function["Properties"]["Environment"]["Variables"] == {
        "TRUSTED_CA_PEM": CA_PEM.strip(),
        "OCSP_ALLOWED_URLS": OCSP_URL,
        "OCSP_FAIL_MODE": "closed",
        "OCSP_STALE_IF_ERROR_SECONDS": "0",
        "OCSP_TIMEOUT_SECONDS": "2",
        "OCSP_DEADLINE_SECONDS": "3",
        "OCSP_CACHE_MAX_SECONDS": "3600",
        "OCSP_CACHE_MAX_ENTRIES": "10000",
        "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "300",
        "OCSP_MAX_RESPONSE_BYTES": "16384",
        "OCSP_NONCE": "off",
        "OCSP_HASH_ALGORITHM": "sha1",
    }


def test_environment_from_every_typed_prop() -> None:
    stack = new_stack()
    second = _ca_pem("Second CA")
    make_domain(
        stack,
        trusted_cas=[
            TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL),
            TrustedCa.from_pem(second),
        ],
        allowed_responder_urls=["http://ocsp2.example.com:8080/ocsp", OCSP_URL],
        responder_url="https://proxy.example.com/ocsp",
        fail_mode=OcspFailMode.OPEN,
        acknowledge_fail_open=True,
        stale_if_error=cdk.Duration.minutes(10),
        cache_max_age=cdk.Duration.minutes(30),
        cache_max_entries=500,
        ocsp_timeout=cdk.Duration.millis(1500),
        ocsp_deadline=cdk.Duration.millis(2500),
        max_age_without_next_update=cdk.Duration.minutes(1),
        max_response_bytes=4096,
        nonce=True,
        hash_algorithm=OcspHashAlgorithm.SHA256,
    )
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    assert function["Properties"]["Environment"]["Variables"] == {
        "TRUSTED_CA_PEM": f"{CA_PEM.strip()}\n{second.strip()}",
        # the CA's URL first, then the extra ones, each once
        "OCSP_ALLOWED_URLS": f"{OCSP_URL},http://ocsp2.example.com:8080/ocsp",
        "OCSP_RESPONDER_URL": "https://proxy.example.com/ocsp",
        "OCSP_FAIL_MODE": "open",
        "OCSP_STALE_IF_ERROR_SECONDS": "600",
        "OCSP_TIMEOUT_SECONDS": "1.5",
        "OCSP_DEADLINE_SECONDS": "2.5",
        "OCSP_CACHE_MAX_SECONDS": "1800",
        "OCSP_CACHE_MAX_ENTRIES": "500",
        "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "60",
        "OCSP_MAX_RESPONSE_BYTES": "4096",
        "OCSP_NONCE": "on",
        "OCSP_HASH_ALGORITHM": "sha256",
    }


def test_environment_is_accepted_by_the_handler_settings_loader() -> None:
    """The values the construct writes parse with the handler's own ``load_settings``."""
    stack = new_stack()
    make_domain(stack, ocsp_timeout=cdk.Duration.millis(1500), fail_mode=OcspFailMode.OPEN)
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]
    sys.path.insert(0, str(lambda_source_dir()))
    try:
        from ocsp_core.config import load_settings  # noqa: PLC0415

        settings = load_settings(env)
    finally:
        sys.path.remove(str(lambda_source_dir()))
    assert settings.timeout_seconds == 1.5
    assert settings.deadline_seconds == 3.0
    assert settings.fail_mode.value == "open"
    assert len(settings.trusted_cas) == 1


# --------------------------------------------------------------------------------------------
# Permission, IAM, dependency order
# --------------------------------------------------------------------------------------------


def test_invoke_permission_is_scoped_and_created_first(default_domain: Any) -> None:
    stack, domain, template = default_domain
    permission_id, permission = only(template, "AWS::Lambda::Permission")
    function_id = stack.get_logical_id(domain.function.node.default_child)
    name = domain.domain_configuration_name
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        "Principal": "iot.amazonaws.com",
        "SourceAccount": ACCOUNT,
        "SourceArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:domainconfiguration/{name}/*",
    }
    _, domain_config = only(template, "AWS::IoT::DomainConfiguration")
    assert permission_id in domain_config["DependsOn"]


def test_permission_source_arn_uses_partition_tokens_in_an_environment_agnostic_stack() -> None:
    stack = cdk.Stack(new_app(), "Agnostic")
    make_domain(stack, domain_configuration_name="devices-ocsp")
    _, permission = only(template_of(stack), "AWS::Lambda::Permission")
    assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["Properties"]["SourceArn"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":iot:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":domainconfiguration/devices-ocsp/*",
            ],
        ]
    }


def test_role_is_least_privilege(default_domain: Any) -> None:
    stack, domain, template = default_domain
    role_id, role = only(template, "AWS::IAM::Role")
    assert role["Properties"]["AssumeRolePolicyDocument"] == {
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ],
        "Version": "2012-10-17",
    }
    assert "ManagedPolicyArns" not in role["Properties"]
    _, policy = only(template, "AWS::IAM::Policy")
    log_group_id = stack.get_logical_id(domain.log_group.node.default_child)
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    assert policy["Properties"]["PolicyDocument"] == {
        "Statement": [
            {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
            },
            {
                "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                "Effect": "Allow",
                "Resource": "*",
            },
        ],
        "Version": "2012-10-17",
    }


def test_without_tracing_the_role_has_only_the_log_statement() -> None:
    stack = new_stack()
    make_domain(stack, tracing=False)
    template = template_of(stack)
    _, function = only(template, "AWS::Lambda::Function")
    assert "TracingConfig" not in function["Properties"]
    _, policy = only(template, "AWS::IAM::Policy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Action"] for s in statements] == [["logs:CreateLogStream", "logs:PutLogEvents"]]


def test_x86_64_concurrency_memory_timeout_are_selectable() -> None:
    stack = new_stack()
    make_domain(
        stack,
        architecture=lambda_.Architecture.X86_64,
        memory_size=512,
        timeout=cdk.Duration.seconds(3),
        ocsp_deadline=cdk.Duration.seconds(2),
        reserved_concurrent_executions=50,
        log_retention=cdk.aws_logs.RetentionDays.ONE_YEAR,
    )
    template = template_of(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Architectures": ["x86_64"],
            "MemorySize": 512,
            "Timeout": 3,
            "ReservedConcurrentExecutions": 50,
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365})


def test_provisioned_concurrency_points_iot_at_the_alias() -> None:
    stack = new_stack()
    domain = make_domain(stack, provisioned_concurrent_executions=2)
    template = template_of(stack)
    alias_id, alias = only(template, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": 2
    }
    assert domain.alias is not None
    _, permission = only(template, "AWS::Lambda::Permission")
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
    template.has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {"ClientCertificateConfig": {"ClientCertificateCallbackArn": {"Ref": alias_id}}},
    )


def test_custom_auth_x509_https_tls13_disabled_and_tags() -> None:
    stack = new_stack()
    make_domain(
        stack,
        domain_configuration_name="fleet-a",
        authentication_type=DomainAuthenticationType.CUSTOM_AUTH_X509,
        application_protocol=DomainApplicationProtocol.HTTPS,
        custom_authorizer_name="fleet-authorizer",
        tls_security_policy=TlsSecurityPolicy.TLS13_1_3_2022_10,
        enabled=False,
        tags={"team": "iot", "cost-center": "42"},
    )
    template = template_of(stack)
    _, resource = only(template, "AWS::IoT::DomainConfiguration")
    props = resource["Properties"]
    assert props["DomainConfigurationName"] == "fleet-a"
    assert props["AuthenticationType"] == "CUSTOM_AUTH_X509"
    assert props["ApplicationProtocol"] == "HTTPS"
    assert props["AuthorizerConfig"] == {
        "DefaultAuthorizerName": "fleet-authorizer",
        "AllowAuthorizerOverride": False,
    }
    assert props["TlsConfig"] == {"SecurityPolicy": "IoTSecurityPolicy_TLS13_1_3_2022_10"}
    assert props["DomainConfigurationStatus"] == "DISABLED"
    expected_tags = [{"Key": "cost-center", "Value": "42"}, {"Key": "team", "Value": "iot"}]
    assert props["Tags"] == expected_tags
    _, function = only(template, "AWS::Lambda::Function")
    assert function["Properties"]["Tags"] == expected_tags


def test_private_server_certificate_with_public_validation_certificate() -> None:
    stack = new_stack()
    pca = cdk.aws_acmpca.CertificateAuthority.from_certificate_authority_arn(
        stack, "Pca", f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/abc"
    )
    private = acm.PrivateCertificate(
        stack, "Private", domain_name="devices.example.com", certificate_authority=pca
    )
    public = acm.Certificate.from_certificate_arn(stack, "Public", CERT_ARN)
    make_domain(stack, server_certificate=private, validation_certificate=public)
    template_of(stack).has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {
            "ServerCertificateArns": [{"Ref": Match.string_like_regexp("^Private")}],
            "ValidationCertificateArn": CERT_ARN,
        },
    )


# --------------------------------------------------------------------------------------------
# OcspPrivateCa
# --------------------------------------------------------------------------------------------


def test_ocsp_private_ca_fits_and_is_wired_in() -> None:
    stack = new_stack()
    ca = OcspPrivateCa(stack, "Ca")
    assert isinstance(ca, TrustedIssuer)
    make_domain(stack, trusted_cas=[ca, TrustedCa.from_pem(CA_PEM)])
    template = template_of(stack)
    env = Capture()
    template.has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": env}})
    variables = env.as_object()
    issuing_cert = stack.resolve(ca.issuing_ca_certificate_pem)
    assert variables["TRUSTED_CA_PEM"] == {"Fn::Join": ["", [issuing_cert, f"\n{CA_PEM.strip()}"]]}
    assert variables["OCSP_ALLOWED_URLS"] == stack.resolve(ca.ocsp_responder_url)
    assert variables["OCSP_ALLOWED_URLS"] == f"http://ocsp.acm-pca.{REGION}.amazonaws.com"


def test_environment_estimate_warns_for_deploy_time_certificates() -> None:
    """Three PCA certificates are unknown at synth: estimated over 4 KB -> a warning."""
    stack = new_stack()
    cas = [OcspPrivateCa(stack, f"Ca{i}") for i in range(3)]
    make_domain(stack, trusted_cas=cas)
    Annotations.from_stack(stack).has_warning(
        "/Stack/Domain",
        Match.string_like_regexp(r"may exceed Lambda's 4 KB limit.*3 deploy-time value"),
    )


def test_one_deploy_time_certificate_is_within_the_estimate() -> None:
    stack = new_stack()
    make_domain(stack, trusted_cas=[OcspPrivateCa(stack, "Ca")])
    assert not Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("4 KB"))


# --------------------------------------------------------------------------------------------
# DNS, alarms, metrics, grants
# --------------------------------------------------------------------------------------------


def test_cname_to_the_data_ats_endpoint() -> None:
    stack = new_stack()
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    domain = make_domain(stack, hosted_zone=zone)
    template = template_of(stack)
    lookup_id, lookup = only(template, "Custom::AWS")
    create = lookup["Properties"]["Create"]
    assert stack.resolve(create) == (
        '{"action":"describeEndpoint","service":"Iot","outputPaths":["endpointAddress"],'
        '"parameters":{"endpointType":"iot:Data-ATS"},'
        '"physicalResourceId":{"id":"iot-Data-ATS-endpoint"}}'
    )
    _, record = only(template, "AWS::Route53::RecordSet")
    assert record["Properties"] == {
        "Name": "devices.example.com.",
        "Type": "CNAME",
        "HostedZoneId": "Z0123456789",
        "ResourceRecords": [{"Fn::GetAtt": [lookup_id, "endpointAddress"]}],
        "TTL": "300",
        "Comment": "Devices reach the OCSP-validating IoT domain through this name",
    }
    assert stack.get_logical_id(domain.domain_configuration) in record["DependsOn"]
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("DataAts")}}
    )
    (policy,) = policies.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "iot:DescribeEndpoint", "Effect": "Allow", "Resource": "*"}
    ]


def test_alarms_by_default(default_domain: Any) -> None:
    stack, domain, template = default_domain
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 4
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert set(by_metric) == {"Errors", "Throttles", "Duration", "ResponderErrors"}
    assert by_metric["Errors"]["Threshold"] == 1
    assert by_metric["Throttles"]["Threshold"] == 1
    assert by_metric["Duration"]["Threshold"] == 3200  # 80% of the 4 s timeout
    assert by_metric["Duration"]["ExtendedStatistic"] == "p99"
    responder = by_metric["ResponderErrors"]
    assert responder["Namespace"] == "OcspIot/PreAuth"
    assert responder["Threshold"] == 5
    function_id = stack.get_logical_id(domain.function.node.default_child)
    assert responder["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    for props in by_metric.values():
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        assert "AlarmActions" not in props


def test_alarms_off_and_alarm_action() -> None:
    stack = new_stack()
    make_domain(stack, alarms=False)
    template_of(stack).resource_count_is("AWS::CloudWatch::Alarm", 0)

    stack = new_stack()
    topic = sns.Topic(stack, "Topic")
    make_domain(stack, alarm_action=cw_actions.SnsAction(topic))
    alarms = template_of(stack).find_resources("AWS::CloudWatch::Alarm")
    topic_id = stack.get_logical_id(topic.node.default_child)  # type: ignore[arg-type]
    assert [a["Properties"]["AlarmActions"] for a in alarms.values()] == [[{"Ref": topic_id}]] * 4


def test_metrics(default_domain: Any) -> None:
    stack, domain, _ = default_domain
    function_name = stack.resolve(domain.function.function_name)

    def rendered(metric: cdk.aws_cloudwatch.Metric) -> dict[str, Any]:
        return {
            "namespace": metric.namespace,
            "name": metric.metric_name,
            "dimensions": stack.resolve(metric.dimensions),
            "statistic": metric.statistic,
        }

    assert rendered(domain.metric_revoked()) == {
        "namespace": "OcspIot/PreAuth",
        "name": "Decisions",
        "dimensions": {"FunctionName": function_name, "Reason": "REVOKED"},
        "statistic": "Sum",
    }
    assert rendered(domain.metric_denied())["dimensions"] == {
        "FunctionName": function_name,
        "Verdict": "DENY",
    }
    assert rendered(domain.metric_allowed())["dimensions"]["Verdict"] == "ALLOW"
    assert rendered(domain.metric_fail_open())["dimensions"]["Reason"] == "FAIL_OPEN"
    assert (
        rendered(domain.metric_responder_unavailable())["dimensions"]["Reason"]
        == "RESPONDER_UNAVAILABLE"
    )
    assert rendered(domain.metric_decisions(reason="BAD_SIGNATURE"))["dimensions"] == {
        "FunctionName": function_name,
        "Reason": "BAD_SIGNATURE",
    }
    simple = {
        "CacheHits": domain.metric_cache_hits(),
        "ResponderRequests": domain.metric_responder_requests(),
        "ResponderErrors": domain.metric_responder_errors(),
        "ResponderLatency": domain.metric_responder_latency(),
        "HandlerLatency": domain.metric_handler_latency(),
    }
    for name, metric in simple.items():
        assert rendered(metric)["name"] == name
        assert rendered(metric)["dimensions"] == {"FunctionName": function_name}
    assert domain.metric_handler_latency().statistic == "p99"
    assert domain.metric_errors().namespace == "AWS/Lambda"
    assert domain.metric_errors().metric_name == "Errors"
    assert domain.metric_throttles().metric_name == "Throttles"
    assert domain.metric_duration().metric_name == "Duration"
    assert domain.metric_invocations().metric_name == "Invocations"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.metric("Nope"), "metric_name must be one of Decisions"),
        (lambda d: d.metric_decisions(verdict="MAYBE"), "verdict must be one of ALLOW, DENY"),
        (lambda d: d.metric_decisions(reason="revoked"), "UPPER_SNAKE"),
        (lambda d: d.metric_decisions(verdict="DENY", reason="REVOKED"), "not both"),
    ],
)
def test_fails_on_unknown_metric(
    default_domain: Any, call: Callable[[OcspValidatingDomain], object], message: str
) -> None:
    _, domain, _ = default_domain
    with pytest.raises(ValueError, match=message):
        call(domain)


def test_grant_invoke() -> None:
    stack = new_stack()
    domain = make_domain(stack)
    role = iam.Role(stack, "Tester", assumed_by=iam.AccountRootPrincipal())
    domain.grant_invoke(role)
    function_id = stack.get_logical_id(domain.function.node.default_child)
    template_of(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": stack.get_logical_id(role.node.default_child)}],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "lambda:InvokeFunction",
                        "Effect": "Allow",
                        "Resource": [
                            {"Fn::GetAtt": [function_id, "Arn"]},
                            {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":*"]]},
                        ],
                    }
                ]
            },
        },
    )


# --------------------------------------------------------------------------------------------
# Contract copies
# --------------------------------------------------------------------------------------------


def test_metric_names_and_reasons_match_the_handler() -> None:
    sys.path.insert(0, str(lambda_source_dir()))
    try:
        from ocsp_core import metrics  # noqa: PLC0415
    finally:
        sys.path.remove(str(lambda_source_dir()))
    assert contract.NAMESPACE == metrics.NAMESPACE
    assert contract.METRIC_NAMES == metrics.METRIC_NAMES
    assert set(contract.FIXED_REASONS) <= set(metrics.REASON_NAMES)
    assert [list(d) for d in metrics.VERDICT_DIMENSIONS] == [
        [contract.DIMENSION_FUNCTION_NAME, contract.DIMENSION_VERDICT],
        [contract.DIMENSION_FUNCTION_NAME, contract.DIMENSION_REASON],
    ]


# --------------------------------------------------------------------------------------------
# Failures and warnings
# --------------------------------------------------------------------------------------------


def test_fails_with_every_problem_at_once() -> None:
    stack = new_stack()
    with pytest.raises(PropsError) as failure:
        OcspValidatingDomain(
            stack,
            "Bad",
            domain_name="Devices..example",
            server_certificate=None,  # type: ignore[arg-type]
            trusted_cas=[],
            allowed_responder_urls=["ftp://ocsp.example.com", "http://user@host/x"],
            tls_security_policy="IoTSecurityPolicy_Custom",
            authentication_type=DomainAuthenticationType.CUSTOM_AUTH_X509,
            memory_size=64,
            reserved_concurrent_executions=0,
            ocsp_timeout=cdk.Duration.seconds(4),
            ocsp_deadline=cdk.Duration.seconds(3),
            cache_max_age=cdk.Duration.millis(1500),
        )
    problems = failure.value.problems
    expected = [
        "domain_name must be a lower-case fully qualified domain name",
        "server_certificate must be an ACM certificate",
        "trusted_cas must be at least one CA",
        "allowed_responder_urls[0] must be an http:// or https:// URL",
        "allowed_responder_urls[1] must be an http:// or https:// URL",
        "tls_security_policy must be one of IoTSecurityPolicy_TLS13_1_2_2022_10",
        "custom_authorizer_name must be the default authorizer's name",
        "memory_size must be between 128 and 10240 MB, got 64",
        "reserved_concurrent_executions must be at least 1",
        "ocsp_timeout must be at most ocsp_deadline",
        "cache_max_age must be whole seconds",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert str(failure.value).startswith(f"OcspValidatingDomain 'Bad' has {len(problems)}")
    assert "'Devices..example'" in str(failure.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain_name": "*.example.com"}, "domain_name must be"),
        ({"domain_name": "devices.example.com."}, "domain_name must be"),
        ({"domain_name": "x" * 64 + ".example.com"}, "domain_name must be"),
        ({"domain_name": "iot.eu-west-1.amazonaws.com"}, "a domain you own"),
        ({"trusted_cas": ["not a ca"]}, r"trusted_cas\[0\] must be an object"),
        (
            {"trusted_cas": [TrustedCa.from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END")]},
            "exactly one PEM 'CERTIFICATE' block",
        ),
        (
            {"trusted_cas": [TrustedCa.from_pem(CA_PEM + CA_PEM, ocsp_responder_url=OCSP_URL)]},
            "exactly one PEM",
        ),
        ({"trusted_cas": [TrustedCa.from_pem(CA_PEM)]}, "at least one OCSP responder URL"),
        (
            {"trusted_cas": [TrustedCa.from_pem(CA_PEM, ocsp_responder_url="ocsp.example.com")]},
            r"trusted_cas\[0\].ocsp_responder_url must be an http",
        ),
        ({"responder_url": "http://a,b"}, "responder_url must be an http"),
        ({"custom_authorizer_name": "x"}, "custom_authorizer_name must be unset"),
        ({"timeout": cdk.Duration.millis(3500)}, "timeout must be a positive whole number"),
        ({"ocsp_deadline": cdk.Duration.seconds(5)}, "ocsp_deadline must be above 0"),
        ({"stale_if_error": cdk.Duration.days(2)}, "stale_if_error must be whole seconds"),
        ({"cache_max_entries": -1}, "cache_max_entries must be between 0"),
        ({"max_response_bytes": 100}, "max_response_bytes must be between 1024"),
        ({"tags": {"aws:x": "y"}}, r"tags\['aws:x'\] must be a key"),
        (
            {"provisioned_concurrent_executions": 5, "reserved_concurrent_executions": 2},
            "at most reserved_concurrent_executions",
        ),
        ({"responder_errors_alarm_threshold": 0}, "responder_errors_alarm_threshold"),
        ({"domain_configuration_name": "bad name!"}, "domain_configuration_name must be"),
    ],
)
def test_fails_on_bad_prop(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=message):
        make_domain(new_stack(), **overrides)


def test_fails_when_a_private_server_certificate_has_no_validation_certificate() -> None:
    stack = new_stack()
    pca = cdk.aws_acmpca.CertificateAuthority.from_certificate_authority_arn(
        stack, "Pca", f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/abc"
    )
    private = acm.PrivateCertificate(
        stack, "Private", domain_name="devices.example.com", certificate_authority=pca
    )
    with pytest.raises(PropsError, match="validation_certificate must be a public ACM"):
        make_domain(stack, server_certificate=private)
    with pytest.raises(PropsError, match="validation_certificate must be a publicly trusted"):
        make_domain(new_stack(), validation_certificate=private)


def test_fails_when_the_domain_is_outside_the_hosted_zone() -> None:
    stack = new_stack()
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z1", zone_name="example.org"
    )
    with pytest.raises(PropsError, match=r"a name inside hosted_zone 'example\.org'"):
        make_domain(stack, hosted_zone=zone)


def test_fails_when_known_environment_exceeds_4_kb() -> None:
    pems = [_ca_pem(f"CA {i} " + "x" * 40) for i in range(8)]
    with pytest.raises(PropsError) as failure:
        make_domain(
            new_stack(),
            trusted_cas=[TrustedCa.from_pem(p, ocsp_responder_url=OCSP_URL) for p in pems],
        )
    (problem,) = failure.value.problems
    assert problem.startswith("the Lambda environment (trusted_cas PEMs, responder URLs")
    assert "at most 4096 bytes in total (Lambda's 4 KB limit), got '" in problem
    assert "trust fewer CAs" in problem


def test_environment_size_counts_json_bytes_and_estimates_tokens() -> None:
    size = contract.environment_size({"A": "x\ny"}, pem_tokens=0)
    assert size.known_bytes == len('{"A":"x\\ny"}')
    assert size.estimated_bytes == size.known_bytes
    stack = new_stack()
    token = cdk.Token.as_string(cdk.Fn.ref("Something"))
    size = contract.environment_size({"PEM": token, "URL": f"http://{stack.region}"}, pem_tokens=1)
    assert size.token_count == 1
    assert size.estimated_bytes == size.known_bytes + contract.ESTIMATED_PEM_TOKEN_BYTES


@pytest.mark.parametrize(
    ("overrides", "warning_id", "text"),
    [
        ({"fail_mode": OcspFailMode.OPEN}, "failOpen", "fail_mode is OPEN"),
        (
            {"timeout": cdk.Duration.seconds(5)},
            "preAuthTimeout",
            "not below IoT Core's ~5 s budget",
        ),
        (
            {"timeout": cdk.Duration.seconds(3), "ocsp_deadline": cdk.Duration.seconds(3)},
            "ocspDeadline",
            "must be below the Lambda timeout",
        ),
    ],
)
def test_warns_on_risky_settings(overrides: dict[str, Any], warning_id: str, text: str) -> None:
    stack = new_stack()
    make_domain(stack, **overrides)
    annotations = Annotations.from_stack(stack)
    annotations.has_warning("/Stack/Domain", Match.string_like_regexp(text))
    annotations.has_warning(
        "/Stack/Domain", Match.string_like_regexp(rf"\[ack: ocsp-iot:{warning_id}\]")
    )


def test_no_warning_by_default_or_when_fail_open_is_acknowledged() -> None:
    for overrides in ({}, {"fail_mode": OcspFailMode.OPEN, "acknowledge_fail_open": True}):
        stack = new_stack()
        make_domain(stack, **overrides)
        assert Annotations.from_stack(stack).find_warning("*", Match.any_value()) == []


# --------------------------------------------------------------------------------------------
# cdk-nag, cfn-lint, snapshot
# --------------------------------------------------------------------------------------------


def _full_stack(app: cdk.App) -> cdk.Stack:
    stack = new_stack(app)
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    make_domain(
        stack,
        trusted_cas=[OcspPrivateCa(stack, "Ca"), TrustedCa.from_pem(CA_PEM)],
        allowed_responder_urls=[OCSP_URL],
        hosted_zone=zone,
        domain_configuration_name="devices-ocsp",
        tags={"project": "ocsp-iot"},
    )
    return stack


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"tracing": False, "architecture": lambda_.Architecture.X86_64},
        {"provisioned_concurrent_executions": 1, "reserved_concurrent_executions": 5},
    ],
)
def test_cdk_nag_has_no_unacknowledged_finding(overrides: dict[str, Any]) -> None:
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = new_stack(app)
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    make_domain(stack, hosted_zone=zone, trusted_cas=[OcspPrivateCa(stack, "Ca")], **overrides)
    app.synth()  # raises RuntimeError("ValidationFailed: ...") on any unacknowledged finding


def test_two_domains_share_the_endpoint_lookup_provider_and_stay_nag_clean() -> None:
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = new_stack(app)
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    make_domain(stack, hosted_zone=zone)
    OcspValidatingDomain(
        stack,
        "Second",
        domain_name="second.example.com",
        server_certificate=acm.Certificate.from_certificate_arn(stack, "Cert2", CERT_ARN),
        trusted_cas=[TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL)],
        hosted_zone=zone,
    )
    template = app.synth().get_stack_by_name("Stack").template
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("Custom::AWS") == 2
    assert types.count("AWS::Route53::RecordSet") == 2
    assert types.count("AWS::Lambda::Function") == 3  # two pre-auth functions, one provider
    names = [
        r["Properties"]["DomainConfigurationName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IoT::DomainConfiguration"
    ]
    assert len(set(names)) == 2


def test_cdk_nag_really_runs() -> None:
    """Guard for the test above: an unacknowledged finding does make synth fail."""
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = new_stack(app)
    lambda_.Function(
        stack,
        "Naked",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(e, c): pass"),
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_cfn_lint_clean() -> None:
    stack = _full_stack(new_app())
    assert cfn_lint_errors(template_of(stack).to_json()) == []


def test_snapshot(snapshot_json: SnapshotAssertion, mask_hashes: Callable[[Any], Any]) -> None:
    stack = _full_stack(new_app())
    assert mask_hashes(template_of(stack).to_json()) == snapshot_json


# --------------------------------------------------------------------------------------------
# The documentation's example
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_doc_example_synthesizes() -> None:
    """The first ``python`` block of docs/ocsp-validating-domain.md, as a user runs it (with
    cdk-nag and local bundling)."""
    doc = (ROOT / "docs" / "ocsp-validating-domain.md").read_text()
    example = re.search(r"```python\n(.*?)```", doc, re.S)
    assert example is not None
    namespace: dict[str, Any] = {}
    exec(compile(example.group(1), "ocsp-validating-domain.md", "exec"), namespace)  # noqa: S102
    stack = namespace["stack"]
    template = template_of(stack)
    assert cfn_lint_errors(template.to_json()) == []
    template.resource_count_is("AWS::IoT::DomainConfiguration", 1)
    template.has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {"ValidationCertificateArn": {"Ref": Match.string_like_regexp("^ValidationCertificate")}},
    )
    # the bundle was really built (bundling is on in a plain App)
    assert list(Path(namespace["app"].outdir).glob("asset.*/cryptography/hazmat"))
