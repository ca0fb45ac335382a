"""StaplingDomainConfig and OcspValidatingDomain(stapling=...): fine-grained template assertions,
failures, warnings, cdk-nag, cfn-lint, snapshots."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from syrupy.assertion import SnapshotAssertion

from ocsp_iot_constructs import (
    KeyAlgorithm,
    OcspAuthorizedResponder,
    OcspPrivateCa,
    OcspStapling,
    PropsError,
    ServerCertificateStapling,
    StaplingDomainConfig,
    TlsSecurityPolicy,
    TrustedCa,
)
from ocsp_iot_constructs._stapling_props import (
    MAX_OCSP_LAMBDA_ARN_CHARS,
    check_lambda_arn_length,
    estimated_lambda_arn_chars,
)
from ocsp_iot_constructs._validation import Problems
from tests.constructs.domain_support import (
    ACCOUNT,
    CA_PEM,
    CERT_ARN,
    OCSP_URL,
    REGION,
    ca_pem,
    make_domain,
    new_stack,
    only,
    private_server_cert,
    template_of,
)
from tests.constructs.stapling_support import (
    RESPONDER_ARN,
    authorized_responder,
    delegate_pem,
    fixed_delegate_pem,
    lambda_stapling,
    make_stapling,
    stapling_pki,
    trusted_ca,
)
from tests.support import ROOT, cfn_lint_errors, logical_id_of, new_app


class StapleMonitor(Protocol):
    """What the dashboard takes: both the construct and ``domain.stapling`` satisfy it."""

    domain_configuration_name: str

    def metric_staple_retrievals(self) -> cloudwatch.Metric: ...

    def metric_days_to_expiry(self) -> cloudwatch.Metric: ...


def _resources(template: Template, type_: str) -> dict[str, Any]:
    return dict(template.find_resources(type_))


def _alarm(template: Template, construct_id: str) -> dict[str, Any]:
    (alarm,) = [
        r["Properties"]
        for logical_id, r in _resources(template, "AWS::CloudWatch::Alarm").items()
        if construct_id in logical_id
    ]
    return dict(alarm)


# --------------------------------------------------------------------------------------------
# IoT-managed stapling (the default)
# --------------------------------------------------------------------------------------------


def test_iot_managed_stapling_is_one_domain_configuration_and_two_alarms() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack)
    template = template_of(stack)
    config_id, resource = only(template, "AWS::IoT::DomainConfiguration")
    assert config_id == stack.get_logical_id(endpoint.domain_configuration)
    assert endpoint.node.default_child is endpoint.domain_configuration
    assert resource["Properties"] == {
        "DomainConfigurationName": endpoint.domain_configuration_name,
        "DomainName": "devices.example.com",
        "ServerCertificateArns": [CERT_ARN],
        "ServiceType": "DATA",
        "ServerCertificateConfig": {"EnableOCSPCheck": True},
        "TlsConfig": {"SecurityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"},
        "DomainConfigurationStatus": "ENABLED",
    }
    assert "DependsOn" not in resource
    assert re.fullmatch(r"Stack-Endpoint-[0-9A-F]{8}", endpoint.domain_configuration_name)
    template.resource_count_is("AWS::Lambda::Function", 0)
    template.resource_count_is("AWS::Lambda::Permission", 0)
    assert endpoint.function is None
    assert endpoint.stapling.function is None
    assert endpoint.stapling.invoke_permission is None
    assert len(endpoint.alarms) == 2


def test_the_staple_retrieval_alarm_treats_missing_data_as_no_retrieval() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack)
    alarm = _alarm(template_of(stack), "StapleRetrievalsAlarm")
    assert {k: v for k, v in alarm.items() if k != "AlarmDescription"} == {
        "ComparisonOperator": "LessThanThreshold",
        "Dimensions": [
            {"Name": "DomainConfigurationName", "Value": endpoint.domain_configuration_name}
        ],
        "EvaluationPeriods": 3,
        "MetricName": "RetrieveOCSPStapleData.Success",
        "Namespace": "AWS/IoT",
        "Period": 3600,
        "Statistic": "Sum",
        "Threshold": 1,
        "TreatMissingData": "breaching",
    }
    assert "for 3 hour(s)" in alarm["AlarmDescription"]


def test_the_days_to_expiry_alarm_watches_the_server_certificate() -> None:
    stack = new_stack()
    make_stapling(stack, OcspStapling(days_to_expiry_threshold=45, retrieval_alarm_hours=6))
    template = template_of(stack)
    alarm = _alarm(template, "DaysToExpiryAlarm")
    assert {k: alarm[k] for k in alarm if k != "AlarmDescription"} == {
        "ComparisonOperator": "LessThanThreshold",
        "Dimensions": [{"Name": "CertificateArn", "Value": CERT_ARN}],
        "EvaluationPeriods": 1,
        "MetricName": "DaysToExpiry",
        "Namespace": "AWS/CertificateManager",
        "Period": 86400,
        "Statistic": "Minimum",
        "Threshold": 45,
        "TreatMissingData": "notBreaching",
    }
    assert _alarm(template, "StapleRetrievalsAlarm")["EvaluationPeriods"] == 6


def test_an_authorized_responder_is_passed_to_iot_core() -> None:
    stack = new_stack()
    responder = OcspAuthorizedResponder(
        certificate=acm.Certificate.from_certificate_arn(stack, "Responder", RESPONDER_ARN)
    )
    endpoint = make_stapling(stack, OcspStapling(authorized_responder=responder))
    template_of(stack).has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {
            "ServerCertificateConfig": {
                "EnableOCSPCheck": True,
                "OcspAuthorizedResponderArn": RESPONDER_ARN,
            }
        },
    )
    assert endpoint.stapling.authorized_responder is responder


def test_domain_settings_tags_dns_and_validation_certificate() -> None:
    stack = new_stack()
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    validation = acm.Certificate.from_certificate_arn(stack, "Validation", CERT_ARN + "-public")
    endpoint = make_stapling(
        stack,
        lambda_stapling(),
        server_certificate=private_server_cert(stack),
        validation_certificate=validation,
        domain_configuration_name="devices-stapling",
        tls_security_policy=TlsSecurityPolicy.TLS13_1_3_2022_10,
        enabled=False,
        tags={"project": "ocsp-iot"},
        hosted_zone=zone,
        record_ttl=cdk.Duration.minutes(1),
    )
    template = template_of(stack)
    template.has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {
            "DomainConfigurationName": "devices-stapling",
            "ValidationCertificateArn": CERT_ARN + "-public",
            "TlsConfig": {"SecurityPolicy": "IoTSecurityPolicy_TLS13_1_3_2022_10"},
            "DomainConfigurationStatus": "DISABLED",
            "Tags": [{"Key": "project", "Value": "ocsp-iot"}],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Tags": Match.array_with([{"Key": "project", "Value": "ocsp-iot"}])},
    )
    template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {"Name": "devices.example.com.", "Type": "CNAME", "TTL": "60"},
    )
    template.resource_count_is("Custom::AWS", 1)
    assert endpoint.cname_record is not None
    assert endpoint.endpoint_address is not None


# --------------------------------------------------------------------------------------------
# The stapling Lambda
# --------------------------------------------------------------------------------------------


def test_the_stapling_lambda_and_its_environment() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack, lambda_stapling())
    template = template_of(stack)
    _, function = only(template, "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Handler"] == "stapling_handler.handler"
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert (props["MemorySize"], props["Timeout"]) == (256, 5)
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Environment"]["Variables"] == {
        "OCSP_RESPONDER_URL": OCSP_URL,
        "TRUSTED_CA_PEM": trusted_ca().issuing_ca_certificate_pem.strip(),
        "OCSP_TIMEOUT_SECONDS": "2",
        "OCSP_CACHE_MAX_SECONDS": "3600",
        "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "300",
        "OCSP_MAX_RESPONSE_BYTES": "4096",
    }
    assert endpoint.function is endpoint.stapling.function
    assert endpoint.stapling.role is not None and endpoint.stapling.log_group is not None
    assert endpoint.stapling.function is not None
    function_id = logical_id_of(stack, endpoint.stapling.function.node.default_child)
    config_id, config = only(template, "AWS::IoT::DomainConfiguration")
    assert config["Properties"]["ServerCertificateConfig"] == {
        "EnableOCSPCheck": True,
        "OcspLambdaArn": {"Fn::GetAtt": [function_id, "Arn"]},
    }
    assert config_id == logical_id_of(stack, endpoint.domain_configuration)
    assert "ClientCertificateConfig" not in config["Properties"]


def test_the_invoke_permission_is_scoped_and_created_first() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack, lambda_stapling(), domain_configuration_name="edge")
    template = template_of(stack)
    permission_id, permission = only(template, "AWS::Lambda::Permission")
    assert endpoint.stapling.function is not None
    function_id = logical_id_of(stack, endpoint.stapling.function.node.default_child)
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        "Principal": "iot.amazonaws.com",
        "SourceAccount": ACCOUNT,
        "SourceArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:domainconfiguration/edge/*",
    }
    _, config = only(template, "AWS::IoT::DomainConfiguration")
    assert config["DependsOn"] == [permission_id]
    assert endpoint.stapling.source_arn_pattern is not None


def test_the_lambda_role_only_writes_its_own_log_group() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack, lambda_stapling(tracing=False))
    template = template_of(stack)
    _, policy = only(template, "AWS::IAM::Policy")
    assert endpoint.stapling.log_group is not None
    log_group_id = logical_id_of(stack, endpoint.stapling.log_group.node.default_child)
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
        }
    ]
    _, role = only(template, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role["Properties"]


def test_an_authorized_responder_reaches_iot_core_and_the_lambda() -> None:
    stack = new_stack()
    make_stapling(stack, lambda_stapling(authorized_responder=authorized_responder(stack)))
    template = template_of(stack)
    _, function = only(template, "AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["OCSP_AUTHORIZED_RESPONDER_PEM"] == delegate_pem().strip()
    _, config = only(template, "AWS::IoT::DomainConfiguration")
    assert config["Properties"]["ServerCertificateConfig"]["OcspAuthorizedResponderArn"] == (
        RESPONDER_ARN
    )


def test_every_lambda_option_reaches_the_function() -> None:
    stack = new_stack()
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=[f"{REGION}a", f"{REGION}b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    make_stapling(
        stack,
        lambda_stapling(
            responder_url="http://10.0.0.5:2560/ocsp",
            ocsp_timeout=cdk.Duration.seconds(3),
            cache_max_age=cdk.Duration.minutes(20),
            max_age_without_next_update=cdk.Duration.minutes(2),
            max_response_bytes=2048,
            architecture=cdk.aws_lambda.Architecture.X86_64,
            memory_size=512,
            timeout=cdk.Duration.seconds(8),
            log_retention=cdk.aws_logs.RetentionDays.ONE_MONTH,
            reserved_concurrent_executions=2,
            vpc=vpc,
            log_encryption_key=key,
        ),
    )
    template = template_of(stack)
    _, function = only(template, "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Architectures"] == ["x86_64"]
    assert (props["MemorySize"], props["Timeout"], props["ReservedConcurrentExecutions"]) == (
        512,
        8,
        2,
    )
    assert props["VpcConfig"]["SubnetIds"] == [
        "subnet-0123456789abcdef0",
        "subnet-0123456789abcdef1",
    ]
    assert {
        k: v for k, v in props["Environment"]["Variables"].items() if k not in {"TRUSTED_CA_PEM"}
    } == {
        "OCSP_RESPONDER_URL": "http://10.0.0.5:2560/ocsp",
        "OCSP_TIMEOUT_SECONDS": "3",
        "OCSP_CACHE_MAX_SECONDS": "1200",
        "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "120",
        "OCSP_MAX_RESPONSE_BYTES": "2048",
    }
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": 30, "KmsKeyId": Match.any_value()}
    )


def test_the_lambda_alarms() -> None:
    stack = new_stack()
    topic = sns.Topic(stack, "Topic")
    endpoint = make_stapling(
        stack,
        lambda_stapling(),
        alarm_actions=[cw_actions.SnsAction(topic)],
        ok_actions=[cw_actions.SnsAction(topic)],
    )
    template = template_of(stack)
    ids = sorted(a.node.id for a in endpoint.alarms)
    assert ids == [
        "DaysToExpiryAlarm",
        "DurationAlarm",
        "EmptyAnswersAlarm",
        "ErrorsAlarm",
        "StapleRetrievalsAlarm",
        "ThrottlesAlarm",
    ]
    topic_ref = {"Ref": stack.get_logical_id(topic.node.default_child)}  # type: ignore[arg-type]
    for alarm in _resources(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [topic_ref]
        assert alarm["Properties"]["OKActions"] == [topic_ref]
    empty = _alarm(template, "EmptyAnswersAlarm")
    assert (empty["Namespace"], empty["MetricName"], empty["Threshold"]) == (
        "OcspIot/Stapling",
        "Answers",
        1,
    )
    assert {"Name": "Outcome", "Value": "EMPTY"} in empty["Dimensions"]
    assert "IoT Core got no new staple" in _alarm(template, "ErrorsAlarm")["AlarmDescription"]
    assert _alarm(template, "DurationAlarm")["Threshold"] == 4000


def test_alarms_off() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack, lambda_stapling(), alarms=False)
    template_of(stack).resource_count_is("AWS::CloudWatch::Alarm", 0)
    assert endpoint.alarms == ()


def test_metrics_and_grant() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack, lambda_stapling())
    stapling = endpoint.stapling
    function_name = stack.resolve(stapling.function.function_name)  # type: ignore[union-attr]

    def described(metric: cloudwatch.Metric) -> tuple[Any, ...]:
        return (
            metric.namespace,
            metric.metric_name,
            stack.resolve(metric.dimensions),
            metric.statistic,
            metric.period.to_seconds(),
        )

    function_dims = {"FunctionName": function_name}
    assert described(stapling.metric_answers(outcome="STAPLE")) == (
        "OcspIot/Stapling",
        "Answers",
        {**function_dims, "Outcome": "STAPLE"},
        "Sum",
        300,
    )
    assert described(stapling.metric_answers(reason="UNEXPECTED_SIGNER"))[2] == {
        **function_dims,
        "Reason": "UNEXPECTED_SIGNER",
    }
    assert described(stapling.metric_staples())[2]["Outcome"] == "STAPLE"
    assert described(stapling.metric_empty_answers())[2]["Outcome"] == "EMPTY"
    assert described(stapling.metric_stale_staples())[2]["Reason"] == "STALE_IF_ERROR"
    assert described(stapling.metric_revoked())[2]["Reason"] == "REVOKED"
    for method, name in (
        (stapling.metric_cache_hits, "CacheHits"),
        (stapling.metric_responder_requests, "ResponderRequests"),
        (stapling.metric_responder_errors, "ResponderErrors"),
    ):
        assert described(method()) == ("OcspIot/Stapling", name, function_dims, "Sum", 300)
    assert described(stapling.metric_responder_latency())[1::2] == ("ResponderLatency", "p99")
    assert described(stapling.metric_handler_latency(statistic="p50"))[3] == "p50"
    for method, name in (
        (stapling.metric_errors, "Errors"),
        (stapling.metric_throttles, "Throttles"),
        (stapling.metric_duration, "Duration"),
        (stapling.metric_invocations, "Invocations"),
    ):
        assert described(method())[:2] == ("AWS/Lambda", name)
    role = iam.Role(stack, "Tester", assumed_by=iam.AccountRootPrincipal())
    stapling.grant_invoke(role)
    template_of(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "lambda:InvokeFunction"})]
                )
            }
        },
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.metric("Decisions"), "metric_name must be one of Answers, CacheHits"),
        (
            lambda s: s.metric_answers(outcome="STAPLE", reason="GOOD"),
            "outcome or reason, not both",
        ),
        (lambda s: s.metric_answers(outcome="NONE"), "outcome must be one of STAPLE, EMPTY"),
        (lambda s: s.metric_answers(reason="ALLOW"), "reason must be one of GOOD, REVOKED"),
    ],
)
def test_fails_on_an_unknown_metric(call: Callable[[Any], Any], message: str) -> None:
    stapling = make_stapling(new_stack(), lambda_stapling()).stapling
    with pytest.raises(ValueError, match=message):
        call(stapling)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.metric_cache_hits(),
        lambda s: s.metric_errors(),
        lambda s: s.metric_empty_answers(),
        lambda s: s.grant_invoke(iam.AccountRootPrincipal()),
    ],
)
def test_fails_when_a_lambda_metric_is_asked_of_iot_managed_stapling(
    call: Callable[[Any], Any],
) -> None:
    stapling = make_stapling(new_stack()).stapling
    with pytest.raises(
        ValueError, match=r"needs the stapling Lambda: this domain uses IoT-managed"
    ):
        call(stapling)


# --------------------------------------------------------------------------------------------
# Stapling and the pre-auth check on one domain configuration
# --------------------------------------------------------------------------------------------


def test_the_validating_domain_staples_on_its_own_domain_configuration() -> None:
    stack = new_stack()
    domain = make_domain(stack, stapling=lambda_stapling())
    template = template_of(stack)
    _, config = only(template, "AWS::IoT::DomainConfiguration")
    assert domain.stapling is not None
    stapling_fn = logical_id_of(stack, domain.stapling.function.node.default_child)  # type: ignore[union-attr]
    preauth_fn = logical_id_of(stack, domain.function.node.default_child)
    assert config["Properties"]["ClientCertificateConfig"] == {
        "ClientCertificateCallbackArn": {"Fn::GetAtt": [preauth_fn, "Arn"]}
    }
    assert config["Properties"]["ServerCertificateConfig"] == {
        "EnableOCSPCheck": True,
        "OcspLambdaArn": {"Fn::GetAtt": [stapling_fn, "Arn"]},
    }
    handlers = sorted(
        f["Properties"]["Handler"] for f in _resources(template, "AWS::Lambda::Function").values()
    )
    assert handlers == ["preauth_handler.handler", "stapling_handler.handler"]
    permissions = sorted(_resources(template, "AWS::Lambda::Permission"))
    assert sorted(config["DependsOn"]) == permissions
    assert len(permissions) == 2
    # the stapling resources sit under the child "Stapling"; the pre-auth ones did not move
    assert domain.stapling.node.path == "Stack/Domain/Stapling"
    assert domain.stapling.function.node.path == "Stack/Domain/Stapling/Function"  # type: ignore[union-attr]
    assert domain.function.node.path == "Stack/Domain/Function"
    assert domain.stapling.domain_configuration_name == domain.domain_configuration_name
    template.resource_count_is(
        "AWS::CloudWatch::Alarm", 6 + 6
    )  # the validating domain's six, the stapling part's six


def test_without_stapling_the_validating_domain_is_unchanged() -> None:
    stack = new_stack()
    domain = make_domain(stack)
    assert domain.stapling is None
    assert domain.node.try_find_child("Stapling") is None
    _, config = only(template_of(stack), "AWS::IoT::DomainConfiguration")
    assert "ServerCertificateConfig" not in config["Properties"]


def test_iot_managed_stapling_on_the_validating_domain_uses_its_alarm_settings() -> None:
    stack = new_stack()
    topic = sns.Topic(stack, "Topic")
    domain = make_domain(
        stack, stapling=OcspStapling(), alarm_actions=[cw_actions.SnsAction(topic)]
    )
    assert domain.stapling is not None
    assert sorted(a.node.id for a in domain.stapling.alarms) == [
        "DaysToExpiryAlarm",
        "StapleRetrievalsAlarm",
    ]
    for alarm in domain.stapling.alarms:
        assert stack.resolve(alarm.alarm_arn)  # created
    quiet = make_domain(new_stack(), stapling=OcspStapling(), alarms=False)
    assert quiet.stapling is not None and quiet.stapling.alarms == ()


def test_both_constructs_give_a_dashboard_what_it_needs() -> None:
    stack = new_stack()
    endpoint = make_stapling(stack)
    second = new_stack()
    domain = make_domain(second, stapling=OcspStapling())
    assert domain.stapling is not None
    monitors: list[tuple[cdk.Stack, StapleMonitor]] = [
        (stack, endpoint),
        (stack, endpoint.stapling),
        (second, domain.stapling),
    ]
    for owner, monitor in monitors:
        retrievals = monitor.metric_staple_retrievals()
        assert (retrievals.namespace, retrievals.metric_name) == (
            "AWS/IoT",
            "RetrieveOCSPStapleData.Success",
        )
        assert retrievals.dimensions == {
            "DomainConfigurationName": monitor.domain_configuration_name
        }
        assert (retrievals.statistic, retrievals.period.to_hours()) == ("Sum", 1)
        expiry = monitor.metric_days_to_expiry()
        assert (expiry.namespace, expiry.metric_name, expiry.statistic) == (
            "AWS/CertificateManager",
            "DaysToExpiry",
            "Minimum",
        )
        assert owner.resolve(expiry.dimensions) == {"CertificateArn": CERT_ARN}
    assert isinstance(domain.stapling, ServerCertificateStapling)
    assert endpoint.metric_staple_retrievals(period=cdk.Duration.hours(6)).period.to_hours() == 6


# --------------------------------------------------------------------------------------------
# One domain configuration per domain name
# --------------------------------------------------------------------------------------------


def test_fails_when_a_stapling_domain_repeats_a_validating_domains_name() -> None:
    stack = new_stack()
    make_domain(stack)
    with pytest.raises(PropsError) as failure:
        StaplingDomainConfig(
            stack,
            "Endpoint",
            domain_name="devices.example.com",
            server_certificate=acm.Certificate.from_certificate_arn(stack, "Other", CERT_ARN),
        )
    (problem,) = failure.value.problems
    assert problem == (
        "domain_name must be a name that no other domain configuration of the app serves in "
        "this account and Region (IoT Core serves a domain name from one domain configuration), "
        "got "
        "'devices.example.com'; 'Stack/Domain' already serves it: give this one another "
        "domain_name, or, for OCSP stapling and the pre-auth check on one endpoint, replace "
        "both by one OcspValidatingDomain(..., stapling=OcspStapling(...))"
    )


def test_fails_when_a_validating_domain_repeats_a_name_in_another_stack() -> None:
    app = new_app()
    first = new_stack(app)
    make_stapling(first)
    second = cdk.Stack(app, "Second", env=cdk.Environment(account=ACCOUNT, region=REGION))
    with pytest.raises(PropsError, match=r"'Stack/Endpoint' already serves it"):
        make_domain(second)


def test_one_name_may_be_served_in_two_regions_or_accounts() -> None:
    """IoT Core's domain names are per account and Region: a multi-Region app serves one name
    from each Region; an environment-agnostic stack could be anywhere, so it still counts."""
    app = new_app()
    make_stapling(new_stack(app))
    for name, account, region in (
        ("OtherRegion", ACCOUNT, "eu-central-1"),
        ("OtherAccount", "210987654321", REGION),
    ):
        stack = cdk.Stack(app, name, env=cdk.Environment(account=account, region=region))
        make_domain(stack)  # no error
    agnostic = cdk.Stack(app, "Anywhere")
    with pytest.raises(PropsError, match=r"'Stack/Endpoint' already serves it"):
        make_domain(agnostic)


def test_fails_when_a_raw_domain_configuration_has_the_name() -> None:
    stack = new_stack()
    iot.CfnDomainConfiguration(stack, "Legacy", domain_name="devices.example.com")
    with pytest.raises(PropsError, match=r"'Stack' already serves it"):
        make_stapling(stack)


def test_names_only_known_at_deploy_time_are_not_compared() -> None:
    stack = new_stack()
    name = cdk.Fn.import_value("DevicesDomainName")
    iot.CfnDomainConfiguration(stack, "Legacy", domain_name=name)
    make_stapling(stack, domain_name=name)
    template_of(stack).resource_count_is("AWS::IoT::DomainConfiguration", 2)


def test_other_names_in_one_app_are_fine() -> None:
    stack = new_stack()
    make_domain(stack, stapling=OcspStapling())
    make_stapling(
        stack,
        domain_name="edge.example.com",
        server_certificate=acm.Certificate.from_certificate_arn(stack, "Edge", CERT_ARN),
    )
    template_of(stack).resource_count_is("AWS::IoT::DomainConfiguration", 2)


# --------------------------------------------------------------------------------------------
# Failures and warnings
# --------------------------------------------------------------------------------------------


def _responder(stack: cdk.Stack, pem: str | None) -> OcspAuthorizedResponder:
    return OcspAuthorizedResponder(
        certificate=acm.Certificate.from_certificate_arn(stack, "Responder", RESPONDER_ARN),
        certificate_pem=pem,
    )


def _not_a_ca_pem() -> str:
    """A certificate that is not a CA (the test PKI's delegate): e.g. a self-signed server
    certificate named as its own CA."""
    return delegate_pem()


FAILURES: dict[str, tuple[Callable[[cdk.Stack], Any], str]] = {
    "not-an-option-group": (
        lambda _s: {"responder_function": True},
        r"- stapling must be an OcspStapling\(...\) \(or None\), got 'dict'",
    ),
    "responder-function-not-bool": (
        lambda _s: OcspStapling(responder_function="yes"),  # type: ignore[arg-type]
        r"stapling.responder_function must be True or False, got 'yes'",
    ),
    "lambda-without-trusted-cas": (
        lambda _s: OcspStapling(responder_function=True, responder_url=OCSP_URL),
        r"stapling.trusted_cas must be at least one CA",
    ),
    "lambda-without-responder-url": (
        lambda _s: OcspStapling(responder_function=True, trusted_cas=[TrustedCa.from_pem(CA_PEM)]),
        r"stapling.responder_url must be the URL of the responder the stapling Lambda forwards "
        r"to, got None; set responder_url, or trust one CA that has an ocsp_responder_url",
    ),
    "two-cas-two-urls": (
        lambda _s: lambda_stapling(
            trusted_cas=[
                TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL),
                TrustedCa.from_pem(ca_pem("Second CA"), ocsp_responder_url="http://b.example.com"),
            ]
        ),
        r"stapling.responder_url must be the URL",
    ),
    "bad-responder-url": (
        lambda _s: lambda_stapling(responder_url="ftp://ocsp.example.com"),
        r"stapling.responder_url must be an http:// or https:// URL",
    ),
    "trusted-ca-is-not-a-ca": (
        lambda _s: lambda_stapling(trusted_cas=[TrustedCa.from_pem(_not_a_ca_pem(), OCSP_URL)]),
        r"stapling.trusted_cas\[0\].issuing_ca_certificate_pem must be a CA certificate "
        r"\(basicConstraints cA=TRUE\), got .*; the stapling Lambda would refuse it "
        r"\(CONFIG_ERROR\) and nothing would be stapled; trust the CA that issued the server "
        r"certificate \(a self-signed server certificate cannot be stapled\)",
    ),
    "trusted-ca-not-pem": (
        lambda _s: lambda_stapling(trusted_cas=[TrustedCa.from_pem("not pem", OCSP_URL)]),
        r"stapling.trusted_cas\[0\].issuing_ca_certificate_pem must be exactly one PEM",
    ),
    "lambda-needs-the-delegate-pem": (
        lambda s: lambda_stapling(authorized_responder=_responder(s, None)),
        r"stapling.authorized_responder.certificate_pem must be the responder certificate's PEM "
        r"when responder_function=True",
    ),
    "delegate-of-another-ca": (
        lambda s: lambda_stapling(authorized_responder=_responder(s, fixed_delegate_pem())),
        r"stapling.authorized_responder.certificate_pem must be a certificate issued directly "
        r"by one of trusted_cas \(the server certificate's CA\)",
    ),
    "delegate-without-ocsp-signing": (
        lambda s: lambda_stapling(
            authorized_responder=_responder(s, stapling_pki().delegate_no_eku.pem.decode())
        ),
        r"must be a certificate with the OCSPSigning extended key usage",
    ),
    "delegate-is-a-ca": (
        lambda s: lambda_stapling(
            authorized_responder=_responder(s, stapling_pki().issuing_ca.pem.decode())
        ),
        r"must be a delegated responder certificate, not a CA certificate",
    ),
    "delegate-not-pem": (
        lambda s: OcspStapling(authorized_responder=_responder(s, "-----BEGIN CERTIFICATE-----")),
        r"stapling.authorized_responder.certificate_pem must be exactly one PEM",
    ),
    "delegate-pem-not-a-string": (
        lambda s: OcspStapling(authorized_responder=_responder(s, 42)),  # type: ignore[arg-type]
        r"stapling.authorized_responder.certificate_pem must be a PEM string, got 'int'",
    ),
    "delegate-issued-by-acm": (
        lambda s: OcspStapling(
            authorized_responder=OcspAuthorizedResponder(
                certificate=acm.Certificate(s, "Acm", domain_name="ocsp.example.com")
            )
        ),
        r"stapling.authorized_responder.certificate must be the responder certificate imported "
        r"into ACM",
    ),
    "delegate-not-a-certificate": (
        lambda _s: OcspStapling(
            authorized_responder=OcspAuthorizedResponder(certificate=RESPONDER_ARN)  # type: ignore[arg-type]
        ),
        r"stapling.authorized_responder.certificate must be an acm.ICertificate, got 'str'",
    ),
    "authorized-responder-not-the-type": (
        lambda _s: OcspStapling(authorized_responder=RESPONDER_ARN),  # type: ignore[arg-type]
        r"stapling.authorized_responder must be an OcspAuthorizedResponder",
    ),
    "lambda-options-without-lambda": (
        lambda _s: OcspStapling(ocsp_timeout=cdk.Duration.seconds(1), responder_url=OCSP_URL),
        r"stapling.responder_url must be unset unless responder_function=True",
    ),
    "security-groups-without-lambda": (
        lambda s: OcspStapling(
            security_groups=[ec2.SecurityGroup.from_security_group_id(s, "Sg", "sg-1")]
        ),
        r"stapling.security_groups must be empty unless responder_function=True",
    ),
    "response-cap-above-iot-limit": (
        lambda _s: lambda_stapling(max_response_bytes=8192),
        r"stapling.max_response_bytes must be a whole number between 1024 and 4096, got 8192",
    ),
    "timeout-not-below-lambda-timeout": (
        lambda _s: lambda_stapling(
            ocsp_timeout=cdk.Duration.seconds(3), timeout=cdk.Duration.seconds(3)
        ),
        r"stapling.ocsp_timeout must be below the Lambda timeout \(3 seconds\)",
    ),
    "cache-not-whole-seconds": (
        lambda _s: lambda_stapling(cache_max_age=cdk.Duration.millis(1500)),
        r"stapling.cache_max_age must be whole seconds",
    ),
    "memory": (
        lambda _s: lambda_stapling(memory_size=64),
        r"stapling.memory_size must be a whole number between 128 and 10240",
    ),
    "subnets-without-vpc": (
        lambda _s: lambda_stapling(vpc_subnets=ec2.SubnetSelection()),
        r"stapling.vpc_subnets must be omitted unless vpc is set",
    ),
    "retrieval-alarm-hours": (
        lambda _s: OcspStapling(retrieval_alarm_hours=0),
        r"stapling.retrieval_alarm_hours must be a whole number of hours from 1 to 24",
    ),
    "days-to-expiry": (
        lambda _s: OcspStapling(days_to_expiry_threshold=True),
        r"stapling.days_to_expiry_threshold must be a whole number of days from 1 to 365",
    ),
    "environment-over-4-kb": (
        lambda _s: lambda_stapling(
            trusted_cas=[
                TrustedCa.from_pem(ca_pem(f"CA {n}"), ocsp_responder_url=OCSP_URL)
                for n in range(12)
            ]
        ),
        r"the Lambda environment \(trusted_cas and authorized responder PEMs, responder URL and "
        r"settings\) must be at most 4096 bytes in total",
    ),
}


#: The cases that make more than one mistake (each gets its message).
MISTAKES = {"lambda-options-without-lambda": 2}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_fails_on_bad_stapling_options(case: str) -> None:
    make, message = FAILURES[case]
    stack = new_stack()
    with pytest.raises(PropsError, match=message) as failure:
        make_stapling(stack, make(stack))
    # one clear message per mistake: nothing about a prop the mistake did not touch
    assert len(failure.value.problems) == MISTAKES.get(case, 1), failure.value.problems


@pytest.mark.parametrize("case", ["lambda-without-trusted-cas", "delegate-of-another-ca"])
def test_fails_with_the_same_message_on_the_validating_domain(case: str) -> None:
    make, message = FAILURES[case]
    stack = new_stack()
    with pytest.raises(PropsError, match=message) as failure:
        make_domain(stack, stapling=make(stack), memory_size=64)
    # one error lists the domain's own problems and the stapling's together
    assert any(p.startswith("memory_size must be") for p in failure.value.problems)
    assert str(failure.value).startswith("OcspValidatingDomain 'Domain' has 2 invalid props")


def test_fails_with_every_problem_at_once() -> None:
    stack = new_stack()
    with pytest.raises(PropsError) as failure:
        StaplingDomainConfig(
            stack,
            "Bad",
            domain_name="Devices..example",
            server_certificate=None,  # type: ignore[arg-type]
            tls_security_policy="IoTSecurityPolicy_Custom",
            alarm_actions="topic",  # type: ignore[arg-type]
            stapling=OcspStapling(responder_function=True, memory_size=64),
        )
    problems = failure.value.problems
    for start in (
        "domain_name must be a lower-case fully qualified domain name",
        "server_certificate must be an ACM certificate",
        "tls_security_policy must be one of",
        "alarm_actions must be a list of cloudwatch.IAlarmAction",
        "stapling.trusted_cas must be at least one CA",
        "stapling.memory_size must be",
    ):
        assert any(p.startswith(start) for p in problems), (start, problems)
    # the missing CA is the problem; the responder URL it would give is not a second one
    assert not any(p.startswith("stapling.responder_url") for p in problems), problems
    assert str(failure.value).startswith(f"StaplingDomainConfig 'Bad' has {len(problems)}")


def test_fails_when_a_private_server_certificate_has_no_validation_certificate() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match="validation_certificate must be a public ACM"):
        make_stapling(stack, server_certificate=private_server_cert(stack))


def test_deploy_time_certificates_are_not_read_at_synth() -> None:
    """An OcspPrivateCa's certificate is a CloudFormation attribute: the delegate cannot be
    compared with it, so any well-formed delegate is accepted (the Lambda still checks)."""
    stack = new_stack()
    ca = OcspPrivateCa(stack, "Ca")
    make_stapling(
        stack,
        OcspStapling(
            responder_function=True,
            trusted_cas=[ca],
            authorized_responder=_responder(stack, fixed_delegate_pem()),
        ),
    )
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    assert (
        variables["OCSP_RESPONDER_URL"]
        == {"Fn::Join": ["", ["http://ocsp.acm-pca.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
        or variables["OCSP_RESPONDER_URL"] == f"http://ocsp.acm-pca.{REGION}.amazonaws.com"
    )
    assert variables["OCSP_AUTHORIZED_RESPONDER_PEM"] == fixed_delegate_pem().strip()


def test_warns_when_deploy_time_certificates_may_exceed_4_kb() -> None:
    stack = new_stack()
    cas = [OcspPrivateCa(stack, f"Ca{n}", key_algorithm=KeyAlgorithm.RSA_4096) for n in range(2)]
    make_stapling(
        stack, OcspStapling(responder_function=True, trusted_cas=cas, responder_url=OCSP_URL)
    )
    warnings = Annotations.from_stack(stack).find_warning(
        "/Stack/Endpoint", Match.string_like_regexp("ocsp-iot:staplingEnvironmentSize")
    )
    assert len(warnings) == 1
    assert "may exceed Lambda's 4 KB limit" in str(warnings[0].entry.data)
    quiet = new_stack()
    make_stapling(quiet, lambda_stapling())
    assert Annotations.from_stack(quiet).find_warning("*", Match.any_value()) == []


def test_the_lambda_arn_stays_within_iot_cores_limit() -> None:
    stack = new_stack()
    # arn:aws:lambda:eu-west-1:123456789012:function:<64 characters>
    assert (
        estimated_lambda_arn_chars(stack)
        == len(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:") + 64
    )
    agnostic = cdk.Stack(new_app(), "Agnostic")
    assert estimated_lambda_arn_chars(agnostic) == 4 + 10 + 8 + 16 + 1 + 12 + 10 + 64
    assert estimated_lambda_arn_chars(agnostic) <= MAX_OCSP_LAMBDA_ARN_CHARS
    assert estimated_lambda_arn_chars(stack, function_name="f", qualifier="live") == len(
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:live"
    )


def test_fails_when_the_lambda_arn_would_exceed_140_characters() -> None:
    stack = new_stack()
    problems = Problems("StaplingDomainConfig", "Endpoint")
    check_lambda_arn_length(
        problems, estimated_lambda_arn_chars(stack, function_name="f" * 64, qualifier="q" * 40)
    )
    with pytest.raises(PropsError) as failure:
        problems.raise_if_any()
    (problem,) = failure.value.problems
    assert problem == (
        "responder_function must be a function whose ARN IoT Core accepts as OcspLambdaArn (at "
        "most 140 characters), got 'an ARN of up to 152 characters'; use a shorter function "
        "name or qualifier"
    )


# --------------------------------------------------------------------------------------------
# cdk-nag, cfn-lint, snapshots
# --------------------------------------------------------------------------------------------


def _nag_app() -> tuple[cdk.App, cdk.Stack]:
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, new_stack(app)


def test_cdk_nag_and_cfn_lint_are_clean_for_iot_managed_stapling() -> None:
    app, stack = _nag_app()
    make_stapling(stack)
    template = app.synth().get_stack_by_name("Stack").template
    assert cfn_lint_errors(template) == []


@pytest.mark.parametrize("tracing", [True, False])
def test_cdk_nag_and_cfn_lint_are_clean_with_the_lambda(tracing: bool) -> None:
    app, stack = _nag_app()
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    make_stapling(
        stack,
        lambda_stapling(authorized_responder=authorized_responder(stack), tracing=tracing),
        hosted_zone=zone,
    )
    template = app.synth().get_stack_by_name("Stack").template
    assert cfn_lint_errors(template) == []


def test_cdk_nag_and_cfn_lint_are_clean_in_a_vpc_with_an_encrypted_log_group() -> None:
    app, stack = _nag_app()
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=[f"{REGION}a", f"{REGION}b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    key = kms.Key(stack, "LogKey", enable_key_rotation=True)
    make_stapling(
        stack,
        lambda_stapling(responder_url="http://10.0.0.5/ocsp", vpc=vpc, log_encryption_key=key),
    )
    template = app.synth().get_stack_by_name("Stack").template
    assert cfn_lint_errors(template) == []


def test_cdk_nag_and_cfn_lint_are_clean_for_stapling_on_the_validating_domain() -> None:
    app, stack = _nag_app()
    ca = OcspPrivateCa(stack, "Ca")
    make_domain(
        stack, trusted_cas=[ca], stapling=OcspStapling(responder_function=True, trusted_cas=[ca])
    )
    template = app.synth().get_stack_by_name("Stack").template
    assert cfn_lint_errors(template) == []


def _acknowledged(stack: cdk.Stack) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for rule_id, reason in entry.data.items():
                    assert len(reason) > 60, (rule_id, reason)
                    found.setdefault(construct.node.path, []).append(rule_id)
    return found


def test_acknowledgments_sit_on_the_narrowest_nodes() -> None:
    stack = new_stack()
    make_stapling(stack, lambda_stapling())
    assert _acknowledged(stack) == {
        "Stack/Endpoint/Stapling/Function/Resource": ["Serverless::Serverless-LambdaDLQ"],
        "Stack/Endpoint/Stapling/ServiceRole/DefaultPolicy/Resource": [
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]"
        ],
    }
    reasons = [
        entry.data
        for entry in stack.node.find_child("Endpoint")
        .node.find_child("Stapling")
        .node.find_child("Function")
        .node.find_child("Resource")
        .node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
    ]
    assert "stapling Lambda synchronously" in str(reasons)


def _snapshot_stack() -> cdk.Stack:
    stack = new_stack()
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name="example.com"
    )
    make_stapling(
        stack,
        OcspStapling(
            responder_function=True,
            trusted_cas=[TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL)],
            authorized_responder=_responder(stack, fixed_delegate_pem()),
        ),
        domain_configuration_name="devices-stapling",
        hosted_zone=zone,
        tags={"project": "ocsp-iot"},
    )
    return stack


def test_cfn_lint_clean() -> None:
    assert cfn_lint_errors(template_of(_snapshot_stack()).to_json()) == []


def test_snapshot(snapshot_json: SnapshotAssertion, mask_hashes: Callable[[Any], Any]) -> None:
    assert mask_hashes(template_of(_snapshot_stack()).to_json()) == snapshot_json


def test_snapshot_of_stapling_on_the_validating_domain(
    snapshot_json: SnapshotAssertion, mask_hashes: Callable[[Any], Any]
) -> None:
    stack = new_stack()
    make_domain(stack, domain_configuration_name="devices-ocsp", stapling=OcspStapling())
    assert mask_hashes(template_of(stack).to_json()) == snapshot_json


# --------------------------------------------------------------------------------------------
# The documentation's example
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_doc_example_synthesizes() -> None:
    """The first ``python`` block of docs/stapling-domain-config.md, as a user runs it (with
    cdk-nag and local bundling)."""
    doc = (ROOT / "docs" / "stapling-domain-config.md").read_text()
    example = re.search(r"```python\n(.*?)```", doc, re.S)
    assert example is not None
    namespace: dict[str, Any] = {}
    exec(compile(example.group(1), "stapling-domain-config.md", "exec"), namespace)  # noqa: S102
    stack = namespace["stack"]
    template = template_of(stack)
    assert cfn_lint_errors(template.to_json()) == []
    template.resource_count_is("AWS::IoT::DomainConfiguration", 1)
    template.has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {"ServerCertificateConfig": Match.object_like({"EnableOCSPCheck": True})},
    )
    assert list(Path(namespace["app"].outdir).glob("asset.*/stapling_handler.py"))
