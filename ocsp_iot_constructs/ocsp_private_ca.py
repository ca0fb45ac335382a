"""``OcspPrivateCa``: an AWS Private CA hierarchy with OCSP, ready to issue device certificates.

See ``docs/ocsp-private-ca.md`` for a walk-through, the resources created and their monthly cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_acmpca as acmpca
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from constructs import Construct

from . import _ocsp_cname, _pca_props
from ._ocsp_cname import OcspCnameDistribution
from ._pca_types import (
    DEFAULT_SIGNING_ALGORITHM,
    CaHierarchy,
    CaSubject,
    KeyAlgorithm,
    SigningAlgorithm,
    UsageMode,
)
from ._validation import acknowledge, readable, warn

__all__ = [
    "DEFAULT_SIGNING_ALGORITHM",
    "END_ENTITY_TEMPLATES",
    "CaHierarchy",
    "CaSubject",
    "CertificateTemplate",
    "KeyAlgorithm",
    "OcspCnameDistribution",
    "OcspPrivateCa",
    "SigningAlgorithm",
    "UsageMode",
]

_TEMPLATE_ROOT = "arn:${AWS::Partition}:acm-pca:::template/RootCACertificate/V1"
# PathLen0: the issuing CA signs end-entity certificates only, never another CA.
_TEMPLATE_SUBORDINATE = (
    "arn:${AWS::Partition}:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
)
_ISSUE = "acm-pca:IssueCertificate"
_GET = "acm-pca:GetCertificate"
#: A Private CA template name: ``EndEntityCertificate/V1``, ``..._APIPassthrough/V1``.
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_]{1,100}/V[1-9][0-9]{0,2}")


class CertificateTemplate:
    """Names of AWS Private CA certificate templates (``IssueCertificate``'s ``TemplateArn`` is
    ``arn:<partition>:acm-pca:::template/<name>``). An open set: any other template name works
    too, e.g. ``"EndEntityCertificate_APIPassthrough/V1"``."""

    #: The default when ``IssueCertificate`` names no template: serverAuth and clientAuth.
    END_ENTITY = "EndEntityCertificate/V1"
    #: clientAuth only: the usual template for device certificates.
    END_ENTITY_CLIENT_AUTH = "EndEntityClientAuthCertificate/V1"
    #: serverAuth only.
    END_ENTITY_SERVER_AUTH = "EndEntityServerAuthCertificate/V1"
    #: Code signing.
    CODE_SIGNING = "CodeSigningCertificate/V1"
    #: OCSP signing: a *delegated OCSP responder* of the CA, which can vouch for any of its
    #: certificates (the pre-auth Lambda accepts such responders).
    OCSP_SIGNING = "OCSPSigningCertificate/V1"
    #: A subordinate CA certificate that may sign end-entity certificates only.
    SUBORDINATE_CA_PATH_LEN0 = "SubordinateCACertificate_PathLen0/V1"


#: What :meth:`OcspPrivateCa.grant_issue_certificate` allows: the base end-entity templates.
#: Left out on purpose: CA templates (a grantee could mint a CA), OCSP signing (a delegated
#: responder could answer "good" for a revoked device), code signing, and every passthrough
#: template (it lets the caller add extensions; the "blank" ones even allow the OCSPSigning
#: EKU).
END_ENTITY_TEMPLATES: tuple[str, ...] = (
    CertificateTemplate.END_ENTITY,
    CertificateTemplate.END_ENTITY_CLIENT_AUTH,
    CertificateTemplate.END_ENTITY_SERVER_AUTH,
)
_PCA_SERVICE_PRINCIPAL = "acm-pca.amazonaws.com"
_CdpConfig = acmpca.CfnCertificateAuthority.CrlDistributionPointExtensionConfigurationProperty


class OcspPrivateCa(Construct):
    """An AWS Private CA hierarchy with OCSP, whose issuing CA is active when the stack is done.

    Creates a ROOT CA, issues its self-signed certificate (``RootCACertificate/V1``) and installs
    it; by default also a SUBORDINATE issuing CA signed by the root (``PathLen0``) and installed
    with its chain. OCSP is always enabled on every CA. Optionally: a CRL in a private, encrypted,
    TLS-only S3 bucket; an ``AWS::ACMPCA::Permission`` so that ACM renews private certificates;
    the issuing CA registered with AWS IoT Core (``SNI_ONLY``).

    Each CA costs $400 per month in general-purpose mode (plus per-certificate and OCSP fees).

    Example::

        ca = OcspPrivateCa(stack, "Ca", root_subject=CaSubject(common_name="Acme Root CA"))
        cert = acm.PrivateCertificate(stack, "Server", domain_name="iot.example.com",
                                      certificate_authority=ca.issuing_ca)
        cert.node.add_dependency(ca.issuing_ca_activation)
    """

    def __init__(  # noqa: PLR0915 - each public attribute is declared here with its docstring
        self,
        scope: Construct,
        id: str,
        *,
        hierarchy: CaHierarchy = CaHierarchy.ROOT_AND_ISSUING,
        root_subject: CaSubject | None = None,
        issuing_subject: CaSubject | None = None,
        key_algorithm: KeyAlgorithm = KeyAlgorithm.EC_PRIME256V1,
        signing_algorithm: SigningAlgorithm | None = None,
        root_validity: cdk.Duration | None = None,
        issuing_validity: cdk.Duration | None = None,
        usage_mode: UsageMode = UsageMode.GENERAL_PURPOSE,
        ocsp_custom_cname: str | None = None,
        ocsp_cname_distribution: OcspCnameDistribution | None = None,
        crl: bool = False,
        crl_expiration: cdk.Duration | None = None,
        crl_custom_cname: str | None = None,
        allow_acm_renewal: bool = True,
        register_with_iot: bool = False,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        :param scope: parent construct.
        :param id: construct id.
        :param hierarchy: which CAs to create. Default: ``CaHierarchy.ROOT_AND_ISSUING`` (root
            signs a subordinate issuing CA; two CAs billed). ``ROOT_ONLY`` halves the cost.
        :param root_subject: subject of the root CA. Default: ``CN=OCSP IoT Root CA``.
        :param issuing_subject: subject of the issuing (subordinate) CA; must differ from the
            root's. Default: the root subject with ``" Issuing CA"`` appended to its common name.
            Only with ``ROOT_AND_ISSUING``.
        :param key_algorithm: key pair of every CA. Default: ``KeyAlgorithm.EC_PRIME256V1``.
        :param signing_algorithm: signature algorithm of every CA; its family (RSA or ECDSA) must
            match the key. Default: derived from the key (``SHA256WITHECDSA`` for P-256,
            ``SHA384WITHECDSA`` for P-384, ``SHA512WITHECDSA`` for P-521, ``SHA256WITHRSA`` for
            RSA).
        :param root_validity: lifetime of the root CA certificate, a whole number of days between 1
            and 36500. Default: 3650 days (10 years).
        :param issuing_validity: lifetime of the issuing CA certificate, whole days, shorter than
            ``root_validity``. Default: 1825 days (5 years). Only with ``ROOT_AND_ISSUING``.
        :param usage_mode: Private CA usage mode of the issuing CA. Default:
            ``UsageMode.GENERAL_PURPOSE``. A root with a subordinate is always general-purpose
            (a short-lived CA must be the last in the hierarchy, and could not sign a subordinate
            for longer than 7 days).
            ``SHORT_LIVED_CERTIFICATE`` adds the warning ``ocsp-iot:shortLivedUsageMode``.
        :param ocsp_custom_cname: host name (no scheme, no path; lower case) that replaces the
            AWS responder in the OCSP URL of issued certificates. It must be served by DNS and a
            proxy that forwards to ``regional_ocsp_responder_url`` with that host's own ``Host``
            header: pass ``ocsp_cname_distribution`` to have both built, else the warning
            ``ocsp-iot:ocspCnameWithoutProxy`` reminds you. Default: none, certificates carry the
            regional Private CA responder.
        :param ocsp_cname_distribution: build the proxy for ``ocsp_custom_cname``: a CloudFront
            distribution in front of the regional Private CA responder and Route 53 alias
            records, as AWS documents it (:class:`OcspCnameDistribution`: the hosted zone and a
            us-east-1 ACM certificate for the name). Default: none.
        :param crl: also publish a CRL into an S3 bucket this construct creates. Default: ``False``.
        :param crl_expiration: validity of each CRL, whole days between 1 and 5000. Default: 7 days.
            Only with ``crl=True``.
        :param crl_custom_cname: host name that serves the CRL bucket (e.g. a CloudFront
            distribution you add); certificates then carry a CRL distribution point on it. Default:
            none, and certificates carry no CRL distribution point, because the bucket is private.
            Only with ``crl=True``.
        :param allow_acm_renewal: add an ``AWS::ACMPCA::Permission`` letting ACM (this account only)
            issue and renew private certificates from the issuing CA. Default: ``True`` (as the
            console does); without it ACM private certificates silently stop renewing.
        :param register_with_iot: register the issuing CA certificate with AWS IoT Core
            (``AWS::IoT::CACertificate``, ``SNI_ONLY`` mode, no verification certificate), so that
            device certificates can be registered against it. Default: ``False``.
        :param removal_policy: applied to every CA, certificate, activation, permission, IoT
            registration and the CRL bucket. Default: ``RemovalPolicy.RETAIN``: a deleted CA cannot
            be recreated with the same key, and a CA must be disabled before it can be deleted.
        """
        super().__init__(scope, id)
        settings = _pca_props.resolve(
            id,
            hierarchy=hierarchy,
            root_subject=root_subject,
            issuing_subject=issuing_subject,
            key_algorithm=key_algorithm,
            signing_algorithm=signing_algorithm,
            root_validity=root_validity,
            issuing_validity=issuing_validity,
            usage_mode=usage_mode,
            ocsp_custom_cname=ocsp_custom_cname,
            ocsp_cname_distribution=ocsp_cname_distribution,
            crl=crl,
            crl_expiration=crl_expiration,
            crl_custom_cname=crl_custom_cname,
            allow_acm_renewal=allow_acm_renewal,
            register_with_iot=register_with_iot,
            removal_policy=removal_policy,
        )
        if settings.usage_mode is UsageMode.SHORT_LIVED_CERTIFICATE:
            warn(
                self,
                "shortLivedUsageMode",
                "usage_mode is SHORT_LIVED_CERTIFICATE: certificates last at most 7 days, so "
                "checking their revocation with OCSP adds latency and cost for little benefit. "
                "OCSP stays enabled. Use UsageMode.GENERAL_PURPOSE for long-lived device "
                "certificates, or acknowledge this warning.",
            )
        stack = cdk.Stack.of(self)
        self.settings: _pca_props.CaSettings = settings
        """The props after validation, with every default filled in."""
        self.regional_ocsp_responder_url: str = (
            f"http://{_ocsp_cname.regional_responder_host(stack.region)}"
        )
        """The regional AWS Private CA OCSP responder, which answers for these CAs whatever URL
        their certificates carry (what an ``ocsp_custom_cname`` proxy forwards to)."""
        self.ocsp_responder_url: str = (
            f"http://{settings.ocsp_custom_cname}"
            if settings.ocsp_custom_cname is not None
            else self.regional_ocsp_responder_url
        )
        """OCSP URL that certificates issued by these CAs carry in their AIA extension: the
        ``ocsp_custom_cname`` when there is one, else ``regional_ocsp_responder_url``."""
        self.ocsp_distribution: cloudfront.Distribution | None = None
        """The CloudFront distribution serving ``ocsp_custom_cname`` (with
        ``ocsp_cname_distribution``)."""
        self.ocsp_alias_records: tuple[route53.ARecord, route53.AaaaRecord] | None = None
        """The A and AAAA alias records ``ocsp_custom_cname`` -> the distribution."""
        cname, proxy = settings.ocsp_custom_cname, settings.ocsp_cname_distribution
        if cname is not None and proxy is not None:
            built = _ocsp_cname.create(
                self, cname=cname, options=proxy, removal_policy=settings.removal_policy
            )
            self.ocsp_distribution = built.distribution
            self.ocsp_alias_records = (built.a_record, built.aaaa_record)
        elif cname is not None:
            warn(
                self,
                "ocspCnameWithoutProxy",
                f"ocsp_custom_cname is set: issued certificates send OCSP clients (the pre-auth "
                f"Lambda too) to http://{cname}, which only works once that name resolves to a "
                "proxy forwarding to the regional Private CA responder (regional_ocsp_responder_"
                "url) with the responder's own Host header. Pass ocsp_cname_distribution=Ocsp"
                "CnameDistribution(...) to build it, or acknowledge this warning if you run one.",
            )

        self.crl_bucket: s3.Bucket | None = None
        """The private bucket Private CA writes CRLs to (``crl=True`` only)."""
        crl_policy: s3.BucketPolicy | None = None
        if settings.crl_expiration_days is not None:
            self.crl_bucket, crl_policy = self._create_crl_bucket(settings.removal_policy)
        revocation = self._revocation(settings)

        # Root CA: create, self-sign (RootCACertificate/V1), install.
        self.root_ca: acmpca.CfnCertificateAuthority = self._create_ca(
            "RootCa",
            "ROOT",
            settings.root_subject,
            revocation,
            crl_policy,
            # A short-lived CA must be the last CA in the hierarchy.
            usage=UsageMode.GENERAL_PURPOSE
            if settings.issuing_subject is not None
            else settings.usage_mode,
        )
        """The root CA (``AWS::ACMPCA::CertificateAuthority``, type ``ROOT``)."""
        self.root_certificate: acmpca.CfnCertificate = self._issue_ca_certificate(
            "RootCaCertificate",
            csr=self.root_ca.attr_certificate_signing_request,
            template=_TEMPLATE_ROOT,
            days=settings.root_validity_days,
        )
        """The root's self-signed certificate (``RootCACertificate/V1``)."""
        self.root_certificate_pem: str = self.root_certificate.attr_certificate
        """The root CA certificate, PEM (a deploy-time value)."""
        self.root_activation: acmpca.CfnCertificateAuthorityActivation = (
            acmpca.CfnCertificateAuthorityActivation(
                self,
                "RootCaActivation",
                certificate_authority_arn=self.root_ca.attr_arn,
                certificate=self.root_certificate_pem,
                status="ACTIVE",
            )
        )
        """Installs the root certificate and makes the root ``ACTIVE``."""
        owned: list[cdk.CfnResource] = [self.root_ca, self.root_certificate, self.root_activation]

        # Issuing (subordinate) CA: signed by the root once the root is ACTIVE, then installed
        # with the root as its chain.
        self.subordinate_ca: acmpca.CfnCertificateAuthority | None = None
        """The issuing (subordinate) CA; ``None`` with ``CaHierarchy.ROOT_ONLY``."""
        self.subordinate_certificate: acmpca.CfnCertificate | None = None
        """The issuing CA's certificate, signed by the root (``PathLen0``); ``None`` with
        ``ROOT_ONLY``."""
        self.issuing_ca_activation: acmpca.CfnCertificateAuthorityActivation = self.root_activation
        """The activation of the CA that issues device certificates: depend on it."""
        self.issuing_ca_certificate_pem: str = self.root_certificate_pem
        """The certificate of the CA that issues device certificates, PEM (deploy-time)."""
        self.certificate_chain_pem: str = self.root_certificate_pem
        """The issuing CA's chain up to the root, PEM (deploy-time)."""
        self.issuing_ca_arn: str = self.root_ca.attr_arn
        """The ARN of the CA that issues device certificates."""
        if settings.issuing_subject is not None and settings.issuing_validity_days is not None:
            sub = self._create_ca(
                "IssuingCa",
                "SUBORDINATE",
                settings.issuing_subject,
                revocation,
                crl_policy,
                usage=settings.usage_mode,
            )
            sub_certificate = self._issue_ca_certificate(
                "IssuingCaCertificate",
                csr=sub.attr_certificate_signing_request,
                template=_TEMPLATE_SUBORDINATE,
                days=settings.issuing_validity_days,
            )
            sub_certificate.node.add_dependency(self.root_activation)
            sub_activation = acmpca.CfnCertificateAuthorityActivation(
                self,
                "IssuingCaActivation",
                certificate_authority_arn=sub.attr_arn,
                certificate=sub_certificate.attr_certificate,
                certificate_chain=self.root_certificate_pem,
                status="ACTIVE",
            )
            owned += [sub, sub_certificate, sub_activation]
            self.subordinate_ca = sub
            self.subordinate_certificate = sub_certificate
            self.issuing_ca_activation = sub_activation
            self.issuing_ca_certificate_pem = sub_certificate.attr_certificate
            self.certificate_chain_pem = cdk.Fn.join(
                "\n", [sub_certificate.attr_certificate, self.root_certificate_pem]
            )
            self.issuing_ca_arn = sub.attr_arn
        self.issuing_ca: acmpca.ICertificateAuthority = (
            acmpca.CertificateAuthority.from_certificate_authority_arn(
                self, "IssuingCaRef", self.issuing_ca_arn
            )
        )
        """The CA that issues device and server certificates (the subordinate, else the root).

        It is usable once ``issuing_ca_activation`` is created: make whatever issues from it
        depend on that (``cert.node.add_dependency(ca.issuing_ca_activation)``)."""

        self.acm_permission: acmpca.CfnPermission | None = (
            self._allow_acm(stack.account) if settings.allow_acm_renewal else None
        )
        """ACM's permission to issue and renew private certificates (``allow_acm_renewal``)."""
        self.iot_ca_certificate: iot.CfnCACertificate | None = (
            self._register_with_iot() if settings.register_with_iot else None
        )
        """The issuing CA registered with AWS IoT Core (``register_with_iot``)."""
        owned += [r for r in (self.acm_permission, self.iot_ca_certificate) if r is not None]
        for resource in owned:
            resource.apply_removal_policy(settings.removal_policy)

    @property
    def key_algorithm(self) -> KeyAlgorithm:
        """Key pair of every CA (the ``OcspValidatingDomain`` sizes its environment by it)."""
        return self.settings.key_algorithm

    @property
    def signing_algorithm(self) -> SigningAlgorithm:
        """Signature algorithm of every CA (the given one, or the key's default)."""
        return self.settings.signing_algorithm

    def grant_issue_certificate(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` issue **end-entity** certificates (device and server certificates)
        from the issuing CA and fetch them; never a CA or an OCSP-signing certificate.

        Grants, on the issuing CA's ARN only: ``acm-pca:IssueCertificate`` under the condition
        ``ArnLike acm-pca:TemplateArn`` one of :data:`END_ENTITY_TEMPLATES`
        (``EndEntityCertificate/V1``, ``EndEntityClientAuthCertificate/V1``,
        ``EndEntityServerAuthCertificate/V1``), and ``acm-pca:GetCertificate``.

        The grantee should name the template in its request (``--template-arn
        arn:aws:acm-pca:::template/EndEntityClientAuthCertificate/V1``): AWS does not document
        whether the condition sees Private CA's default (``EndEntityCertificate/V1``) when the
        request names none, and if it does not, such a request is denied.
        For any other template use :meth:`grant_issue_certificate_with_templates`.
        """
        return self.grant_issue_certificate_with_templates(grantee, END_ENTITY_TEMPLATES)

    def grant_issue_certificate_with_templates(
        self, grantee: iam.IGrantable, templates: Sequence[str]
    ) -> iam.Grant:
        """Let ``grantee`` issue certificates from the issuing CA with exactly ``templates``
        (template names such as ``CertificateTemplate.CODE_SIGNING`` or
        ``"EndEntityCertificate_APIPassthrough/V1"``) and fetch them.

        This is the explicit way to allow more than end-entity certificates: a CA template lets
        the grantee create a CA under yours, and ``OCSPSigningCertificate/V1`` a delegated OCSP
        responder whose "good" answers the pre-auth Lambda accepts for any certificate of the
        CA; a passthrough template lets the caller add extensions. Grant those only to a
        principal you would trust with the CA itself.

        Grants, on the issuing CA's ARN only: ``acm-pca:IssueCertificate`` under the condition
        ``ArnLike acm-pca:TemplateArn`` one of ``arn:<partition>:acm-pca:*:*:template/<name>``,
        and ``acm-pca:GetCertificate``.

        :raises ValueError: when ``templates`` is empty or holds something that is not a
            template name (``<Name>/V<n>``).
        """
        names = _template_names(templates)
        partition = cdk.Stack.of(self).partition
        issue = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[_ISSUE],
            resource_arns=[self.issuing_ca_arn],
            conditions={
                "ArnLike": {
                    "acm-pca:TemplateArn": [
                        f"arn:{partition}:acm-pca:*:*:template/{name}" for name in names
                    ]
                }
            },
        )
        get = iam.Grant.add_to_principal(
            grantee=grantee, actions=[_GET], resource_arns=[self.issuing_ca_arn]
        )
        return issue.combine(get)

    def _allow_acm(self, account: str) -> acmpca.CfnPermission:
        """ACM (of this account only) may issue and renew private certificates."""
        permission = acmpca.CfnPermission(
            self,
            "AcmPermission",
            certificate_authority_arn=self.issuing_ca_arn,
            principal="acm.amazonaws.com",
            actions=["IssueCertificate", "GetCertificate", "ListPermissions"],
            source_account=account,
        )
        permission.node.add_dependency(self.issuing_ca_activation)
        return permission

    def _register_with_iot(self) -> iot.CfnCACertificate:
        """The issuing CA in AWS IoT Core, SNI_ONLY: no proof-of-possession certificate needed."""
        registration = iot.CfnCACertificate(
            self,
            "IotCaCertificate",
            ca_certificate_pem=self.issuing_ca_certificate_pem,
            status="ACTIVE",
            certificate_mode="SNI_ONLY",
        )
        registration.node.add_dependency(self.issuing_ca_activation)
        return registration

    def _create_ca(
        self,
        id: str,
        ca_type: str,
        subject: CaSubject,
        revocation: acmpca.CfnCertificateAuthority.RevocationConfigurationProperty,
        crl_policy: s3.BucketPolicy | None,
        *,
        usage: UsageMode,
    ) -> acmpca.CfnCertificateAuthority:
        ca = acmpca.CfnCertificateAuthority(
            self,
            id,
            type=ca_type,
            key_algorithm=self.key_algorithm.value,
            signing_algorithm=self.signing_algorithm.value,
            subject=subject.to_cfn(),
            usage_mode=usage.value,
            revocation_configuration=revocation,
        )
        if crl_policy is not None:
            # Private CA checks that it may write to the bucket when the CA is created.
            ca.node.add_dependency(crl_policy)
        return ca

    def _issue_ca_certificate(
        self, id: str, *, csr: str, template: str, days: int
    ) -> acmpca.CfnCertificate:
        """A CA certificate signed by the root (both CAs share the signing algorithm)."""
        return acmpca.CfnCertificate(
            self,
            id,
            certificate_authority_arn=self.root_ca.attr_arn,
            certificate_signing_request=csr,
            signing_algorithm=self.signing_algorithm.value,
            template_arn=cdk.Fn.sub(template),
            validity=acmpca.CfnCertificate.ValidityProperty(type="DAYS", value=days),
        )

    def _revocation(
        self, settings: _pca_props.CaSettings
    ) -> acmpca.CfnCertificateAuthority.RevocationConfigurationProperty:
        crl_configuration = None
        if self.crl_bucket is not None:
            crl_configuration = acmpca.CfnCertificateAuthority.CrlConfigurationProperty(
                enabled=True,
                expiration_in_days=settings.crl_expiration_days,
                s3_bucket_name=self.crl_bucket.bucket_name,
                # Required with S3 Block Public Access: the bucket owner owns each CRL.
                s3_object_acl="BUCKET_OWNER_FULL_CONTROL",
                custom_cname=settings.crl_custom_cname,
                # The bucket is private: without a CNAME in front of it, a distribution point
                # would send relying parties to a URL that always answers 403.
                crl_distribution_point_extension_configuration=_CdpConfig(
                    omit_extension=settings.crl_custom_cname is None
                ),
            )
        return acmpca.CfnCertificateAuthority.RevocationConfigurationProperty(
            ocsp_configuration=acmpca.CfnCertificateAuthority.OcspConfigurationProperty(
                enabled=True, ocsp_custom_cname=settings.ocsp_custom_cname
            ),
            crl_configuration=crl_configuration,
        )

    def _create_crl_bucket(
        self, removal_policy: cdk.RemovalPolicy
    ) -> tuple[s3.Bucket, s3.BucketPolicy]:
        bucket = s3.Bucket(
            self,
            "CrlBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        stack = cdk.Stack.of(self)
        # Scoped to the Private CAs of this account and Region. The exact CA ARN would make a
        # cycle: Private CA checks this policy when the CA is created, so the policy comes first.
        conditions = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="acm-pca",
                    resource="certificate-authority",
                    resource_name="*",
                    arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
                )
            },
        }
        principal = iam.ServicePrincipal(_PCA_SERVICE_PRINCIPAL)
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PrivateCaWritesCrls",
                principals=[principal],
                actions=["s3:PutObject", "s3:PutObjectAcl"],
                resources=[bucket.arn_for_objects("crl/*")],
                conditions=conditions,
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PrivateCaReadsBucketAcl",
                principals=[principal],
                actions=["s3:GetBucketAcl", "s3:GetBucketLocation"],
                resources=[bucket.bucket_arn],
                conditions=conditions,
            )
        )
        policy = bucket.policy
        if policy is None:  # pragma: no cover - add_to_resource_policy always creates one
            raise RuntimeError("the CRL bucket has no bucket policy")
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "The CRL bucket only holds CRLs that Private CA writes (CloudTrail records the CA's "
            "actions); add server access logs if you need per-request records.",
        )
        return bucket, policy


def _template_names(templates: object) -> list[str]:
    """``templates`` as a list of template names, or a ``ValueError`` that says what is wrong."""
    allowed = (
        "a non-empty list of Private CA template names such as "
        "CertificateTemplate.END_ENTITY_CLIENT_AUTH ('EndEntityClientAuthCertificate/V1')"
    )
    if isinstance(templates, str | bytes) or not isinstance(templates, Sequence) or not templates:
        msg = f"templates must be {allowed}, got {readable(templates)!r}"
        raise ValueError(msg)
    for index, name in enumerate(templates):
        if not isinstance(name, str) or not _TEMPLATE_NAME.fullmatch(name):
            msg = (
                f"templates[{index}] must be a template name '<Name>/V<n>' such as "
                f"'EndEntityClientAuthCertificate/V1' (not an ARN), got {readable(name)!r}"
            )
            raise ValueError(msg)
    return list(dict.fromkeys(templates))
