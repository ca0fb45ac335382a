"""OcspValidatingDomain: fine-grained template assertions, failures, warnings, nag, snapshot."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Capture, Match, Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from syrupy.assertion import SnapshotAssertion

from ocsp_iot_constructs import _ocsp_client as client
from ocsp_iot_constructs._ocsp_function import RUNTIME
from ocsp_iot_constructs._validation import PropsError
from ocsp_iot_constructs.ocsp_private_ca import KeyAlgorithm, OcspPrivateCa, SigningAlgorithm
from ocsp_iot_constructs.ocsp_validating_domain import (
    DomainApplicationProtocol,
    DomainAuthenticationType,
    OcspFailMode,
    OcspValidatingDomain,
    TlsSecurityPolicy,
    TrustedCa,
    TrustedIssuer,
)
from tests.constructs.domain_support import (
    ACCOUNT,
    CA_PEM,
    CERT_ARN,
    OCSP_URL,
    PSS_HASHES,
    REGION,
    ca_pem,
    make_domain,
    new_stack,
    only,
    private_server_cert,
    template_of,
)
from tests.support import ROOT, cfn_lint_errors, logical_id_of, new_app

#: AWS Private CA's RSASSA-PSS signing algorithms and their hashes.


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
    config_id, resource = only(template, "AWS::IoT::DomainConfiguration")
    assert config_id == stack.get_logical_id(domain.domain_configuration)
    assert domain.node.default_child is domain.domain_configuration
    function_id = logical_id_of(stack, domain.function.node.default_child)
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
    log_group_id = logical_id_of(stack, domain.log_group.node.default_child)
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}
    assert props["Role"] == {
        "Fn::GetAtt": [logical_id_of(stack, domain.role.node.default_child), "Arn"]
    }
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


#: (props, the environment they give, what the handler's ``load_settings`` reads from it)


#: Valid values of every checker setting (milliseconds for durations).
#: One setting (or the timeout/deadline pair) changed from ``_CHECKER_BASE``, so that about half
#: of the examples are valid and half are not.


# --------------------------------------------------------------------------------------------
# Permission, IAM, dependency order
# --------------------------------------------------------------------------------------------


def test_runtime_is_the_latest_python_aws_cdk_lib_offers() -> None:
    versions = [
        tuple(int(part) for part in name.split("_")[1:])
        for name in dir(lambda_.Runtime)
        if re.fullmatch(r"PYTHON_\d+_\d+", name)
    ]
    major, minor = max(versions)
    assert RUNTIME.name == f"python{major}.{minor}"


def test_invoke_permission_is_scoped_and_created_first(default_domain: Any) -> None:
    stack, domain, template = default_domain
    permission_id, permission = only(template, "AWS::Lambda::Permission")
    function_id = logical_id_of(stack, domain.function.node.default_child)
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
    log_group_id = logical_id_of(stack, domain.log_group.node.default_child)
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
    domain = make_domain(stack, tracing=False)
    template = template_of(stack)
    _, function = only(template, "AWS::Lambda::Function")
    assert "TracingConfig" not in function["Properties"]
    _, policy = only(template, "AWS::IAM::Policy")
    log_group_id = logical_id_of(stack, domain.log_group.node.default_child)
    assert policy["Properties"]["PolicyDocument"] == {
        "Statement": [
            {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
            }
        ],
        "Version": "2012-10-17",
    }
    _, role = only(template, "AWS::IAM::Role")
    assert role["Properties"]["Description"] == "OCSP pre-auth Lambda: writes its own log group"


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
    private = private_server_cert(stack)
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


@pytest.mark.parametrize("signing", [None, *PSS_HASHES])
def test_an_rsa_private_ca_is_trusted_whatever_its_padding(
    signing: SigningAlgorithm | None,
) -> None:
    """PKCS#1 v1.5 (the RSA default) and RSASSA-PSS CAs: the Lambda verifies both (see below)."""
    stack = new_stack()
    ca = OcspPrivateCa(stack, "Ca", key_algorithm=KeyAlgorithm.RSA_4096, signing_algorithm=signing)
    make_domain(stack, trusted_cas=[ca])
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["TRUSTED_CA_PEM"] == stack.resolve(ca.issuing_ca_certificate_pem)


@pytest.mark.parametrize(
    ("key_algorithm", "count", "warns"),
    [
        # deploy-time certificates are estimated from each CA's key algorithm
        (KeyAlgorithm.EC_PRIME256V1, 1, False),
        (KeyAlgorithm.EC_PRIME256V1, 3, False),  # ~3 x 700 bytes of PEM: fits
        (KeyAlgorithm.RSA_2048, 2, False),
        (KeyAlgorithm.RSA_2048, 3, True),  # ~3 x 1,250 bytes + settings: over 4 KB
        (KeyAlgorithm.RSA_4096, 2, True),
    ],
)
def test_environment_estimate_for_deploy_time_certificates(
    key_algorithm: KeyAlgorithm, count: int, warns: bool
) -> None:
    stack = new_stack()
    cas = [OcspPrivateCa(stack, f"Ca{i}", key_algorithm=key_algorithm) for i in range(count)]
    make_domain(stack, trusted_cas=cas)
    found = Annotations.from_stack(stack).find_warning(
        "/Stack/Domain",
        Match.string_like_regexp(rf"may exceed Lambda's 4 KB limit.*{count} deploy-time value"),
    )
    assert bool(found) is warns, found


def _self_signed_ca_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """A CA certificate shaped like AWS Private CA's (subject with O and CN, the CA extensions)."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Devices Inc"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Example Devices Issuing CA 1"),
        ]
    )
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("algorithm", "make_key"),
    [
        ("EC_prime256v1", lambda: ec.generate_private_key(ec.SECP256R1())),
        ("EC_secp384r1", lambda: ec.generate_private_key(ec.SECP384R1())),
        ("RSA_2048", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("RSA_4096", lambda: rsa.generate_private_key(public_exponent=65537, key_size=4096)),
    ],
)
def test_estimated_pem_sizes_bound_real_ca_certificates(
    algorithm: str, make_key: Callable[[], ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]
) -> None:
    """Each estimate is an upper bound of a real CA certificate of that key, with little slack."""
    measured = len(_self_signed_ca_pem(make_key()))
    estimate = client.ESTIMATED_PEM_BYTES_BY_KEY_ALGORITHM[algorithm]
    assert measured <= estimate <= measured + 350, (algorithm, measured, estimate)


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
    assert len(alarms) == 6
    by_metric = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in alarms.values()
        if "MetricName" in a["Properties"] and "Reason" not in str(a["Properties"]["Dimensions"])
    }
    assert set(by_metric) == {"Errors", "Throttles", "Duration", "ResponderErrors"}
    assert by_metric["Errors"]["Threshold"] == 1
    assert by_metric["Throttles"]["Threshold"] == 1
    assert by_metric["Duration"]["Threshold"] == 3200  # 80% of the 4 s timeout
    assert by_metric["Duration"]["ExtendedStatistic"] == "p99"
    responder = by_metric["ResponderErrors"]
    assert responder["Namespace"] == "OcspIot/PreAuth"
    assert responder["Threshold"] == 5
    function_id = logical_id_of(stack, domain.function.node.default_child)
    assert responder["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    for props in (a["Properties"] for a in alarms.values()):
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        assert props["EvaluationPeriods"] == 1
        assert "AlarmActions" not in props
    # any CONFIG_ERROR decision: the whole fleet is being denied
    (config,) = [a["Properties"] for k, a in alarms.items() if "ConfigErrorAlarm" in k]
    assert (config["Namespace"], config["MetricName"]) == ("OcspIot/PreAuth", "Decisions")
    assert config["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": function_id}},
        {"Name": "Reason", "Value": "CONFIG_ERROR"},
    ]
    assert (config["Statistic"], config["Period"], config["Threshold"]) == ("Sum", 300, 1)
    # the deny ratio: DENY decisions per invocation, once there are 10 invocations
    (ratio,) = [a["Properties"] for k, a in alarms.items() if "DenyRatioAlarm" in k]
    assert ratio["Threshold"] == 50
    queries = {q["Id"]: q for q in ratio["Metrics"]}
    (expression,) = [q for q in queries.values() if "Expression" in q]
    assert expression["Expression"] == "IF(invocations >= 10, 100 * denied / invocations, 0)"
    assert expression["ReturnData"] is True
    denied = queries["denied"]["MetricStat"]
    assert denied["Metric"] == {
        "Namespace": "OcspIot/PreAuth",
        "MetricName": "Decisions",
        "Dimensions": [
            {"Name": "FunctionName", "Value": {"Ref": function_id}},
            {"Name": "Verdict", "Value": "DENY"},
        ],
    }
    invocations = queries["invocations"]["MetricStat"]
    assert invocations["Metric"] == {
        "Namespace": "AWS/Lambda",
        "MetricName": "Invocations",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
    }
    assert (denied["Stat"], denied["Period"]) == (invocations["Stat"], invocations["Period"])
    assert (denied["Stat"], denied["Period"]) == ("Sum", 300)


def test_the_deny_ratio_threshold_is_a_prop() -> None:
    stack = new_stack()
    make_domain(stack, deny_ratio_alarm_threshold=90)
    alarms = template_of(stack).find_resources("AWS::CloudWatch::Alarm")
    (ratio,) = [a["Properties"] for k, a in alarms.items() if "DenyRatioAlarm" in k]
    assert ratio["Threshold"] == 90
    assert "At least 90% of the connections" in ratio["AlarmDescription"]


@pytest.mark.parametrize("value", [0, 101, 50.5, True, "50", None])
def test_fails_on_a_deny_ratio_threshold_that_is_not_a_percentage(value: Any) -> None:
    with pytest.raises(PropsError) as failure:
        make_domain(new_stack(), deny_ratio_alarm_threshold=value)
    assert failure.value.problems == (
        "deny_ratio_alarm_threshold must be a whole number of percent from 1 to 100, "
        f"got {value!r}",
    )


def test_alarms_off_and_alarm_action() -> None:
    stack = new_stack()
    make_domain(stack, alarms=False)
    template_of(stack).resource_count_is("AWS::CloudWatch::Alarm", 0)

    stack = new_stack()
    topic = sns.Topic(stack, "Topic")
    make_domain(stack, alarm_action=cw_actions.SnsAction(topic))
    alarms = template_of(stack).find_resources("AWS::CloudWatch::Alarm")
    topic_id = logical_id_of(stack, topic.node.default_child)
    assert [a["Properties"]["AlarmActions"] for a in alarms.values()] == [[{"Ref": topic_id}]] * 6


def test_snap_start_points_iot_at_the_alias_of_the_published_version() -> None:
    stack = new_stack()
    domain = make_domain(stack, snap_start=True)
    template = template_of(stack)
    resources = template.to_json()["Resources"]
    function_id = logical_id_of(stack, domain.function.node.default_child)
    assert resources[function_id]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    alias_id, alias = only(template, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]
    _, permission = only(template, "AWS::Lambda::Permission")
    assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
    template.has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {"ClientCertificateConfig": {"ClientCertificateCallbackArn": {"Ref": alias_id}}},
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"snap_start": "yes"}, "snap_start must be True or False"),
        (
            {"snap_start": True, "provisioned_concurrent_executions": 2},
            "snap_start must be False when provisioned_concurrent_executions is set",
        ),
    ],
)
def test_fails_on_bad_snap_start(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=message):
        make_domain(new_stack(), **overrides)


def test_alarm_and_ok_actions_are_lists() -> None:
    stack = new_stack()
    paging, tickets, recovered = (sns.Topic(stack, name) for name in ("Paging", "Tickets", "Ok"))
    make_domain(
        stack,
        alarm_actions=[cw_actions.SnsAction(paging), cw_actions.SnsAction(tickets)],
        ok_actions=[cw_actions.SnsAction(recovered)],
    )
    alarms = template_of(stack).find_resources("AWS::CloudWatch::Alarm")
    ids = [logical_id_of(stack, t.node.default_child) for t in (paging, tickets, recovered)]
    assert len(alarms) == 6
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": ids[0]}, {"Ref": ids[1]}]
        assert alarm["Properties"]["OKActions"] == [{"Ref": ids[2]}]


def test_function_in_a_vpc_gets_only_what_eni_management_needs() -> None:
    stack = new_stack()
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    group = ec2.SecurityGroup(stack, "Group", vpc=vpc, allow_all_outbound=True)
    domain = make_domain(
        stack,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        security_groups=[group],
    )
    template = template_of(stack)
    resources = template.to_json()["Resources"]
    function = resources[logical_id_of(stack, domain.function.node.default_child)]
    assert function["Properties"]["VpcConfig"] == {
        "SecurityGroupIds": [
            {"Fn::GetAtt": [logical_id_of(stack, group.node.default_child), "GroupId"]}
        ],
        "SubnetIds": [
            {"Ref": logical_id_of(stack, subnet.node.default_child)}
            for subnet in vpc.private_subnets
        ],
    }
    policy = resources[
        logical_id_of(stack, domain.role.node.find_child("DefaultPolicy").node.default_child)
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    # the wildcard statement holds exactly the ENI actions (and X-Ray's, merged by CDK)
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert wildcard == [
        {
            "Action": [
                "ec2:AssignPrivateIpAddresses",
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:UnassignPrivateIpAddresses",
                "xray:PutTelemetryRecords",
                "xray:PutTraceSegments",
            ],
            "Effect": "Allow",
            "Resource": "*",
        }
    ]
    assert len(statements) == 2  # and the log statement on the function's own log group
    role_id = logical_id_of(stack, domain.role.node.default_child)
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"]


def test_log_group_encrypted_with_a_key_of_the_stack() -> None:
    stack = new_stack()
    key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    make_domain(stack, log_encryption_key=key)
    template = template_of(stack)
    key_id = logical_id_of(stack, key.node.default_child)
    _, log_group = only(template, "AWS::Logs::LogGroup")
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    _, key_resource = only(template, "AWS::KMS::Key")
    logs_statement = next(
        s
        for s in key_resource["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "CloudWatchLogsEncryptsLogGroups"
    )
    assert logs_statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs_statement["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"
        }
    }
    assert Annotations.from_stack(stack).find_warning("*", Match.any_value()) == []


def test_an_imported_log_key_warns_that_its_policy_must_allow_logs() -> None:
    stack = new_stack()
    key = kms.Key.from_key_arn(
        stack,
        "Imported",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/12345678-1234-1234-1234-123456789012",
    )
    make_domain(stack, log_encryption_key=key)
    Annotations.from_stack(stack).has_warning(
        "/Stack/Domain", Match.string_like_regexp("must allow logs.eu-west-1.amazonaws.com")
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vpc_subnets": ec2.SubnetSelection()}, "vpc_subnets must be omitted unless vpc is set"),
        ({"alarm_actions": "arn:aws:sns:x"}, "alarm_actions must be a list of"),
        ({"ok_actions": ["arn:aws:sns:x"]}, r"ok_actions\[0\] must be a cloudwatch.IAlarmAction"),
        ({"log_encryption_key": "alias/logs"}, "log_encryption_key must be a kms.IKey, got 'str'"),
        ({"vpc": "vpc-123"}, "vpc must be an ec2.IVpc, got 'str'"),
    ],
)
def test_fails_on_bad_placement_or_actions(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=message):
        make_domain(new_stack(), **overrides)


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
    assert rendered(domain.metric_config_errors())["dimensions"]["Reason"] == "CONFIG_ERROR"
    ratio = domain.metric_deny_ratio()
    assert ratio.expression == "IF(invocations >= 10, 100 * denied / invocations, 0)"
    assert set(ratio.using_metrics) == {"denied", "invocations"}
    assert ratio.period.to_seconds() == 300


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.metric("Nope"), "metric_name must be one of Decisions"),
        (lambda d: d.metric_decisions(verdict="MAYBE"), "verdict must be one of ALLOW, DENY"),
        (lambda d: d.metric_decisions(reason="revoked"), "reason must be one of GOOD, "),
        (lambda d: d.metric_decisions(reason="REVOKD"), r"STALE_IF_ERROR, REVOKED, .*'REVOKD'"),
        (lambda d: d.metric_decisions(verdict="DENY", reason="REVOKED"), "not both"),
    ],
)
def test_fails_on_unknown_metric(
    default_domain: Any, call: Callable[[OcspValidatingDomain], object], message: str
) -> None:
    _, domain, _ = default_domain
    with pytest.raises(ValueError, match=message):
        call(domain)


def _policy_of(stack: cdk.Stack, role: iam.Role) -> dict[str, Any]:
    role_id = logical_id_of(stack, role.node.default_child)
    policies = template_of(stack).find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}}
    )
    (policy,) = policies.values()
    document: dict[str, Any] = policy["Properties"]["PolicyDocument"]
    return document


@pytest.mark.parametrize("provisioned", [None, 2])
def test_grant_invoke_grants_exactly_what_iot_invokes_once(provisioned: int | None) -> None:
    stack = new_stack()
    domain = make_domain(stack, provisioned_concurrent_executions=provisioned)
    role = iam.Role(stack, "Tester", assumed_by=iam.AccountRootPrincipal())
    first = domain.grant_invoke(role)
    assert domain.grant_invoke(role) is first  # memoised: the second call adds nothing
    assert first.success
    if provisioned is None:
        invoked: Any = {
            "Fn::GetAtt": [logical_id_of(stack, domain.function.node.default_child), "Arn"]
        }
    else:
        assert domain.alias is not None
        invoked = {"Ref": logical_id_of(stack, domain.alias.node.default_child)}
    # IoT invokes this very ARN (the callback of the domain configuration)
    template_of(stack).has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {"ClientCertificateConfig": {"ClientCertificateCallbackArn": invoked}},
    )
    assert _policy_of(stack, role) == {
        "Statement": [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": invoked}],
        "Version": "2012-10-17",
    }
    # only IoT's own permission: a same-account role needs no resource policy
    template_of(stack).resource_count_is("AWS::Lambda::Permission", 1)


def test_grant_invoke_to_a_service_or_another_account_adds_a_permission_on_that_arn() -> None:
    stack = new_stack()
    domain = make_domain(stack)
    service = iam.ServicePrincipal("events.amazonaws.com")
    other = iam.AccountPrincipal("999999999999")
    for principal in (service, other, service):
        domain.grant_invoke(principal)
    function_arn = {"Fn::GetAtt": [logical_id_of(stack, domain.function.node.default_child), "Arn"]}
    permissions = [
        p["Properties"]
        for p in template_of(stack).find_resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] != "iot.amazonaws.com"
    ]
    assert sorted(permissions, key=lambda p: str(p["Principal"])) == [
        {"Action": "lambda:InvokeFunction", "FunctionName": function_arn, "Principal": principal}
        for principal in ("999999999999", "events.amazonaws.com")
    ]


def test_grant_invoke_is_cdk_nag_clean_without_acknowledgement() -> None:
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = new_stack(app)
    domain = make_domain(stack)
    tester = iam.Role(stack, "Tester", assumed_by=iam.AccountRootPrincipal())
    domain.grant_invoke(tester)
    app.synth()  # raises on any unacknowledged finding, e.g. AwsSolutions-IAM5 for "<arn>:*"
    assert _acknowledged(stack).get("Stack/Tester/DefaultPolicy/Resource") is None


# --------------------------------------------------------------------------------------------
# Contract copies
# --------------------------------------------------------------------------------------------


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
        "memory_size must be a whole number between 128 and 10240 (MB), got 64",
        "reserved_concurrent_executions must be a whole number, at least 1",
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
        ({"domain_name": "devices.example.com\n"}, "domain_name must be"),
        ({"domain_name": "Devices.example.com"}, "domain_name must be a lower-case"),
        ({"domain_name": "devices.example.123"}, "domain_name must be"),
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
        (
            {"allowed_responder_urls": OCSP_URL},
            r"^[^\n]+\n  - allowed_responder_urls must be a list of URLs, got "
            r"'http://ocsp.example.com'; wrap a single URL in a list$",
        ),
        (
            {"trusted_cas": [TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL)] * 2},
            r"trusted_cas\[1\] must be a CA not already in trusted_cas",
        ),
        ({"custom_authorizer_name": "x"}, "custom_authorizer_name must be unset"),
        ({"timeout": cdk.Duration.millis(3500)}, "timeout must be a positive whole number"),
        ({"ocsp_deadline": cdk.Duration.seconds(5)}, "ocsp_deadline must be above 0"),
        ({"stale_if_error": cdk.Duration.days(2)}, "stale_if_error must be whole seconds"),
        ({"cache_max_entries": -1}, "cache_max_entries must be a whole number between 0"),
        ({"cache_max_entries": True}, "cache_max_entries must be a whole number between 0"),
        ({"max_response_bytes": 100}, "max_response_bytes must be a whole number between 1024"),
        ({"max_response_bytes": 2048.0}, "max_response_bytes must be a whole number"),
        (
            {"stale_if_error": 60},
            r"stale_if_error must be a cdk.Duration, got 60; e.g. cdk.Duration.seconds\(2\)",
        ),
        ({"timeout": 4}, "timeout must be a cdk.Duration, got 4"),
        (
            {"timeout": cdk.Duration.seconds(3), "ocsp_deadline": cdk.Duration.seconds(3)},
            r"ocsp_deadline must be below the Lambda timeout \(3 seconds\) so that the handler "
            r"answers before the function times out, got '3 seconds'; lower ocsp_deadline",
        ),
        ({"responder_url": "http://ocsp .example.com"}, "responder_url must be an http"),
        ({"responder_url": "http://ocsp.example.com/#"}, "responder_url must be an http"),
        ({"allowed_responder_urls": ["http://ocsp;.example.com"]}, r"urls\[0\] must be an http"),
        ({"tags": {"aws:x": "y"}}, r"tags\['aws:x'\] must be a key"),
        (
            {"provisioned_concurrent_executions": 5, "reserved_concurrent_executions": 2},
            "at most reserved_concurrent_executions",
        ),
        ({"responder_errors_alarm_threshold": 0}, "responder_errors_alarm_threshold"),
        ({"memory_size": "256"}, "memory_size must be a whole number"),
        ({"reserved_concurrent_executions": 1.5}, "reserved_concurrent_executions must be a"),
        ({"domain_configuration_name": "bad name!"}, "domain_configuration_name must be"),
        (
            {"application_protocol": "MQTT_WSS"},
            r"application_protocol must be one of DomainApplicationProtocol.SECURE_MQTT, "
            r"DomainApplicationProtocol.HTTPS, got 'MQTT_WSS'$",
        ),
        (
            {"authentication_type": "AWS_SIGV4"},
            r"authentication_type must be one of DomainAuthenticationType.AWS_X509, "
            r"DomainAuthenticationType.CUSTOM_AUTH_X509, got 'AWS_SIGV4'$",
        ),
        (
            {"fail_mode": "sometimes"},
            r"fail_mode must be one of OcspFailMode.CLOSED, OcspFailMode.OPEN, got 'sometimes'$",
        ),
        (
            {"hash_algorithm": True},
            r"hash_algorithm must be one of OcspHashAlgorithm.SHA1, OcspHashAlgorithm.SHA256, "
            r"got True$",
        ),
    ],
)
def test_fails_on_bad_prop(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=message):
        make_domain(new_stack(), **overrides)


def test_enum_props_also_take_their_value_strings() -> None:
    """As ``OcspPrivateCa`` does (one shared rule): ``"open"`` is ``OcspFailMode.OPEN``."""
    stack = new_stack()
    domain = make_domain(
        stack,
        fail_mode="open",
        acknowledge_fail_open=True,
        hash_algorithm="sha256",
        authentication_type="CUSTOM_AUTH_X509",
        custom_authorizer_name="Authorizer",
        application_protocol="HTTPS",
    )
    template = template_of(stack)
    variables = template.to_json()["Resources"][
        logical_id_of(stack, domain.function.node.default_child)
    ]["Properties"]["Environment"]["Variables"]
    assert (variables["OCSP_FAIL_MODE"], variables["OCSP_HASH_ALGORITHM"]) == ("open", "sha256")
    template.has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {"AuthenticationType": "CUSTOM_AUTH_X509", "ApplicationProtocol": "HTTPS"},
    )


def test_fails_when_a_private_server_certificate_has_no_validation_certificate() -> None:
    stack = new_stack()
    private = private_server_cert(stack)
    with pytest.raises(PropsError, match="validation_certificate must be a public ACM"):
        make_domain(stack, server_certificate=private)
    with pytest.raises(PropsError, match="validation_certificate must be a publicly trusted"):
        make_domain(new_stack(), validation_certificate=private)


@pytest.mark.parametrize(
    ("zone_name", "domain_name"),
    [
        ("example.org", "devices.example.com"),
        ("example.org.", "devices.example.com"),
        ("ample.com", "devices.example.com"),  # a suffix, but not a parent domain
        ("devices.example.com", "devices.example.com"),  # the apex cannot hold a CNAME
    ],
)
def test_fails_when_the_domain_is_not_below_the_hosted_zone(
    zone_name: str, domain_name: str
) -> None:
    stack = new_stack()
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z1", zone_name=zone_name
    )
    with pytest.raises(PropsError) as failure:
        make_domain(stack, hosted_zone=zone, domain_name=domain_name)
    assert failure.value.problems == (
        f"domain_name must be a name below hosted_zone {zone_name.rstrip('.')!r} (the CNAME is "
        "created there, and DNS allows no CNAME at the zone apex), "
        f"got {domain_name!r}",
    )


def test_fails_when_known_environment_exceeds_4_kb() -> None:
    pems = [ca_pem(f"CA {i} " + "x" * 40) for i in range(8)]
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
    size = client.environment_size({"A": "x\ny"})
    assert size.known_bytes == len('{"A":"x\\ny"}')
    assert size.estimated_bytes == size.known_bytes
    stack = new_stack()
    token = cdk.Token.as_string(cdk.Fn.ref("Something"))
    size = client.environment_size(
        {"PEM": token, "URL": f"http://{stack.region}"},
        pem_tokens=[client.estimated_pem_bytes(None)],
    )
    assert size.token_count == 1
    assert size.estimated_bytes == size.known_bytes + client.ESTIMATED_PEM_TOKEN_BYTES


@pytest.mark.parametrize(
    ("overrides", "warning_id", "text"),
    [
        ({"fail_mode": OcspFailMode.OPEN}, "failOpen", "fail_mode is OPEN"),
        (
            {"timeout": cdk.Duration.seconds(5)},
            "preAuthTimeout",
            "not below IoT Core's ~5 s budget",
        ),
    ],
)
def test_warns_on_risky_settings(overrides: dict[str, Any], warning_id: str, text: str) -> None:
    stack = new_stack()
    make_domain(stack, **overrides)
    annotations = Annotations.from_stack(stack)
    annotations.has_warning("/Stack/Domain", Match.string_like_regexp(text))
    annotations.has_warning(
        "/Stack/Domain", Match.string_like_regexp(rf"\[ack: Annotation::ocsp-iot:{warning_id}\]")
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
        {"snap_start": True},
        {
            "authentication_type": DomainAuthenticationType.CUSTOM_AUTH_X509,
            "custom_authorizer_name": "fleet-authorizer",
            "application_protocol": DomainApplicationProtocol.HTTPS,
            "enabled": False,
            "alarms": False,
        },
    ],
    ids=["defaults", "x86_64_untraced", "concurrency", "snap_start", "custom_auth_https"],
)
def test_cdk_nag_and_cfn_lint_are_clean(overrides: dict[str, Any]) -> None:
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = new_stack(app)
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    make_domain(stack, hosted_zone=zone, trusted_cas=[OcspPrivateCa(stack, "Ca")], **overrides)
    # raises RuntimeError("ValidationFailed: ...") on any unacknowledged finding
    template = app.synth().get_stack_by_name("Stack").template
    assert cfn_lint_errors(template) == []


def test_cdk_nag_and_cfn_lint_are_clean_in_a_vpc_with_an_encrypted_log_group() -> None:
    """The VPC placement's ENI statement and the log key's policy add no unacknowledged
    finding (the VPC is imported: a team places the function in its own)."""
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = new_stack(app)
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=[f"{REGION}a", f"{REGION}b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    make_domain(stack, vpc=vpc, log_encryption_key=key, tracing=False)
    template = app.synth().get_stack_by_name("Stack").template
    assert cfn_lint_errors(template) == []


def _acknowledged(stack: cdk.Stack) -> dict[str, list[str]]:
    """``{construct path: [acknowledged rule id, ...]}`` of every acknowledgment in ``stack``."""
    found: dict[str, list[str]] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for rule_id, reason in entry.data.items():
                    assert len(reason) > 60, (rule_id, reason)  # a specific reason, not "ok"
                    found.setdefault(construct.node.path, []).append(rule_id)
    return found


@pytest.mark.parametrize("tracing", [True, False])
def test_acknowledgments_sit_on_the_narrowest_nodes(tracing: bool) -> None:
    stack = new_stack()
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    make_domain(stack, hosted_zone=zone, tracing=tracing)
    provider = "Stack/AWS679f53fac002430cb0da5b7982bd2287"
    function_rules = ["Serverless::Serverless-LambdaDLQ"]
    expected = {
        "Stack/Domain/Function/Resource": function_rules,
        "Stack/Domain/DataAtsEndpoint/CustomResourcePolicy/Resource": [
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]"
        ],
        f"{provider}/ServiceRole/Resource": [
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "service-role/AWSLambdaBasicExecutionRole]"
        ],
        f"{provider}/Resource": [
            "Serverless::Serverless-LambdaDLQ",
            "Serverless::Serverless-LambdaTracing",
        ],
    }
    if tracing:  # the X-Ray actions have no resource-level permissions
        expected["Stack/Domain/ServiceRole/DefaultPolicy/Resource"] = [
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]"
        ]
    else:
        function_rules.append("Serverless::Serverless-LambdaTracing")
    assert _acknowledged(stack) == expected


def test_two_domains_share_one_endpoint_lookup_and_stay_nag_clean() -> None:
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
    assert types.count("Custom::AWS") == 1  # one endpoint lookup per stack
    assert types.count("AWS::Route53::RecordSet") == 2
    assert types.count("AWS::Lambda::Function") == 3  # two pre-auth functions, one provider
    # the lookup stays where the first domain created it (its logical id is unchanged), and
    # both CNAMEs read it
    lookup = stack.node.find_child("Domain").node.find_child("DataAtsEndpoint")
    lookup_id = logical_id_of(stack, lookup.node.find_child("Resource").node.default_child)
    records = [r for r in template["Resources"].values() if r["Type"] == "AWS::Route53::RecordSet"]
    assert [r["Properties"]["ResourceRecords"] for r in records] == [
        [{"Fn::GetAtt": [lookup_id, "endpointAddress"]}]
    ] * 2
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


def test_doc_trusted_ca_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``TrustedCa.from_pem`` block of docs/ocsp-validating-domain.md, with a real CA file."""
    doc = (ROOT / "docs" / "ocsp-validating-domain.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "from_pem(" in b]
    assert len(blocks) == 1, blocks
    (tmp_path / "issuing-ca.pem").write_text(CA_PEM)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], "ocsp-validating-domain.md", "exec"), namespace)  # noqa: S102
    trusted = namespace["trusted"]
    assert isinstance(trusted, TrustedIssuer)
    assert trusted.issuing_ca_certificate_pem.strip() == CA_PEM.strip()
    assert trusted.ocsp_responder_url == "http://ocsp.pki.example.com"
    # and it is accepted as a trust anchor of a domain
    stack = new_stack()
    make_domain(stack, trusted_cas=[trusted])
    env = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    assert any(
        CA_PEM.strip() in f["Properties"]["Environment"]["Variables"].get("TRUSTED_CA_PEM", "")
        for f in env.values()
    )
