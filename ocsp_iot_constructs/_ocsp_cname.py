"""The forwarding proxy an OCSP custom CNAME needs, built the way AWS documents it: a CloudFront
distribution whose alternate domain name is the CNAME and whose origin is the regional AWS
Private CA OCSP responder, with Route 53 alias records pointing the CNAME at it.

Why each setting (see ``docs/ocsp-private-ca.md``, "A custom OCSP CNAME"):

* **Plain HTTP to viewers and to the origin.** Private CA writes ``http://<cname>`` into the AIA
  extension, and OCSP clients speak plain HTTP (RFC 6960 A.1; answers are signed, so TLS adds no
  integrity). Viewers may also use HTTPS (TLS 1.2 or later, with the certificate given here);
  the origin is reached over HTTP, as the certificates' own URL would be.
* **The responder's own Host header.** The origin is addressed by its regional name and
  CloudFront sends that name as ``Host``; the viewer's ``Host`` (the CNAME) is never forwarded
  (managed origin request policy ``AllViewerExceptHostHeader``), while ``Content-Type`` and the
  POST body of an ``application/ocsp-request`` are.
* **No caching** (managed cache policy ``CachingDisabled``, as AWS's pattern does), every method
  allowed (OCSP uses GET and POST).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ._validation import Problems, acknowledge, described, implements, is_token

__all__ = ["OcspCnameDistribution"]

#: CloudFront only takes ACM certificates of this Region.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"


def regional_responder_host(region: str) -> str:
    """The AWS Private CA OCSP responder of ``region`` (IPv4 only)."""
    return f"ocsp.acm-pca.{region}.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class OcspCnameDistribution:
    """Serve an ``OcspPrivateCa``'s ``ocsp_custom_cname`` with a CloudFront distribution in front
    of the regional AWS Private CA OCSP responder, and point the name at it with Route 53 alias
    records (A and AAAA). Pass it as ``OcspPrivateCa(..., ocsp_custom_cname="ocsp.example.com",
    ocsp_cname_distribution=OcspCnameDistribution(hosted_zone=zone, certificate=cert))``.

    :param hosted_zone: the public Route 53 zone that ``ocsp_custom_cname`` is in (below its
        apex).
    :param certificate: an ACM certificate **in us-east-1** that covers ``ocsp_custom_cname``.
        CloudFront requires one for any alternate domain name, even though OCSP clients use
        plain HTTP; it also serves the viewers that use HTTPS. From a stack in another Region,
        import it by ARN (``acm.Certificate.from_certificate_arn``) or create it in a us-east-1
        stack with ``cross_region_references=True``.
    :param log_bucket: an S3 bucket (with ACLs enabled, as CloudFront standard logs need) for the
        distribution's access logs, under ``ocsp/``. Default: no access logs (the cdk-nag finding
        ``AwsSolutions-CFR3`` is acknowledged with the reason).
    :param web_acl_id: the ARN of an AWS WAF web ACL (scope ``CLOUDFRONT``) to attach. Default:
        none (``AwsSolutions-CFR2`` is acknowledged with the reason).
    """

    hosted_zone: route53.IHostedZone
    certificate: acm.ICertificate
    log_bucket: s3.IBucket | None = None
    web_acl_id: str | None = None


def check(problems: Problems, keyword: str, value: object, cname: str | None) -> None:
    """Record every problem of the ``ocsp_cname_distribution`` prop ``value`` for ``cname``."""
    if not isinstance(value, OcspCnameDistribution):
        problems.add(
            keyword,
            "an OcspCnameDistribution(hosted_zone=..., certificate=...)",
            value,
        )
        return
    if cname is None and not problems.reported("ocsp_custom_cname"):
        problems.add(
            keyword,
            "omitted unless ocsp_custom_cname is set (the distribution serves that name)",
            described("an OcspCnameDistribution"),
            "set ocsp_custom_cname too, or drop it",
        )
    zone = value.hosted_zone
    if not implements(zone, route53.IHostedZone):
        problems.add(f"{keyword}.hosted_zone", "a route53.IHostedZone", zone)
    elif cname is not None and not is_token(zone.zone_name + cname):
        apex = zone.zone_name.rstrip(".")
        problems.require(
            cname.endswith(f".{apex}"),
            "ocsp_custom_cname",
            f"a name below {keyword}.hosted_zone {apex!r} (the alias records are created "
            "there, below its apex)",
            cname,
        )
    certificate = value.certificate
    if not implements(certificate, acm.ICertificate):
        problems.add(f"{keyword}.certificate", "an acm.ICertificate", certificate)
    else:
        region = _certificate_region(certificate)
        if region is not None:
            problems.require(
                region == CLOUDFRONT_CERTIFICATE_REGION,
                f"{keyword}.certificate",
                "an ACM certificate in us-east-1 (CloudFront takes no other Region's)",
                described(f"a certificate in {region}"),
                "import a us-east-1 certificate with acm.Certificate.from_certificate_arn",
            )
    if value.log_bucket is not None and not implements(value.log_bucket, s3.IBucket):
        problems.add(f"{keyword}.log_bucket", "an s3.IBucket", value.log_bucket)
    acl = value.web_acl_id
    if acl is not None and not (
        isinstance(acl, str)
        and (is_token(acl) or (acl.startswith("arn:") and ":wafv2:" in acl and "/webacl/" in acl))
    ):
        problems.add(
            f"{keyword}.web_acl_id",
            "the ARN of an AWS WAF (wafv2) web ACL of scope CLOUDFRONT",
            acl,
        )


def _certificate_region(certificate: acm.ICertificate) -> str | None:
    """The Region of ``certificate`` when it is known at synth: that of a literal ARN, else that
    of the stack that holds it."""
    arn = certificate.certificate_arn
    if not is_token(arn):
        # arn:<partition>:acm:<region>:<account>:certificate/<id>
        parts = arn.split(":")
        return parts[3] or None if len(parts) >= 6 and parts[0] == "arn" else None
    region = certificate.env.region
    return None if is_token(region) else region


@dataclass(frozen=True)
class Built:
    """What :func:`create` made."""

    distribution: cloudfront.Distribution
    a_record: route53.ARecord
    aaaa_record: route53.AaaaRecord


def create(
    scope: Construct,
    *,
    cname: str,
    options: OcspCnameDistribution,
    removal_policy: cdk.RemovalPolicy,
) -> Built:
    """The distribution (``OcspDistribution``) and its alias records (``OcspAliasRecord``,
    ``OcspAliasAaaaRecord``) in ``scope``; ``removal_policy`` applies to all three, because the
    certificates that carry the CNAME outlive the stack when the CAs are retained."""
    region_host = regional_responder_host(cdk.Stack.of(scope).region)
    distribution = cloudfront.Distribution(
        scope,
        "OcspDistribution",
        comment=f"OCSP responder {cname}: forwards to the AWS Private CA responder",
        domain_names=[cname],
        certificate=options.certificate,
        minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
        default_behavior=cloudfront.BehaviorOptions(
            origin=origins.HttpOrigin(
                region_host, protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY
            ),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.ALLOW_ALL,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            compress=False,
        ),
        enable_logging=options.log_bucket is not None,
        log_bucket=options.log_bucket,
        log_file_prefix="ocsp/" if options.log_bucket is not None else None,
        web_acl_id=options.web_acl_id,
    )
    _acknowledge_findings(distribution, options)
    target = route53.RecordTarget.from_alias(targets.CloudFrontTarget(distribution))
    a_record = route53.ARecord(
        scope,
        "OcspAliasRecord",
        zone=options.hosted_zone,
        record_name=f"{cname}.",
        target=target,
        comment="OCSP clients reach the Private CA responder through this name",
    )
    aaaa_record = route53.AaaaRecord(
        scope,
        "OcspAliasAaaaRecord",
        zone=options.hosted_zone,
        record_name=f"{cname}.",
        target=target,
        comment="OCSP clients reach the Private CA responder through this name",
    )
    for construct in (distribution, a_record, aaaa_record):
        construct.apply_removal_policy(removal_policy)
    return Built(distribution, a_record, aaaa_record)


def _acknowledge_findings(
    distribution: cloudfront.Distribution, options: OcspCnameDistribution
) -> None:
    """The cdk-nag findings that cannot apply to a plain-HTTP proxy of a public AWS responder,
    each with its reason, on the distribution only."""
    resource = distribution.node.default_child
    if resource is None:  # pragma: no cover - a Distribution always has its L1
        return
    acknowledge(
        resource,
        "AwsSolutions::AwsSolutions-CFR1",
        "OCSP clients (devices, IoT Core, TLS peers) check certificates from wherever they "
        "are; a geo restriction would make revocation checks fail there",
    )
    acknowledge(
        resource,
        "AwsSolutions::AwsSolutions-CFR5",
        "The origin is reached over plain HTTP on purpose: AWS Private CA publishes its "
        "responder as an http:// URL (the one it writes into certificates without a CNAME), "
        "OCSP answers are signed by the CA and verified by the client, so TLS would add no "
        "integrity, and AWS does not document HTTPS for that endpoint",
    )
    if options.web_acl_id is None:
        acknowledge(
            resource,
            "AwsSolutions::AwsSolutions-CFR2",
            "The origin is AWS Private CA's public OCSP responder, reachable directly at its "
            "regional name too; it only answers signed status for the CertID asked about, so a "
            "web ACL protects nothing the responder exposes (pass web_acl_id to attach one)",
        )
    if options.log_bucket is None:
        acknowledge(
            resource,
            "AwsSolutions::AwsSolutions-CFR3",
            "OCSP requests carry only a certificate serial and issuer hashes and the answers "
            "are signed by the CA; Private CA bills and counts the requests it answers (pass "
            "log_bucket to keep CloudFront access logs)",
        )
