"""OcspPrivateCa: assertions per option and default, failures, cfn-lint, cdk-nag, snapshots."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_acmpca as acmpca
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from hypothesis import given, settings
from hypothesis import strategies as st

from ocsp_iot_constructs import _pca_props
from ocsp_iot_constructs._validation import DNS_NAME, Problems, PropsError
from ocsp_iot_constructs.ocsp_private_ca import (
    DEFAULT_SIGNING_ALGORITHM,
    END_ENTITY_TEMPLATES,
    CaHierarchy,
    CaSubject,
    CertificateTemplate,
    KeyAlgorithm,
    OcspPrivateCa,
    SigningAlgorithm,
    UsageMode,
)
from tests.support import ROOT, cfn_lint_errors, logical_id_of, new_app

CA = "AWS::ACMPCA::CertificateAuthority"
CERT = "AWS::ACMPCA::Certificate"
ACTIVATION = "AWS::ACMPCA::CertificateAuthorityActivation"
PERMISSION = "AWS::ACMPCA::Permission"
IOT_CA = "AWS::IoT::CACertificate"
BUCKET = "AWS::S3::Bucket"
BUCKET_POLICY = "AWS::S3::BucketPolicy"

ROOT_TEMPLATE = {"Fn::Sub": "arn:${AWS::Partition}:acm-pca:::template/RootCACertificate/V1"}
SUB_TEMPLATE = {
    "Fn::Sub": "arn:${AWS::Partition}:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
}


# ------------------------------------------------------------------------------------------------
# Helpers
class Built:
    """A stack holding one ``OcspPrivateCa`` 'Ca', its template and logical ids by role."""

    def __init__(self, env: cdk.Environment | None = None, **props: Any) -> None:
        self.app = new_app()
        self.stack = cdk.Stack(self.app, "S", env=env)
        self.ca = OcspPrivateCa(self.stack, "Ca", **props)
        self.template = Template.from_stack(self.stack)
        self.json: dict[str, Any] = dict(self.template.to_json())

    def id_of(self, construct: object) -> str:
        return logical_id_of(self.stack, construct)

    def crl_bucket(self) -> s3.Bucket:
        assert self.ca.crl_bucket is not None, "built without crl=True"
        return self.ca.crl_bucket

    def crl_bucket_policy(self) -> s3.BucketPolicy:
        policy = self.crl_bucket().policy
        assert policy is not None
        return policy

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def resource(self, construct: object) -> dict[str, Any]:
        resource: dict[str, Any] = self.json["Resources"][self.id_of(construct)]
        return resource

    def props(self, construct: object) -> dict[str, Any]:
        props: dict[str, Any] = self.resource(construct)["Properties"]
        return props


def get_att(logical_id: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def direct_dependencies(resource: dict[str, Any]) -> set[str]:
    """Logical ids a resource references (Ref, GetAtt) or names in DependsOn."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Ref" in node and isinstance(node["Ref"], str):
                found.add(node["Ref"])
            if "Fn::GetAtt" in node:
                found.add(node["Fn::GetAtt"][0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource.get("Properties", {}))
    depends_on = resource.get("DependsOn", [])
    found.update([depends_on] if isinstance(depends_on, str) else depends_on)
    return {f for f in found if not f.startswith("AWS::")}


def all_dependencies(template: dict[str, Any], logical_id: str) -> set[str]:
    """Every logical id that must exist before ``logical_id`` (transitively)."""
    resources = template["Resources"]
    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        for dep in direct_dependencies(resources[todo.pop()]):
            if dep in resources and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def problems_of(**props: Any) -> tuple[str, ...]:
    """The problems OcspPrivateCa reports for ``props`` (it must raise)."""
    stack = cdk.Stack(new_app(), "S")
    with pytest.raises(PropsError) as caught:
        OcspPrivateCa(stack, "Ca", **props)
    assert isinstance(caught.value, ValueError)
    return caught.value.problems


def assert_one_problem(props: dict[str, Any], *patterns: str) -> str:
    problems = problems_of(**props)
    assert len(problems) == 1, problems
    for pattern in patterns:
        assert re.search(pattern, problems[0]), (pattern, problems[0])
    return problems[0]


@pytest.fixture(scope="module")
def default() -> Built:
    return Built()


@pytest.fixture(scope="module")
def root_only() -> Built:
    return Built(hierarchy=CaHierarchy.ROOT_ONLY)


@pytest.fixture(scope="module")
def everything() -> Built:
    return Built(
        env=cdk.Environment(account="111122223333", region="eu-west-1"),
        root_subject=CaSubject(
            common_name="Acme Devices Root CA",
            organization="Acme",
            organizational_unit="IoT",
            country="DE",
            state="Berlin",
            locality="Berlin",
        ),
        issuing_subject=CaSubject(common_name="Acme Devices Issuing CA 1", organization="Acme"),
        key_algorithm=KeyAlgorithm.EC_SECP384R1,
        root_validity=cdk.Duration.days(7300),
        issuing_validity=cdk.Duration.days(3650),
        ocsp_custom_cname="ocsp.pki.example.com",
        crl=True,
        crl_expiration=cdk.Duration.days(3),
        crl_custom_cname="crl.pki.example.com",
        register_with_iot=True,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )


# ------------------------------------------------------------------------------------------------
# Defaults
def test_default_creates_root_and_issuing_ca_with_acm_permission(default: Built) -> None:
    default.template.resource_count_is(CA, 2)
    default.template.resource_count_is(CERT, 2)
    default.template.resource_count_is(ACTIVATION, 2)
    default.template.resource_count_is(PERMISSION, 1)
    default.template.resource_count_is(IOT_CA, 0)
    default.template.resource_count_is(BUCKET, 0)
    assert len(default.json["Resources"]) == 7
    assert default.ca.settings.hierarchy is CaHierarchy.ROOT_AND_ISSUING


def test_default_root_ca(default: Built) -> None:
    assert default.props(default.ca.root_ca) == {
        "Type": "ROOT",
        "KeyAlgorithm": "EC_prime256v1",
        "SigningAlgorithm": "SHA256WITHECDSA",
        "UsageMode": "GENERAL_PURPOSE",
        "Subject": {"CommonName": "OCSP IoT Root CA"},
        # OCSP on, nothing else: no CRL by default.
        "RevocationConfiguration": {"OcspConfiguration": {"Enabled": True}},
    }
    assert "DependsOn" not in default.resource(default.ca.root_ca)


def test_default_issuing_ca_is_a_subordinate_named_after_the_root(default: Built) -> None:
    assert default.props(default.ca.subordinate_ca) == {
        "Type": "SUBORDINATE",
        "KeyAlgorithm": "EC_prime256v1",
        "SigningAlgorithm": "SHA256WITHECDSA",
        "UsageMode": "GENERAL_PURPOSE",
        "Subject": {"CommonName": "OCSP IoT Root CA Issuing CA"},
        "RevocationConfiguration": {"OcspConfiguration": {"Enabled": True}},
    }


def test_root_certificate_is_self_signed_from_the_root_csr(default: Built) -> None:
    root = default.id_of(default.ca.root_ca)
    assert default.props(default.ca.root_certificate) == {
        "CertificateAuthorityArn": get_att(root, "Arn"),
        "CertificateSigningRequest": get_att(root, "CertificateSigningRequest"),
        "SigningAlgorithm": "SHA256WITHECDSA",
        "TemplateArn": ROOT_TEMPLATE,
        "Validity": {"Type": "DAYS", "Value": 3650},
    }


def test_root_activation_installs_the_root_certificate_without_chain(default: Built) -> None:
    assert default.props(default.ca.root_activation) == {
        "CertificateAuthorityArn": get_att(default.id_of(default.ca.root_ca), "Arn"),
        "Certificate": get_att(default.id_of(default.ca.root_certificate), "Certificate"),
        "Status": "ACTIVE",
    }


def test_issuing_certificate_is_signed_by_the_active_root(default: Built) -> None:
    resource = default.resource(default.ca.subordinate_certificate)
    assert resource["Properties"] == {
        "CertificateAuthorityArn": get_att(default.id_of(default.ca.root_ca), "Arn"),
        "CertificateSigningRequest": get_att(
            default.id_of(default.ca.subordinate_ca), "CertificateSigningRequest"
        ),
        "SigningAlgorithm": "SHA256WITHECDSA",
        "TemplateArn": SUB_TEMPLATE,
        "Validity": {"Type": "DAYS", "Value": 1825},
    }
    # Nothing it references is the activation: only an explicit DependsOn orders it.
    assert resource["DependsOn"] == [default.id_of(default.ca.root_activation)]


def test_issuing_activation_installs_the_certificate_with_the_root_as_chain(
    default: Built,
) -> None:
    assert default.props(default.ca.issuing_ca_activation) == {
        "CertificateAuthorityArn": get_att(default.id_of(default.ca.subordinate_ca), "Arn"),
        "Certificate": get_att(default.id_of(default.ca.subordinate_certificate), "Certificate"),
        "CertificateChain": get_att(default.id_of(default.ca.root_certificate), "Certificate"),
        "Status": "ACTIVE",
    }


def test_dependency_order_ca_root_certificate_activation_subordinate(default: Built) -> None:
    ca = default.ca
    chain = [
        ca.root_ca,
        ca.root_certificate,
        ca.root_activation,
        ca.subordinate_certificate,
        ca.issuing_ca_activation,
        ca.acm_permission,
    ]
    ids = [default.id_of(c) for c in chain]
    for earlier, later in itertools.pairwise(ids):
        before_later = all_dependencies(default.json, later)
        assert earlier in before_later, f"{later} does not wait for {earlier}"
        assert later not in all_dependencies(default.json, earlier)
    # The subordinate CA itself (its CSR) is needed before its certificate.
    assert default.id_of(ca.subordinate_ca) in all_dependencies(default.json, ids[3])


def test_removal_policy_defaults_to_retain_on_every_resource(default: Built) -> None:
    for logical_id, resource in default.json["Resources"].items():
        assert resource.get("DeletionPolicy") == "Retain", logical_id
        assert resource.get("UpdateReplacePolicy") == "Retain", logical_id


def test_acm_permission_is_on_the_issuing_ca_for_this_account_only(default: Built) -> None:
    resource = default.resource(default.ca.acm_permission)
    assert resource["Properties"] == {
        "Actions": ["IssueCertificate", "GetCertificate", "ListPermissions"],
        "CertificateAuthorityArn": get_att(default.id_of(default.ca.subordinate_ca), "Arn"),
        "Principal": "acm.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
    }
    assert resource["DependsOn"] == [default.id_of(default.ca.issuing_ca_activation)]


def test_exposed_attributes_point_at_the_issuing_subordinate(default: Built) -> None:
    ca = default.ca
    sub = default.id_of(ca.subordinate_ca)
    sub_cert = default.id_of(ca.subordinate_certificate)
    root_cert = default.id_of(ca.root_certificate)
    assert default.resolve(ca.issuing_ca_arn) == get_att(sub, "Arn")
    assert default.resolve(ca.issuing_ca.certificate_authority_arn) == get_att(sub, "Arn")
    assert default.resolve(ca.issuing_ca_certificate_pem) == get_att(sub_cert, "Certificate")
    assert default.resolve(ca.root_certificate_pem) == get_att(root_cert, "Certificate")
    assert default.resolve(ca.certificate_chain_pem) == {
        "Fn::Join": ["\n", [get_att(sub_cert, "Certificate"), get_att(root_cert, "Certificate")]]
    }
    assert isinstance(ca.root_ca, acmpca.CfnCertificateAuthority)
    assert ca.issuing_ca_activation is not ca.root_activation
    assert ca.key_algorithm is KeyAlgorithm.EC_PRIME256V1
    assert ca.signing_algorithm is SigningAlgorithm.SHA256WITHECDSA


def test_ocsp_responder_url_is_the_regional_private_ca_responder(default: Built) -> None:
    assert default.resolve(default.ca.ocsp_responder_url) == {
        "Fn::Join": ["", ["http://ocsp.acm-pca.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
    }


def test_ocsp_responder_url_is_literal_when_the_stack_has_a_region() -> None:
    built = Built(env=cdk.Environment(region="ap-southeast-2"))
    assert built.ca.ocsp_responder_url == "http://ocsp.acm-pca.ap-southeast-2.amazonaws.com"


def test_no_warning_by_default(default: Built) -> None:
    assert Annotations.from_stack(default.stack).find_warning("*", Match.any_value()) == []


# ------------------------------------------------------------------------------------------------
# Root only
def test_root_only_creates_one_ca_that_issues(root_only: Built) -> None:
    root_only.template.resource_count_is(CA, 1)
    root_only.template.resource_count_is(CERT, 1)
    root_only.template.resource_count_is(ACTIVATION, 1)
    ca = root_only.ca
    root = root_only.id_of(ca.root_ca)
    root_cert = get_att(root_only.id_of(ca.root_certificate), "Certificate")
    assert ca.subordinate_ca is None
    assert ca.subordinate_certificate is None
    assert ca.issuing_ca_activation is ca.root_activation
    assert root_only.resolve(ca.issuing_ca_arn) == get_att(root, "Arn")
    assert root_only.resolve(ca.issuing_ca.certificate_authority_arn) == get_att(root, "Arn")
    assert root_only.resolve(ca.issuing_ca_certificate_pem) == root_cert
    assert root_only.resolve(ca.certificate_chain_pem) == root_cert
    assert root_only.props(ca.acm_permission)["CertificateAuthorityArn"] == get_att(root, "Arn")


# ------------------------------------------------------------------------------------------------
# Algorithms
@pytest.mark.parametrize(
    ("key", "signing"),
    [
        (KeyAlgorithm.EC_PRIME256V1, "SHA256WITHECDSA"),
        (KeyAlgorithm.EC_SECP384R1, "SHA384WITHECDSA"),
        (KeyAlgorithm.EC_SECP521R1, "SHA512WITHECDSA"),
        (KeyAlgorithm.RSA_2048, "SHA256WITHRSA"),
        (KeyAlgorithm.RSA_3072, "SHA256WITHRSA"),
        (KeyAlgorithm.RSA_4096, "SHA256WITHRSA"),
    ],
)
def test_signing_algorithm_is_derived_from_the_key(key: KeyAlgorithm, signing: str) -> None:
    built = Built(hierarchy=CaHierarchy.ROOT_ONLY, key_algorithm=key)
    assert DEFAULT_SIGNING_ALGORITHM[key].value == signing
    assert built.props(built.ca.root_ca)["KeyAlgorithm"] == key.value
    assert built.props(built.ca.root_ca)["SigningAlgorithm"] == signing
    assert built.props(built.ca.root_certificate)["SigningAlgorithm"] == signing


def test_explicit_signing_algorithm_is_used_by_every_ca_and_certificate() -> None:
    built = Built(
        key_algorithm=KeyAlgorithm.RSA_4096, signing_algorithm=SigningAlgorithm.SHA512WITHRSA_PSS
    )
    for construct in (built.ca.root_ca, built.ca.subordinate_ca):
        assert built.props(construct)["KeyAlgorithm"] == "RSA_4096"
        assert built.props(construct)["SigningAlgorithm"] == "SHA512WITHRSA_PSS"
    for certificate in (built.ca.root_certificate, built.ca.subordinate_certificate):
        assert built.props(certificate)["SigningAlgorithm"] == "SHA512WITHRSA_PSS"


def test_enum_values_are_accepted_as_strings() -> None:
    built = Built(
        hierarchy="ROOT_ONLY",
        key_algorithm="RSA_2048",
        signing_algorithm="SHA384WITHRSA",
        usage_mode="GENERAL_PURPOSE",
    )
    assert built.ca.key_algorithm is KeyAlgorithm.RSA_2048
    assert built.props(built.ca.root_ca)["SigningAlgorithm"] == "SHA384WITHRSA"


def test_every_signing_algorithm_has_a_family_matching_some_key() -> None:
    families = {k.family for k in KeyAlgorithm}
    assert families == {"ECDSA", "RSA"}
    assert {s.family for s in SigningAlgorithm} == families


# ------------------------------------------------------------------------------------------------
# Subjects, validity
def test_subject_fields_are_passed_through(everything: Built) -> None:
    assert everything.props(everything.ca.root_ca)["Subject"] == {
        "CommonName": "Acme Devices Root CA",
        "Organization": "Acme",
        "OrganizationalUnit": "IoT",
        "Country": "DE",
        "State": "Berlin",
        "Locality": "Berlin",
    }
    assert everything.props(everything.ca.subordinate_ca)["Subject"] == {
        "CommonName": "Acme Devices Issuing CA 1",
        "Organization": "Acme",
    }


def test_derived_issuing_subject_keeps_the_root_fields() -> None:
    built = Built(root_subject=CaSubject(common_name="Acme Root", organization="Acme"))
    assert built.props(built.ca.subordinate_ca)["Subject"] == {
        "CommonName": "Acme Root Issuing CA",
        "Organization": "Acme",
    }


def test_validity_is_given_in_days(everything: Built) -> None:
    ca = everything.ca
    assert everything.props(ca.root_certificate)["Validity"] == {"Type": "DAYS", "Value": 7300}
    assert everything.props(ca.subordinate_certificate)["Validity"] == {
        "Type": "DAYS",
        "Value": 3650,
    }


def test_validity_in_whole_days_of_hours_is_accepted() -> None:
    built = Built(hierarchy=CaHierarchy.ROOT_ONLY, root_validity=cdk.Duration.hours(48))
    assert built.props(built.ca.root_certificate)["Validity"] == {"Type": "DAYS", "Value": 2}


# ------------------------------------------------------------------------------------------------
# OCSP custom CNAME
def test_ocsp_custom_cname_on_every_ca_and_in_the_responder_url(everything: Built) -> None:
    for construct in (everything.ca.root_ca, everything.ca.subordinate_ca):
        ocsp = everything.props(construct)["RevocationConfiguration"]["OcspConfiguration"]
        assert ocsp == {"Enabled": True, "OcspCustomCname": "ocsp.pki.example.com"}
    assert everything.ca.ocsp_responder_url == "http://ocsp.pki.example.com"


def test_ocsp_custom_cname_may_be_a_token() -> None:
    app = new_app()
    stack = cdk.Stack(app, "S")
    cname = cdk.CfnParameter(stack, "Cname", type="String").value_as_string
    ca = OcspPrivateCa(stack, "Ca", hierarchy=CaHierarchy.ROOT_ONLY, ocsp_custom_cname=cname)
    assert stack.resolve(ca.ocsp_responder_url) == {"Fn::Join": ["", ["http://", {"Ref": "Cname"}]]}
    Template.from_stack(stack).has_resource_properties(
        CA,
        {
            "RevocationConfiguration": {
                "OcspConfiguration": {"Enabled": True, "OcspCustomCname": {"Ref": "Cname"}}
            }
        },
    )


# ------------------------------------------------------------------------------------------------
# CRL
@pytest.fixture(scope="module")
def with_crl() -> Built:
    return Built(crl=True)


def test_crl_bucket_is_private_encrypted_and_owner_enforced(with_crl: Built) -> None:
    with_crl.template.resource_count_is(BUCKET, 1)
    assert with_crl.props(with_crl.crl_bucket().node.default_child) == {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
    }


def test_crl_bucket_policy_enforces_tls_and_scopes_private_ca(with_crl: Built) -> None:
    bucket = with_crl.id_of(with_crl.crl_bucket().node.default_child)
    bucket_arn = get_att(bucket, "Arn")
    source = {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":acm-pca:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":certificate-authority/*",
                    ],
                ]
            }
        },
    }
    pca = {"Service": "acm-pca.amazonaws.com"}
    with_crl.template.resource_count_is(BUCKET_POLICY, 1)
    (policy,) = with_crl.template.find_resources(BUCKET_POLICY).values()
    # the whole policy (equality, not a partial match): no statement, key or condition more
    assert policy["Properties"] == (
        {
            "Bucket": {"Ref": bucket},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "s3:*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        "Effect": "Deny",
                        "Principal": {"AWS": "*"},
                        "Resource": [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/*"]]}],
                    },
                    {
                        "Action": ["s3:PutObject", "s3:PutObjectAcl"],
                        "Condition": source,
                        "Effect": "Allow",
                        "Principal": pca,
                        "Resource": {"Fn::Join": ["", [bucket_arn, "/crl/*"]]},
                        "Sid": "PrivateCaWritesCrls",
                    },
                    {
                        "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation"],
                        "Condition": source,
                        "Effect": "Allow",
                        "Principal": pca,
                        "Resource": bucket_arn,
                        "Sid": "PrivateCaReadsBucketAcl",
                    },
                ],
            },
        }
    )


def test_crl_configuration_works_with_block_public_access(with_crl: Built) -> None:
    bucket = with_crl.id_of(with_crl.crl_bucket().node.default_child)
    policy = with_crl.id_of(with_crl.crl_bucket_policy().node.default_child)
    for construct in (with_crl.ca.root_ca, with_crl.ca.subordinate_ca):
        resource = with_crl.resource(construct)
        assert resource["Properties"]["RevocationConfiguration"] == {
            "OcspConfiguration": {"Enabled": True},
            "CrlConfiguration": {
                "Enabled": True,
                "ExpirationInDays": 7,
                "S3BucketName": {"Ref": bucket},
                "S3ObjectAcl": "BUCKET_OWNER_FULL_CONTROL",
                # A private bucket: no distribution point that would always answer 403.
                "CrlDistributionPointExtensionConfiguration": {"OmitExtension": True},
            },
        }
        # Private CA checks its access to the bucket when the CA is created.
        assert resource["DependsOn"] == [policy]


def test_crl_custom_cname_and_expiration(everything: Built) -> None:
    crl = everything.props(everything.ca.root_ca)["RevocationConfiguration"]["CrlConfiguration"]
    assert crl["ExpirationInDays"] == 3
    assert crl["CustomCname"] == "crl.pki.example.com"
    assert crl["CrlDistributionPointExtensionConfiguration"] == {"OmitExtension": False}


def test_crl_bucket_follows_the_removal_policy(everything: Built, with_crl: Built) -> None:
    everything.template.has_resource(
        BUCKET, {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}
    )
    with_crl.template.has_resource(
        BUCKET, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


# ------------------------------------------------------------------------------------------------
# Options
def test_removal_policy_destroy_applies_to_every_resource(everything: Built) -> None:
    for logical_id, resource in everything.json["Resources"].items():
        if resource["Type"] == BUCKET_POLICY:
            continue  # CDK gives bucket policies no policy of their own
        assert resource.get("DeletionPolicy") == "Delete", logical_id


def test_removal_policy_retain_on_update_or_delete_is_accepted() -> None:
    built = Built(
        hierarchy=CaHierarchy.ROOT_ONLY,
        removal_policy=cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    )
    for logical_id, resource in built.json["Resources"].items():
        assert resource.get("DeletionPolicy") == "RetainExceptOnCreate", logical_id
    assert cfn_lint_errors(built.json) == []


def test_acm_permission_can_be_left_out() -> None:
    built = Built(allow_acm_renewal=False)
    built.template.resource_count_is(PERMISSION, 0)
    assert built.ca.acm_permission is None


def test_register_with_iot_registers_the_issuing_ca_in_sni_only_mode(everything: Built) -> None:
    resource = everything.resource(everything.ca.iot_ca_certificate)
    assert resource["Properties"] == {
        "CACertificatePem": get_att(
            everything.id_of(everything.ca.subordinate_certificate), "Certificate"
        ),
        "CertificateMode": "SNI_ONLY",
        "Status": "ACTIVE",
    }
    assert resource["DependsOn"] == [everything.id_of(everything.ca.issuing_ca_activation)]


def test_iot_registration_is_off_by_default(default: Built) -> None:
    assert default.ca.iot_ca_certificate is None


def _issue_condition(*names: str) -> dict[str, Any]:
    return {
        "ArnLike": {
            "acm-pca:TemplateArn": [
                {
                    "Fn::Join": [
                        "",
                        ["arn:", {"Ref": "AWS::Partition"}, f":acm-pca:*:*:template/{n}"],
                    ]
                }
                for n in names
            ]
        }
    }


def _grantee_policy(stack: cdk.Stack, role: iam.Role) -> dict[str, Any]:
    """The whole policy CDK attached to ``role`` (the grant is its only content)."""
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    properties: dict[str, Any] = dict(policy["Properties"])
    assert properties.pop("PolicyName").startswith(f"{role.node.id}DefaultPolicy")
    assert properties.pop("Roles") == [{"Ref": logical_id_of(stack, role.node.default_child)}]
    assert set(properties) == {"PolicyDocument"}
    document: dict[str, Any] = properties["PolicyDocument"]
    return document


@pytest.mark.parametrize("hierarchy", list(CaHierarchy))
def test_grant_issue_certificate_allows_end_entity_templates_only(hierarchy: CaHierarchy) -> None:
    """With ROOT_ONLY the issuing CA *is* the root: an unconditioned IssueCertificate would let
    the grantee sign a subordinate CA (or an OCSP-signing delegate) with it."""
    app = new_app()
    stack = cdk.Stack(app, "S")
    ca = OcspPrivateCa(stack, "Ca", hierarchy=hierarchy)
    role = iam.Role(stack, "Issuer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    grant = ca.grant_issue_certificate(role)
    assert grant.success
    issuer = ca.subordinate_ca if hierarchy is CaHierarchy.ROOT_AND_ISSUING else ca.root_ca
    issuing_arn = get_att(logical_id_of(stack, issuer), "Arn")
    assert _grantee_policy(stack, role) == {
        "Statement": [
            {
                "Action": "acm-pca:IssueCertificate",
                "Condition": _issue_condition(
                    "EndEntityCertificate/V1",
                    "EndEntityClientAuthCertificate/V1",
                    "EndEntityServerAuthCertificate/V1",
                ),
                "Effect": "Allow",
                "Resource": issuing_arn,
            },
            {"Action": "acm-pca:GetCertificate", "Effect": "Allow", "Resource": issuing_arn},
        ],
        "Version": "2012-10-17",
    }
    assert END_ENTITY_TEMPLATES == (
        CertificateTemplate.END_ENTITY,
        CertificateTemplate.END_ENTITY_CLIENT_AUTH,
        CertificateTemplate.END_ENTITY_SERVER_AUTH,
    )
    for template in END_ENTITY_TEMPLATES:  # no CA, OCSP-signing or passthrough template
        assert "CA" not in template
        assert "OCSP" not in template
        assert "Passthrough" not in template


def test_grant_issue_certificate_with_templates_grants_exactly_those() -> None:
    app = new_app()
    stack = cdk.Stack(app, "S", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    ca = OcspPrivateCa(stack, "Ca")
    role = iam.Role(stack, "Signer", assumed_by=iam.AccountRootPrincipal())
    ca.grant_issue_certificate_with_templates(
        role,
        [
            CertificateTemplate.OCSP_SIGNING,
            "EndEntityCertificate_APIPassthrough/V1",
            CertificateTemplate.OCSP_SIGNING,  # a repeat is listed once
        ],
    )
    issuing_arn = get_att(logical_id_of(stack, ca.subordinate_ca), "Arn")
    assert _grantee_policy(stack, role) == {
        "Statement": [
            {
                "Action": "acm-pca:IssueCertificate",
                "Condition": {
                    "ArnLike": {
                        "acm-pca:TemplateArn": [
                            "arn:aws:acm-pca:*:*:template/OCSPSigningCertificate/V1",
                            "arn:aws:acm-pca:*:*:template/EndEntityCertificate_APIPassthrough/V1",
                        ]
                    }
                },
                "Effect": "Allow",
                "Resource": issuing_arn,
            },
            {"Action": "acm-pca:GetCertificate", "Effect": "Allow", "Resource": issuing_arn},
        ],
        "Version": "2012-10-17",
    }


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        ([], r"^templates must be a non-empty list of Private CA template names .*, got \[\]$"),
        ("EndEntityCertificate/V1", r"^templates must be a non-empty list .*got 'EndEntity"),
        (
            ["arn:aws:acm-pca:::template/EndEntityCertificate/V1"],
            r"^templates\[0\] must be a template name '<Name>/V<n>' .*\(not an ARN\), "
            r"got 'arn:aws:acm-pca:::template/EndEntityCertificate/V1'$",
        ),
        ([CertificateTemplate.END_ENTITY, 7], r"^templates\[1\] must be a template name .*got 7$"),
        (["EndEntityCertificate"], r"^templates\[0\] must be a template name"),
    ],
)
def test_fails_when_granted_templates_are_not_template_names(templates: Any, message: str) -> None:
    stack = cdk.Stack(new_app(), "S")
    ca = OcspPrivateCa(stack, "Ca")
    role = iam.Role(stack, "Signer", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match=message):
        ca.grant_issue_certificate_with_templates(role, templates)
    # nothing was granted
    assert Template.from_stack(stack).find_resources("AWS::IAM::Policy") == {}


def test_short_lived_usage_mode_applies_to_the_issuing_ca_and_warns() -> None:
    built = Built(usage_mode=UsageMode.SHORT_LIVED_CERTIFICATE)
    assert built.props(built.ca.subordinate_ca)["UsageMode"] == "SHORT_LIVED_CERTIFICATE"
    # A short-lived CA must be the last in the hierarchy: a short-lived root could not sign the
    # subordinate's certificate for longer than 7 days.
    assert built.props(built.ca.root_ca)["UsageMode"] == "GENERAL_PURPOSE"
    Annotations.from_stack(built.stack).has_warning(
        "/S/Ca",
        Match.string_like_regexp(
            r"SHORT_LIVED_CERTIFICATE.*at most 7 days.*"
            r"\[ack: Annotation::ocsp-iot:shortLivedUsageMode\]"
        ),
    )


def test_short_lived_usage_mode_applies_to_a_lone_root() -> None:
    built = Built(hierarchy=CaHierarchy.ROOT_ONLY, usage_mode=UsageMode.SHORT_LIVED_CERTIFICATE)
    assert built.props(built.ca.root_ca)["UsageMode"] == "SHORT_LIVED_CERTIFICATE"
    Annotations.from_stack(built.stack).has_warning(
        "/S/Ca", Match.string_like_regexp("ocsp-iot:shortLivedUsageMode")
    )


# ------------------------------------------------------------------------------------------------
# Failures: every problem is reported, at once, with what was given and what is allowed
@pytest.mark.parametrize("value", ["RSA_1024", "ML_DSA_44", "SM2", 256])
def test_fails_when_key_algorithm_is_unknown(value: object) -> None:
    assert_one_problem(
        {"key_algorithm": value},
        r"^key_algorithm must be one of KeyAlgorithm\.EC_PRIME256V1, .*KeyAlgorithm\.RSA_4096",
        re.escape(f"got {value!r}"),
    )


def test_fails_when_signing_algorithm_is_unknown() -> None:
    assert_one_problem(
        {"signing_algorithm": "SHA1WITHRSA"},
        r"^signing_algorithm must be one of SigningAlgorithm\.SHA256WITHECDSA",
        "got 'SHA1WITHRSA'",
    )


@pytest.mark.parametrize(
    ("key", "signing", "fix"),
    [
        (KeyAlgorithm.EC_PRIME256V1, SigningAlgorithm.SHA256WITHRSA, "SHA256WITHECDSA"),
        (KeyAlgorithm.RSA_2048, SigningAlgorithm.SHA384WITHECDSA, "SHA256WITHRSA"),
    ],
)
def test_fails_when_key_and_signing_families_differ(
    key: KeyAlgorithm, signing: SigningAlgorithm, fix: str
) -> None:
    assert_one_problem(
        {"key_algorithm": key, "signing_algorithm": signing},
        rf"^signing_algorithm must be an {key.family} algorithm to match key_algorithm "
        rf"{key.value}, got '{signing.value}'; use {fix} or omit signing_algorithm$",
    )


def test_fails_when_ocsp_cname_has_a_scheme() -> None:
    assert_one_problem(
        {"ocsp_custom_cname": "http://ocsp.example.com/path"},
        r"^ocsp_custom_cname must be a host name without a scheme, "
        r"got 'http://ocsp.example.com/path'; use 'ocsp.example.com'$",
    )


@pytest.mark.parametrize(
    "cname",
    [
        "ocsp",
        "ocsp.example.com.",
        "ocsp.example.com:8080",
        "ocsp.example.com/ocsp",
        "-ocsp.example.com",
        "ocsp_1.example.com",
        "",
        "a." * 127 + "com",
        "x" * 64 + ".example.com",
    ],
)
def test_fails_when_ocsp_cname_is_not_a_host_name(cname: str) -> None:
    assert_one_problem(
        {"ocsp_custom_cname": cname},
        r"^ocsp_custom_cname must be a lower-case fully qualified domain name of at most 253 "
        r"characters \(labels of a-z, 0-9 and '-'.*\) such as 'ocsp.example.com'",
        re.escape(f"got {cname!r}") if len(cname) < 100 else rf"\({len(cname)} characters\)$",
    )


def test_fails_when_crl_cname_is_bad() -> None:
    assert_one_problem(
        {"crl": True, "crl_custom_cname": "https://crl.example.com"},
        r"^crl_custom_cname must be a host name without a scheme.*use 'crl.example.com'",
    )


@pytest.mark.parametrize(
    ("keyword", "value", "shown"),
    [
        ("root_validity", cdk.Duration.days(0), "0 days"),
        ("root_validity", cdk.Duration.days(36501), "36501 days"),
        ("root_validity", cdk.Duration.hours(36), "1 day 12 hours"),
        ("issuing_validity", cdk.Duration.minutes(5), "5 minutes"),
    ],
)
def test_fails_when_validity_is_out_of_range(keyword: str, value: cdk.Duration, shown: str) -> None:
    assert_one_problem(
        {keyword: value},
        rf"^{keyword} must be a whole number of days between 1 and 36500, got '{shown}'$",
    )


def test_fails_when_validity_is_not_a_duration() -> None:
    assert_one_problem(
        {"root_validity": 3650},
        r"^root_validity must be a cdk.Duration, got 3650; e.g. cdk.Duration.days\(3650\)$",
    )


@pytest.mark.parametrize("issuing_days", [3650, 4000])
def test_fails_when_issuing_ca_would_outlive_the_root(issuing_days: int) -> None:
    assert_one_problem(
        {"issuing_validity": cdk.Duration.days(issuing_days)},
        r"^issuing_validity must be shorter than root_validity \(3650 days\)",
        f"got '{issuing_days} days'$",
    )


def test_fails_when_subordinate_settings_are_given_without_a_subordinate() -> None:
    problems = problems_of(
        hierarchy=CaHierarchy.ROOT_ONLY,
        issuing_subject=CaSubject(common_name="Issuing"),
        issuing_validity=cdk.Duration.days(100),
    )
    assert len(problems) == 2
    assert problems[0].startswith(
        "issuing_subject must be omitted when hierarchy is CaHierarchy.ROOT_ONLY"
    )
    assert "got CaSubject(common_name='Issuing'" in problems[0]
    assert problems[1] == (
        "issuing_validity must be omitted when hierarchy is CaHierarchy.ROOT_ONLY (there is no "
        "subordinate issuing CA), got '100 days'; use hierarchy=CaHierarchy.ROOT_AND_ISSUING or "
        "drop it"
    )


def test_fails_when_crl_settings_are_given_without_crl() -> None:
    problems = problems_of(crl_expiration=cdk.Duration.days(3), crl_custom_cname="crl.example.com")
    assert problems == (
        "crl_expiration must be omitted unless crl=True, got '3 days'; set crl=True to publish "
        "a CRL, or drop it",
        "crl_custom_cname must be omitted unless crl=True, got 'crl.example.com'; set crl=True "
        "to publish a CRL, or drop it",
    )


@pytest.mark.parametrize("days", [0, 5001])
def test_fails_when_crl_expiration_is_out_of_range(days: int) -> None:
    assert_one_problem(
        {"crl": True, "crl_expiration": cdk.Duration.days(days)},
        rf"^crl_expiration must be a whole number of days between 1 and 5000, got '{days} days'$",
    )


@pytest.mark.parametrize(
    ("subject", "field", "allowed"),
    [
        (CaSubject(common_name=""), "common_name", "a non-blank string of 1-64 characters"),
        (CaSubject(common_name="x" * 65), "common_name", "a non-blank string of 1-64"),
        (CaSubject(common_name="CA", organization="  "), "organization", "non-blank"),
        (CaSubject(common_name="CA", locality="L" * 129), "locality", "1-128 characters"),
        (CaSubject(common_name="CA", country="Germany"), "country", "two-letter ISO 3166"),
        (CaSubject(common_name="CA", country="D1"), "country", "two-letter ISO 3166"),
    ],
)
def test_fails_when_a_subject_field_is_bad(subject: CaSubject, field: str, allowed: str) -> None:
    assert_one_problem(
        {"root_subject": subject, "hierarchy": CaHierarchy.ROOT_ONLY},
        rf"^root_subject\.{field} must be .*{allowed}",
    )


def test_fails_when_subject_is_not_a_ca_subject() -> None:
    problems = problems_of(root_subject={"common_name": "CA"})
    # Nothing is derived from a bad root subject, so the issuing subject raises no second error.
    assert problems == (
        "root_subject must be a CaSubject, got {'common_name': 'CA'}; "
        "e.g. CaSubject(common_name='Acme Root CA')",
    )


def test_fails_when_issuing_subject_equals_the_root_subject() -> None:
    subject = CaSubject(common_name="Same CA")
    assert_one_problem(
        {"root_subject": subject, "issuing_subject": subject},
        r"^issuing_subject must be different from root_subject",
        "change at least its common_name$",
    )


def test_fails_when_the_derived_issuing_name_is_too_long() -> None:
    assert_one_problem(
        {"root_subject": CaSubject(common_name="R" * 60)},
        r"^issuing_subject \(derived from root_subject\)\.common_name must be a non-blank "
        r"string of 1-64 characters, got 'R{60} Issuing CA'; pass issuing_subject explicitly$",
    )


def test_fails_when_removal_policy_is_snapshot() -> None:
    assert_one_problem(
        {"removal_policy": cdk.RemovalPolicy.SNAPSHOT},
        r"^removal_policy must be one of RemovalPolicy\.RETAIN, RemovalPolicy\.DESTROY, "
        r"RemovalPolicy\.RETAIN_ON_UPDATE_OR_DELETE, got 'RemovalPolicy\.SNAPSHOT'$",
    )


def test_fails_when_usage_mode_or_hierarchy_is_unknown() -> None:
    problems = problems_of(usage_mode="SHORT", hierarchy="FLAT")
    assert len(problems) == 2
    assert problems[0].startswith("hierarchy must be one of CaHierarchy.ROOT_AND_ISSUING, ")
    assert problems[1].startswith("usage_mode must be one of UsageMode.GENERAL_PURPOSE, ")


def test_fails_with_every_problem_at_once() -> None:
    stack = cdk.Stack(new_app(), "S")
    with pytest.raises(PropsError) as caught:
        OcspPrivateCa(
            stack,
            "Pki",
            key_algorithm=KeyAlgorithm.EC_PRIME256V1,
            signing_algorithm=SigningAlgorithm.SHA256WITHRSA,
            ocsp_custom_cname="https://ocsp.example.com",
            root_validity=cdk.Duration.days(0),
            crl=True,
            crl_expiration=cdk.Duration.days(9000),
            root_subject=CaSubject(common_name="CA", country="Deutschland"),
            removal_policy=cdk.RemovalPolicy.SNAPSHOT,
        )
    message = str(caught.value)
    keywords = [p.split(" ", 1)[0] for p in caught.value.problems]
    # issuing_validity (default 1825 days) is not compared with an invalid root_validity.
    assert keywords == [
        "signing_algorithm",
        "root_subject.country",
        "root_validity",
        "ocsp_custom_cname",
        "crl_expiration",
        "removal_policy",
    ]
    assert message.startswith("OcspPrivateCa 'Pki' has 6 invalid props:\n  - ")
    # Nothing was created for the rejected construct.
    assert stack.node.find_child("Pki").node.children == []


# The CFN schema's pattern and length for OcspCustomCname / CustomCname.
CFN_CNAME = re.compile(r"[-a-zA-Z0-9;/?:@&=+$,%_.!~*()']{0,253}")


@settings(max_examples=200)
@given(st.one_of(st.text(max_size=300), st.from_regex(DNS_NAME, fullmatch=True)))
def test_host_names_either_pass_the_cfn_schema_or_are_reported(value: str) -> None:
    problems = Problems("OcspPrivateCa", "Ca")
    accepted = _pca_props._host(problems, "ocsp_custom_cname", value)
    if accepted is None:
        assert len(problems._problems) == 1
        assert problems._problems[0].startswith("ocsp_custom_cname must be ")
    else:
        assert accepted == value
        assert not problems
        assert CFN_CNAME.fullmatch(value)
        assert "://" not in value
        assert not value.endswith(".")


# ------------------------------------------------------------------------------------------------
# cfn-lint, cdk-nag, snapshots
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "root_only_rsa": {
        "hierarchy": CaHierarchy.ROOT_ONLY,
        "key_algorithm": KeyAlgorithm.RSA_2048,
        "allow_acm_renewal": False,
    },
    "everything": {
        "root_subject": CaSubject(common_name="Acme Root CA", organization="Acme", country="DE"),
        "key_algorithm": KeyAlgorithm.EC_SECP384R1,
        "ocsp_custom_cname": "ocsp.pki.example.com",
        "crl": True,
        "crl_custom_cname": "crl.pki.example.com",
        "register_with_iot": True,
        "removal_policy": cdk.RemovalPolicy.DESTROY,
    },
}


def synth_with_nag(props: dict[str, Any]) -> dict[str, Any]:
    """Synthesize with cdk-nag's AwsSolutions pack; an unacknowledged finding raises."""
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    stack = cdk.Stack(app, "S")
    OcspPrivateCa(stack, "Ca", **props)
    template: dict[str, Any] = app.synth().get_stack_by_name("S").template
    return template


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_cfn_lint_and_cdk_nag_are_clean(name: str) -> None:
    template = synth_with_nag(CONFIGURATIONS[name])
    assert cfn_lint_errors(template) == []


def test_cdk_nag_gate_is_live() -> None:
    """The same gate rejects a bucket without the acknowledgment the construct gives its own."""
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    stack = cdk.Stack(app, "S")
    s3.Bucket(stack, "Plain", enforce_ssl=True)
    with pytest.raises(Exception, match="AwsSolutions-S1"):
        app.synth()


def test_the_access_log_acknowledgment_sits_on_the_crl_bucket_only(with_crl: Built) -> None:
    acknowledged = [
        c.node.path
        for c in with_crl.stack.node.find_all()
        if any("AwsSolutions-S1" in str(m.data) for m in c.node.metadata)
    ]
    assert acknowledged == ["S/Ca/CrlBucket"]


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_snapshot(name: str, snapshot_json: Any, mask_hashes: Callable[[Any], Any]) -> None:
    built = Built(**CONFIGURATIONS[name])
    assert mask_hashes(built.json) == snapshot_json


# ------------------------------------------------------------------------------------------------
# Documentation
DOC = ROOT / "docs" / "ocsp-private-ca.md"


def test_doc_example_synthesizes(tmp_path: Path) -> None:
    """The runnable example in docs/ocsp-private-ca.md builds the resources the doc lists."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert blocks, "docs/ocsp-private-ca.md has no python example"
    namespace: dict[str, Any] = {"__name__": "doc_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    app: cdk.App = namespace["app"]
    template = app.synth().get_stack_by_name(namespace["stack"].stack_name).template
    types = sorted({r["Type"] for r in template["Resources"].values()})
    assert "AWS::ACMPCA::CertificateAuthority" in types
    assert "AWS::CertificateManager::Certificate" in types
    assert cfn_lint_errors(template) == []
