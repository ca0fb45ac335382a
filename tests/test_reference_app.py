"""The reference app (app.py): synthesizes offline, lints clean, passes cdk-nag, is snapshotted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from syrupy.assertion import SnapshotAssertion

import app as reference_app
from ocsp_iot import stack as cli_stack
from tests.support import cfn_lint_errors, new_app


@pytest.fixture(scope="module")
def assembly() -> cdk.cx_api.CloudAssembly:
    # cdk-nag's AwsSolutions + Serverless packs are registered by build_app: an unacknowledged
    # finding makes synth() raise, so reaching the assertions is the nag gate.
    app = new_app()
    reference_app.build_app(app)
    return app.synth()


def _templates(assembly: cdk.cx_api.CloudAssembly) -> dict[str, dict[str, Any]]:
    return {
        stack.stack_name: json.loads(Path(stack.template_full_path).read_text())
        for stack in assembly.stacks
    }


def test_every_template_passes_cfn_lint(assembly: cdk.cx_api.CloudAssembly) -> None:
    for name, template in _templates(assembly).items():
        assert cfn_lint_errors(template) == [], name


def _acknowledgements(assembly: cdk.cx_api.CloudAssembly) -> dict[str, dict[str, str]]:
    """Construct path -> {rule id: reason}, from each stack's metadata file."""
    acks: dict[str, dict[str, str]] = {}
    for path in Path(assembly.directory).glob("*.metadata.json"):
        for construct_path, entries in json.loads(path.read_text()).items():
            for entry in entries:
                if entry["type"] == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                    acks.setdefault(construct_path, {}).update(entry["data"])
    return acks


def test_nag_acknowledgements_name_the_finding_and_a_specific_reason(
    assembly: cdk.cx_api.CloudAssembly,
) -> None:
    acks = _acknowledgements(assembly)
    assert acks, "expected the reference stack to acknowledge some cdk-nag findings"
    for construct_path, rules in acks.items():
        for rule, reason in rules.items():
            # "<source>::<rule id>", e.g. "Serverless::Serverless-LambdaDLQ"
            source, _, rule_id = rule.partition("::")
            assert source and rule_id, rule
            # a specific reason, not a placeholder
            assert len(reason.split()) >= 6, (construct_path, rule, reason)


def test_context_overrides_replace_placeholders() -> None:
    app = new_app(stackName="MyFleet")
    stack = reference_app.build_app(app)
    assert stack.stack_name == "MyFleet"


def test_reference_stack_snapshot(
    assembly: cdk.cx_api.CloudAssembly, snapshot_json: SnapshotAssertion, mask_hashes: Any
) -> None:
    (template,) = _templates(assembly).values()
    assert mask_hashes(template) == snapshot_json


def _synth_with(**context: Any) -> dict[str, Any]:
    app = new_app(**context)
    stack = reference_app.build_app(app)
    assembly = app.synth()  # the nag gate applies to every variant
    template: dict[str, Any] = json.loads(
        Path(assembly.get_stack_by_name(stack.stack_name).template_full_path).read_text()
    )
    return template


def _resources_of(template: dict[str, Any], type_name: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == type_name]


def _function(template: dict[str, Any], handler: str) -> dict[str, Any]:
    (function,) = [
        f
        for f in _resources_of(template, "AWS::Lambda::Function")
        if f["Properties"].get("Handler") == handler
    ]
    return function


def _preauth_environment(template: dict[str, Any]) -> dict[str, Any]:
    function = _function(template, "preauth_handler.handler")
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


def test_every_context_override_is_honoured_and_stays_lint_and_nag_clean() -> None:
    # GIVEN every optional context value set, as for a real deployment
    template = _synth_with(
        domainName="devices.example.org",
        serverCertificateArn="arn:aws:acm:eu-west-1:111122223333:certificate/abc-123",
        validationCertificateArn="arn:aws:acm:eu-west-1:111122223333:certificate/def-456",
        hostedZoneId="Z0123456789ABCDEFGHIJ",
        hostedZoneName="example.org",
        failMode="open",
        hierarchy="ROOT_ONLY",
        stapling="lambda",
    )

    # THEN each one reaches the template
    (domain,) = _resources_of(template, "AWS::IoT::DomainConfiguration")
    props = domain["Properties"]
    assert props["DomainName"] == "devices.example.org"
    assert props["ServerCertificateArns"] == [
        "arn:aws:acm:eu-west-1:111122223333:certificate/abc-123"
    ]
    assert props["ValidationCertificateArn"] == (
        "arn:aws:acm:eu-west-1:111122223333:certificate/def-456"
    )
    assert _preauth_environment(template)["OCSP_FAIL_MODE"] == "open"
    (record,) = _resources_of(template, "AWS::Route53::RecordSet")
    assert record["Properties"]["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    assert record["Properties"]["Type"] == "CNAME"
    assert len(_resources_of(template, "AWS::ACMPCA::CertificateAuthority")) == 1
    # stapling through the Lambda, which forwards to the stack's own Private CA
    stapling = _function(template, "stapling_handler.handler")["Properties"]
    assert stapling["Environment"]["Variables"]["OCSP_RESPONDER_URL"] == {
        "Fn::Join": ["", ["http://ocsp.acm-pca.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
    }
    assert set(props["ServerCertificateConfig"]) == {"EnableOCSPCheck", "OcspLambdaArn"}
    assert "StaplingFunctionName" in template["Outputs"]
    assert cfn_lint_errors(template) == []


def test_placeholder_defaults_synthesize_without_optional_features(
    assembly: cdk.cx_api.CloudAssembly,
) -> None:
    templates = _templates(assembly)
    assert list(templates) == [reference_app.CONTEXT_DEFAULTS["stackName"]]
    (template,) = templates.values()
    (domain,) = _resources_of(template, "AWS::IoT::DomainConfiguration")
    assert domain["Properties"]["DomainName"] == reference_app.CONTEXT_DEFAULTS["domainName"]
    assert "ValidationCertificateArn" not in domain["Properties"]
    assert _resources_of(template, "AWS::Route53::RecordSet") == []
    assert _preauth_environment(template)["OCSP_FAIL_MODE"] == "closed"
    assert len(_resources_of(template, "AWS::ACMPCA::CertificateAuthority")) == 2
    # IoT-managed stapling on the same domain configuration, with its two alarms
    assert domain["Properties"]["ServerCertificateConfig"] == {"EnableOCSPCheck": True}
    assert len(_resources_of(template, "AWS::Lambda::Function")) == 1
    alarms = [
        a["Properties"].get("MetricName")  # a metric-math alarm (the deny ratio) has none
        for a in _resources_of(template, "AWS::CloudWatch::Alarm")
    ]
    assert {"RetrieveOCSPStapleData.Success", "DaysToExpiry"} <= set(alarms)


def test_stapling_can_be_switched_off() -> None:
    template = _synth_with(stapling="off")
    (domain,) = _resources_of(template, "AWS::IoT::DomainConfiguration")
    assert "ServerCertificateConfig" not in domain["Properties"]
    assert cfn_lint_errors(template) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "failMode",
            "sometimes",
            r"context 'failMode' must be one of closed, open, got 'sometimes'",
        ),
        (
            "hierarchy",
            "THREE_LEVELS",
            r"context 'hierarchy' must be one of ROOT_AND_ISSUING, ROOT_ONLY, got 'THREE_LEVELS'",
        ),
        (
            "stapling",
            "always",
            r"context 'stapling' must be one of iot, lambda, off, got 'always'",
        ),
    ],
)
def test_fails_when_a_context_value_is_not_allowed(key: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        context: dict[str, Any] = {key: value}
        reference_app.build_app(new_app(**context))


def test_fails_with_the_constructs_message_on_a_bad_domain_name() -> None:
    with pytest.raises(ValueError, match=r"domain_name .*got 'not a domain'"):
        reference_app.build_app(new_app(domainName="not a domain"))


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"hostedZoneId": "Z0123456789ABCDEFGHIJ"},
            r"^context 'hostedZoneName' must be given together with 'hostedZoneId' \(the CNAME "
            r"is created in that hosted zone\), got only hostedZoneId='Z0123456789ABCDEFGHIJ'; "
            r"pass both",
        ),
        (
            {"hostedZoneName": "example.org"},
            r"^context 'hostedZoneId' must be given together with 'hostedZoneName' .*got only "
            r"hostedZoneName='example.org'",
        ),
    ],
)
def test_fails_when_only_half_of_the_hosted_zone_is_given(
    context: dict[str, Any], message: str
) -> None:
    """Silently creating no DNS record would leave devices resolving nothing."""
    with pytest.raises(ValueError, match=message):
        reference_app.build_app(new_app(**context))


def test_the_outputs_are_what_ocsp_iot_enroll_reads(assembly: cdk.cx_api.CloudAssembly) -> None:
    # `cdk deploy --outputs-file` writes these keys; `ocsp-iot enroll/revoke --outputs` reads them
    (template,) = _templates(assembly).values()
    outputs = template["Outputs"]
    (policy_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::IoT::Policy"]
    (ca_id,) = [
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::IoT::CACertificate"
    ]
    assert outputs[cli_stack.OUTPUT_POLICY_NAME] == {"Value": {"Ref": policy_id}}
    assert outputs[cli_stack.OUTPUT_TOPIC_PREFIX] == {"Value": cli_stack.DEFAULT_TOPIC_PREFIX}
    assert outputs[cli_stack.OUTPUT_DOMAIN_NAME] == {
        "Value": reference_app.CONTEXT_DEFAULTS["domainName"]
    }
    assert outputs[cli_stack.OUTPUT_IOT_CA_ID] == {"Value": {"Fn::GetAtt": [ca_id, "Id"]}}
    assert cli_stack.OUTPUT_CA_ARN in outputs
