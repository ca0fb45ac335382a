"""A custom OCSP CNAME: both URLs exposed, the CloudFront proxy AWS documents, its checks."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from ocsp_iot_constructs import OcspCnameDistribution, OcspPrivateCa, PropsError
from tests.constructs.domain_support import ACCOUNT, REGION, make_domain, only
from tests.support import ROOT, cfn_lint_errors, logical_id_of, new_app

CLOUDFRONT_CERT_ARN = (
    f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/99999999-8888-7777-6666-555555555555"
)
#: AWS's managed CloudFront policies (fixed ids).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CFR_RULES = {
    "AwsSolutions::AwsSolutions-CFR1",
    "AwsSolutions::AwsSolutions-CFR2",
    "AwsSolutions::AwsSolutions-CFR3",
    "AwsSolutions::AwsSolutions-CFR5",
}


def _stack(app: cdk.App | None = None) -> cdk.Stack:
    return cdk.Stack(app or new_app(), "Pki", env=cdk.Environment(account=ACCOUNT, region=REGION))


def _zone(stack: cdk.Stack, name: str = "example.com") -> route53.IHostedZone:
    return route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789", zone_name=name
    )


def _proxy(stack: cdk.Stack, **overrides: Any) -> OcspCnameDistribution:
    props: dict[str, Any] = {
        "hosted_zone": _zone(stack),
        "certificate": acm.Certificate.from_certificate_arn(stack, "Cf", CLOUDFRONT_CERT_ARN),
        **overrides,
    }
    return OcspCnameDistribution(**props)


def _ca(stack: cdk.Stack, **props: Any) -> OcspPrivateCa:
    return OcspPrivateCa(stack, "Ca", ocsp_custom_cname="ocsp.example.com", **props)


def _acknowledged(stack: cdk.Stack) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.setdefault(construct.node.path, {}).update(entry.data)
    return found


# --------------------------------------------------------------------------------------------
# Both URLs
# --------------------------------------------------------------------------------------------


def test_without_a_cname_both_urls_are_the_regional_responder() -> None:
    ca = OcspPrivateCa(_stack(), "Ca")
    assert ca.ocsp_responder_url == f"http://ocsp.acm-pca.{REGION}.amazonaws.com"
    assert ca.regional_ocsp_responder_url == ca.ocsp_responder_url
    assert ca.ocsp_distribution is None
    assert ca.ocsp_alias_records is None


def test_with_a_cname_certificates_carry_it_and_the_regional_url_is_exposed() -> None:
    stack = _stack()
    ca = _ca(stack)
    assert ca.ocsp_responder_url == "http://ocsp.example.com"
    assert ca.regional_ocsp_responder_url == f"http://ocsp.acm-pca.{REGION}.amazonaws.com"


def test_in_an_environment_agnostic_stack_the_regional_url_uses_the_region_token() -> None:
    stack = cdk.Stack(new_app(), "Agnostic")
    ca = OcspPrivateCa(stack, "Ca")
    assert stack.resolve(ca.regional_ocsp_responder_url) == {
        "Fn::Join": ["", ["http://ocsp.acm-pca.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
    }


def test_a_cname_without_a_proxy_warns_that_one_is_needed() -> None:
    stack = _stack()
    _ca(stack)
    Annotations.from_stack(stack).has_warning(
        "/Pki/Ca",
        Match.string_like_regexp(
            r"ocsp_custom_cname is set: issued certificates send OCSP clients .* to "
            r"http://ocsp.example.com, .*ocsp_cname_distribution=OcspCnameDistribution.*"
            r"\[ack: Annotation::ocsp-iot:ocspCnameWithoutProxy\]"
        ),
    )


def test_the_validating_domain_can_ask_the_regional_responder_directly() -> None:
    """The documented way for the Lambda not to depend on the proxy: ``responder_url``."""
    stack = _stack()
    ca = _ca(stack)
    domain = make_domain(stack, trusted_cas=[ca], responder_url=ca.regional_ocsp_responder_url)
    function = Template.from_stack(stack).to_json()["Resources"][
        logical_id_of(stack, domain.function.node.default_child)
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["OCSP_ALLOWED_URLS"] == "http://ocsp.example.com"
    assert variables["OCSP_RESPONDER_URL"] == f"http://ocsp.acm-pca.{REGION}.amazonaws.com"


# --------------------------------------------------------------------------------------------
# The distribution
# --------------------------------------------------------------------------------------------


def test_the_distribution_forwards_plain_http_to_the_regional_responder() -> None:
    stack = _stack()
    ca = _ca(stack, ocsp_cname_distribution=_proxy(stack))
    template = Template.from_stack(stack)
    distribution_id, distribution = only(template, "AWS::CloudFront::Distribution")
    assert ca.ocsp_distribution is not None
    assert distribution_id == logical_id_of(stack, ca.ocsp_distribution.node.default_child)
    config = distribution["Properties"]["DistributionConfig"]
    (origin,) = config.pop("Origins")
    assert origin == {
        "CustomOriginConfig": {
            "OriginProtocolPolicy": "http-only",
            "OriginSSLProtocols": ["TLSv1.2"],
        },
        "DomainName": f"ocsp.acm-pca.{REGION}.amazonaws.com",
        "Id": origin["Id"],
    }
    assert config == {
        "Aliases": ["ocsp.example.com"],
        "Comment": "OCSP responder ocsp.example.com: forwards to the AWS Private CA responder",
        "DefaultCacheBehavior": {
            # OCSP uses GET and POST; nothing is cached; the viewer's Host is not forwarded
            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
            "CachePolicyId": CACHING_DISABLED,
            "Compress": False,
            "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER,
            "TargetOriginId": origin["Id"],
            "ViewerProtocolPolicy": "allow-all",
        },
        "Enabled": True,
        "HttpVersion": "http2",
        "IPV6Enabled": True,
        "ViewerCertificate": {
            "AcmCertificateArn": CLOUDFRONT_CERT_ARN,
            "MinimumProtocolVersion": "TLSv1.2_2021",
            "SslSupportMethod": "sni-only",
        },
    }
    alias_target = {
        "DNSName": {"Fn::GetAtt": [distribution_id, "DomainName"]},
        "HostedZoneId": {
            "Fn::FindInMap": [
                "AWSCloudFrontPartitionHostedZoneIdMap",
                {"Ref": "AWS::Partition"},
                "zoneId",
            ]
        },
    }
    records = template.find_resources("AWS::Route53::RecordSet")
    assert sorted(r["Properties"]["Type"] for r in records.values()) == ["A", "AAAA"]
    for record in records.values():
        assert record["Properties"] == {
            "AliasTarget": alias_target,
            "Comment": "OCSP clients reach the Private CA responder through this name",
            "HostedZoneId": "Z0123456789",
            "Name": "ocsp.example.com.",
            "Type": record["Properties"]["Type"],
        }
    # the CAs are retained by default, and the certificates they issued point at this name
    for resource in [distribution, *records.values()]:
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
    assert Annotations.from_stack(stack).find_warning("*", Match.any_value()) == []


def test_the_distribution_keeps_access_logs_and_a_web_acl_when_given() -> None:
    stack = _stack()
    bucket = s3.Bucket.from_bucket_name(stack, "Logs", "acme-cloudfront-logs")
    acl = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/ocsp/1234"
    _ca(stack, ocsp_cname_distribution=_proxy(stack, log_bucket=bucket, web_acl_id=acl))
    _, distribution = only(Template.from_stack(stack), "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["Logging"] == {
        "Bucket": "acme-cloudfront-logs.s3.eu-west-1.amazonaws.com",
        "Prefix": "ocsp/",
    }
    assert config["WebACLId"] == acl
    acks = _acknowledged(stack)["Pki/Ca/OcspDistribution/Resource"]
    assert set(acks) == CFR_RULES - {
        "AwsSolutions::AwsSolutions-CFR2",
        "AwsSolutions::AwsSolutions-CFR3",
    }


@pytest.mark.parametrize("logs_and_waf", [False, True], ids=["plain", "logs_and_waf"])
def test_the_distribution_is_cdk_nag_and_cfn_lint_clean(logs_and_waf: bool) -> None:
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = _stack(app)
    extra: dict[str, Any] = {}
    if logs_and_waf:
        extra = {
            "log_bucket": s3.Bucket.from_bucket_name(stack, "Logs", "acme-cloudfront-logs"),
            "web_acl_id": f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/ocsp/1234",
        }
    _ca(stack, ocsp_cname_distribution=_proxy(stack, **extra))
    template = app.synth().get_stack_by_name("Pki").template  # raises on a finding
    assert cfn_lint_errors(template) == []
    acks = _acknowledged(stack)
    # every CloudFront acknowledgement sits on the distribution alone, with its reason
    cloudfront = {path: rules for path, rules in acks.items() if any("CFR" in r for r in rules)}
    assert list(cloudfront) == ["Pki/Ca/OcspDistribution/Resource"]
    for rule, reason in cloudfront["Pki/Ca/OcspDistribution/Resource"].items():
        assert rule in CFR_RULES
        assert len(reason.split()) >= 15, (rule, reason)


# --------------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------------


def _problems(stack: cdk.Stack, **props: Any) -> tuple[str, ...]:
    with pytest.raises(PropsError) as caught:
        OcspPrivateCa(stack, "Ca", **props)
    return caught.value.problems


def test_fails_when_a_distribution_is_given_without_a_cname() -> None:
    stack = _stack()
    assert _problems(stack, ocsp_cname_distribution=_proxy(stack)) == (
        "ocsp_cname_distribution must be omitted unless ocsp_custom_cname is set (the "
        "distribution serves that name), got an OcspCnameDistribution; set ocsp_custom_cname "
        "too, or drop it",
    )


def test_fails_when_the_cname_is_not_below_the_hosted_zone() -> None:
    stack = _stack()
    proxy = _proxy(
        stack,
        hosted_zone=route53.HostedZone.from_hosted_zone_attributes(
            stack, "Other", hosted_zone_id="Z1", zone_name="example.org."
        ),
    )
    assert _problems(
        stack, ocsp_custom_cname="ocsp.example.com", ocsp_cname_distribution=proxy
    ) == (
        "ocsp_custom_cname must be a name below ocsp_cname_distribution.hosted_zone "
        "'example.org' (the alias records are created there, below its apex), got "
        "'ocsp.example.com'",
    )


def test_fails_when_the_cname_is_the_zone_apex() -> None:
    stack = _stack()
    (problem,) = _problems(
        stack, ocsp_custom_cname="example.com", ocsp_cname_distribution=_proxy(stack)
    )
    assert problem.startswith("ocsp_custom_cname must be a name below")


def test_fails_when_the_certificate_is_not_in_us_east_1() -> None:
    stack = _stack()
    regional = acm.Certificate.from_certificate_arn(
        stack, "Regional", f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"
    )
    assert _problems(
        stack,
        ocsp_custom_cname="ocsp.example.com",
        ocsp_cname_distribution=_proxy(stack, certificate=regional),
    ) == (
        "ocsp_cname_distribution.certificate must be an ACM certificate in us-east-1 "
        "(CloudFront takes no other Region's), got a certificate in eu-west-1; import a "
        "us-east-1 certificate with acm.Certificate.from_certificate_arn",
    )


def test_fails_when_the_certificate_is_made_in_a_stack_of_another_region() -> None:
    stack = _stack()
    made_here = acm.Certificate(stack, "Here", domain_name="ocsp.example.com")
    (problem,) = _problems(
        stack,
        ocsp_custom_cname="ocsp.example.com",
        ocsp_cname_distribution=_proxy(stack, certificate=made_here),
    )
    assert problem.startswith(
        "ocsp_cname_distribution.certificate must be an ACM certificate in us-east-1"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"hosted_zone": "Z0123456789"},
            "ocsp_cname_distribution.hosted_zone must be a route53.IHostedZone, got 'Z0123456789'",
        ),
        (
            {"certificate": CLOUDFRONT_CERT_ARN},
            "ocsp_cname_distribution.certificate must be an acm.ICertificate, got "
            "'arn:aws:acm:us-east-1",
        ),
        (
            {"log_bucket": "my-logs"},
            "ocsp_cname_distribution.log_bucket must be an s3.IBucket, got 'my-logs'",
        ),
        (
            {"web_acl_id": "ocsp-acl"},
            "ocsp_cname_distribution.web_acl_id must be the ARN of an AWS WAF (wafv2) web ACL "
            "of scope CLOUDFRONT, got 'ocsp-acl'",
        ),
    ],
)
def test_fails_when_a_distribution_option_has_the_wrong_type(
    overrides: dict[str, Any], message: str
) -> None:
    stack = _stack()
    (problem,) = _problems(
        stack,
        ocsp_custom_cname="ocsp.example.com",
        ocsp_cname_distribution=_proxy(stack, **overrides),
    )
    assert problem.startswith(message), problem


def test_fails_when_the_distribution_prop_is_not_an_ocsp_cname_distribution() -> None:
    stack = _stack()
    assert _problems(
        stack, ocsp_custom_cname="ocsp.example.com", ocsp_cname_distribution={"zone": "x"}
    ) == (
        "ocsp_cname_distribution must be an OcspCnameDistribution(hosted_zone=..., "
        "certificate=...), got {'zone': 'x'}",
    )


def test_the_docs_snippet_builds_the_distribution() -> None:
    """The ``ocsp_cname_distribution`` block of docs/ocsp-private-ca.md, as written."""
    doc = (ROOT / "docs" / "ocsp-private-ca.md").read_text()
    blocks = [
        b
        for b in re.findall(r"```python\n(.*?)```", doc, re.S)
        if "ocsp_cname_distribution=OcspCnameDistribution(" in b
    ]
    assert len(blocks) == 1, blocks
    stack = _stack()
    namespace: dict[str, Any] = {
        "acm": acm,
        "OcspPrivateCa": OcspPrivateCa,
        "OcspCnameDistribution": OcspCnameDistribution,
        "stack": stack,
        "zone": _zone(stack),
    }
    exec(compile(blocks[0], "ocsp-private-ca.md", "exec"), namespace)  # noqa: S102 - our doc
    ca = namespace["ca"]
    assert ca.ocsp_responder_url == "http://ocsp.example.com"
    assert ca.ocsp_distribution is not None
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudFront::Distribution", 1)
    template.resource_count_is("AWS::Route53::RecordSet", 2)
