"""``OcspValidatingDomain``: an AWS IoT Core custom domain whose device certificates are checked
with OCSP by a pre-authentication ("custom client certificate validation") Lambda.

Example::

    import aws_cdk as cdk
    from aws_cdk import aws_certificatemanager as acm
    from ocsp_iot_constructs.ocsp_validating_domain import OcspValidatingDomain, TrustedCa

    stack = cdk.Stack(app, "Fleet")
    certificate = acm.Certificate.from_certificate_arn(stack, "Cert", "arn:aws:acm:...")
    domain = OcspValidatingDomain(
        stack,
        "Devices",
        domain_name="devices.example.com",
        server_certificate=certificate,
        trusted_cas=[TrustedCa.from_pem(ISSUING_CA_PEM, ocsp_responder_url="http://ocsp.example.com")],
    )

The construct is a composition of the shared parts: prop checks (``_domain_props``), the OCSP
client options and environment (``_ocsp_client``), the function (``_ocsp_function``) and the
domain configuration with its DNS record (``_domain_config``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from constructs import Construct

from . import _domain_config, _domain_props, _stapling_props
from . import _preauth_function as contract
from ._device_policy import DevicePolicy, create_device_policy
from ._ocsp_client import OcspClientOptions
from ._ocsp_function import AlarmSpec, OcspFunction, create_alarms
from ._preauth_metrics import (
    DEFAULT_DENY_RATIO_PERCENT,
    DENY_RATIO_MIN_INVOCATIONS,
    PreAuthMetrics,
)
from ._stapling import ServerCertificateStapling
from ._stapling_types import OcspStapling
from ._types import (
    DomainApplicationProtocol,
    DomainAuthenticationType,
    OcspFailMode,
    OcspHashAlgorithm,
    TlsSecurityPolicy,
    TrustedCa,
    TrustedIssuer,
)
from ._validation import Problems, warn

__all__ = [
    "DevicePolicy",
    "DomainApplicationProtocol",
    "DomainAuthenticationType",
    "OcspFailMode",
    "OcspHashAlgorithm",
    "OcspValidatingDomain",
    "TlsSecurityPolicy",
    "TrustedCa",
    "TrustedIssuer",
]


class OcspValidatingDomain(PreAuthMetrics, Construct):
    """An IoT Core custom domain that checks each device certificate with OCSP on connect.

    Creates:

    * ``AWS::IoT::DomainConfiguration`` (the default child, id ``Resource``) for
      ``domain_name`` with the ACM server certificate, whose
      ``ClientCertificateConfig.ClientCertificateCallbackArn`` is the pre-auth Lambda;
    * the pre-auth Lambda (Python 3.14, arm64 by default, bundled locally without Docker), its
      own log group and a least-privilege role;
    * ``AWS::Lambda::Permission`` for ``iot.amazonaws.com``, scoped to this account and to
      ``arn:<partition>:iot:<region>:<account>:domainconfiguration/<name>/*``, created before
      the domain configuration;
    * optionally a Route 53 CNAME to the account's ``iot:Data-ATS`` endpoint (looked up at deploy
      time) and CloudWatch alarms (on by default);
    * with ``stapling``, server-certificate OCSP stapling on the same domain configuration
      (``ServerCertificateConfig``; the stapling Lambda and alarms under the child ``Stapling``).
    * optionally (``device_policy``) a least-privilege ``AWS::IoT::Policy`` for the devices:
      connect only as the client id equal to their thing name, with their certificate attached
      to that thing, and publish/subscribe/receive under ``<topic_prefix>/<thing name>``
      (``docs/ocsp-validating-domain.md``, "Device policy").
    """

    def __init__(  # noqa: PLR0915 - each public attribute is declared here with its docstring
        self,
        scope: Construct,
        id: str,
        *,
        domain_name: str,
        server_certificate: acm.ICertificate,
        trusted_cas: Sequence[TrustedIssuer],
        validation_certificate: acm.ICertificate | None = None,
        domain_configuration_name: str | None = None,
        authentication_type: DomainAuthenticationType = DomainAuthenticationType.AWS_X509,
        application_protocol: DomainApplicationProtocol = DomainApplicationProtocol.SECURE_MQTT,
        custom_authorizer_name: str | None = None,
        allow_authorizer_override: bool = False,
        tls_security_policy: str = TlsSecurityPolicy.TLS13_1_2_2022_10,
        enabled: bool = True,
        tags: Mapping[str, str] | None = None,
        allowed_responder_urls: Sequence[str] = (),
        responder_url: str | None = None,
        fail_mode: OcspFailMode | None = None,
        acknowledge_fail_open: bool = False,
        stale_if_error: cdk.Duration | None = None,
        cache_max_age: cdk.Duration | None = None,
        cache_max_entries: int | None = None,
        ocsp_timeout: cdk.Duration | None = None,
        ocsp_deadline: cdk.Duration | None = None,
        max_age_without_next_update: cdk.Duration | None = None,
        max_response_bytes: int | None = None,
        nonce: bool | None = None,
        hash_algorithm: OcspHashAlgorithm | None = None,
        architecture: lambda_.Architecture | None = None,
        memory_size: int = 256,
        timeout: cdk.Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        tracing: bool = True,
        reserved_concurrent_executions: int | None = None,
        provisioned_concurrent_executions: int | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        log_encryption_key: kms.IKey | None = None,
        wheelhouse: str | os.PathLike[str] | None = None,
        lambda_bundle: str | os.PathLike[str] | None = None,
        snap_start: bool = False,
        hosted_zone: route53.IHostedZone | None = None,
        record_ttl: cdk.Duration | None = None,
        alarms: bool = True,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        ok_actions: Sequence[cloudwatch.IAlarmAction] = (),
        alarm_action: cloudwatch.IAlarmAction | None = None,
        responder_errors_alarm_threshold: int = 5,
        deny_ratio_alarm_threshold: int = DEFAULT_DENY_RATIO_PERCENT,
        stapling: OcspStapling | None = None,
        device_policy: DevicePolicy | bool = False,
    ) -> None:
        """
        :param domain_name: the FQDN devices connect to (and send as SNI), e.g.
            ``devices.example.com``.
        :param server_certificate: the ACM certificate IoT serves for ``domain_name``.
        :param trusted_cas: the CAs whose directly issued device certificates are accepted:
            ``OcspPrivateCa`` objects (certificate and responder URL wired in) or
            :meth:`TrustedCa.from_pem`. At least one.
        :param validation_certificate: a *public* ACM certificate for ``domain_name``; required
            when ``server_certificate`` is privately signed. Default: none.
        :param domain_configuration_name: Default: a name derived from the construct path.
        :param authentication_type: Default: ``AWS_X509``.
        :param application_protocol: Default: ``SECURE_MQTT``.
        :param custom_authorizer_name: the default authorizer; required with
            ``CUSTOM_AUTH_X509`` and only allowed there. Default: none.
        :param allow_authorizer_override: Default: false.
        :param tls_security_policy: Default: ``IoTSecurityPolicy_TLS13_1_2_2022_10`` (TLS 1.2+).
        :param enabled: the domain configuration status. Default: true (``ENABLED``).
        :param tags: tags for every taggable resource of the construct. Default: none.
        :param allowed_responder_urls: further OCSP URLs the Lambda may contact (from the
            certificates' AIA); the trusted CAs' responder URLs are always allowed.
            Default: none.
        :param responder_url: a responder that replaces the AIA URL for every certificate
            (``OCSP_RESPONDER_URL``; allowed implicitly). Default: the AIA URL.
        :param fail_mode: what the Lambda answers when the OCSP status cannot be established.
            Default: ``OcspFailMode.CLOSED``.
        :param acknowledge_fail_open: set to silence the warning that ``OPEN`` adds.
            Default: false.
        :param stale_if_error: how long a cached good answer may be used past its freshness
            when the responder is unreachable. Default: 0 (never).
        :param cache_max_age: upper bound of the answer cache (never beyond ``nextUpdate``).
            Default: 1 hour.
        :param cache_max_entries: Default: 10,000.
        :param ocsp_timeout: per responder request. Default: 2 seconds.
        :param ocsp_deadline: overall budget per invocation; must be below ``timeout``.
            Default: 3 seconds.
        :param max_age_without_next_update: freshness of an answer without ``nextUpdate``.
            Default: 5 minutes.
        :param max_response_bytes: cap on a responder's answer. Default: 16,384.
        :param nonce: send an OCSP nonce (AWS Private CA ignores it). Default: false.
        :param hash_algorithm: CertID hash. Default: SHA-1 (what RFC 5019 responders expect).
        :param architecture: ``lambda_.Architecture`` (or ``"arm64"``/``"x86_64"``). Default:
            ``Architecture.ARM_64``.
        :param memory_size: MB. Default: 256.
        :param timeout: the Lambda timeout, whole seconds up to 900 (Lambda's maximum); below
            IoT's ~5 s budget (a warning otherwise). Default: 4 seconds.
        :param log_retention: of the function's own log group (a ``logs.RetentionDays`` member,
            or its name). Default: three months.
        :param tracing: X-Ray active tracing. Default: true.
        :param reserved_concurrent_executions: Default: none (unreserved).
        :param provisioned_concurrent_executions: when set, IoT invokes an alias ``live`` with
            this provisioned concurrency. Default: none.
        :param hosted_zone: when set, a CNAME ``domain_name`` -> the account's ``iot:Data-ATS``
            endpoint is created in it. Default: no DNS record.
        :param record_ttl: of the CNAME. Default: 5 minutes.
        :param alarms: create alarms on Lambda errors, throttles, duration near the timeout (or
            near IoT's ~5 s budget, if that is shorter), responder errors, any ``CONFIG_ERROR``
            decision and the deny ratio. Default: true.
        :param vpc: place the pre-auth function in this VPC, e.g. to reach a private responder
            (it then needs a route to every responder: a NAT gateway for AWS Private CA's public
            one). Default: not in a VPC.
        :param vpc_subnets: the subnets of ``vpc``. Default: its private subnets.
        :param security_groups: of the function in ``vpc``. Default: one that only allows egress.
        :param log_encryption_key: a customer managed KMS key for the function's log group; a
            key of this stack gets a policy statement for CloudWatch Logs, an imported key must
            already allow it (a warning says so). Default: CloudWatch Logs' own encryption.
        :param wheelhouse: bundle the Lambda code offline, with the wheels of this folder only
            (``python -m ocsp_iot_constructs wheelhouse <folder>`` fills one). Default: the
            ``OCSP_IOT_WHEELHOUSE`` variable, else the package index of pip's configuration.
        :param lambda_bundle: a prebuilt Lambda bundle, folder or zip (``python -m
            ocsp_iot_constructs bundle <folder>``), used as the code as is; ``{architecture}``
            in the path is replaced by ``arm64`` or ``x86_64``. Default: the
            ``OCSP_IOT_LAMBDA_BUNDLE`` variable, else the code is bundled at synth.
        :param snap_start: Lambda SnapStart for the pre-auth function: cold starts restore a
            snapshot taken after the code was imported (IoT then invokes the alias ``live``).
            Not with provisioned concurrency; SnapStart for Python bills the snapshot's cache and
            each restore (see docs/performance.md). Default: false.
        :param alarm_actions: actions of every alarm when it goes to ALARM (e.g.
            ``cloudwatch_actions.SnsAction(topic)``). Default: none.
        :param ok_actions: actions of every alarm when it returns to OK. Default: none.
        :param alarm_action: one more alarm action (kept for compatibility: use
            ``alarm_actions``). Default: none.
        :param responder_errors_alarm_threshold: responder errors per 5 minutes that raise the
            alarm. Default: 5.
        :param deny_ratio_alarm_threshold: the percentage of denied connections (per 5 minutes,
            once there are at least 10 invocations) that raises the deny-ratio alarm, a whole
            number from 1 to 100. Default: 50.
        :param stapling: also staple the server certificate's OCSP answer on this domain
            configuration (:class:`~ocsp_iot_constructs.OcspStapling`; its resources are under
            the child ``Stapling``). Default: no stapling.
        :param device_policy: create the devices' IoT policy (``ocsp-iot enroll`` attaches it):
            ``True`` for the defaults, or ``DevicePolicy(topic_prefix=..., policy_name=...)``.
            Default: false (no policy; attach your own to each certificate).
        """
        super().__init__(scope, id)
        stapling_checked: list[_stapling_props.StaplingProps | None] = []

        def check_more(problems: Problems) -> None:
            _domain_config.check_unique_domain_name(problems, self, domain_name)
            if stapling is not None:
                stapling_checked.append(
                    _stapling_props.check(problems, stapling, stack=cdk.Stack.of(self))
                )

        props = _domain_props.resolve(
            self,
            id,
            domain_name=domain_name,
            server_certificate=server_certificate,
            trusted_cas=trusted_cas,
            validation_certificate=validation_certificate,
            domain_configuration_name=domain_configuration_name,
            authentication_type=authentication_type,
            application_protocol=application_protocol,
            custom_authorizer_name=custom_authorizer_name,
            allow_authorizer_override=allow_authorizer_override,
            tls_security_policy=tls_security_policy,
            enabled=enabled,
            tags=tags,
            allowed_responder_urls=allowed_responder_urls,
            responder_url=responder_url,
            ocsp=OcspClientOptions(
                fail_mode=fail_mode,
                stale_if_error=stale_if_error,
                cache_max_age=cache_max_age,
                cache_max_entries=cache_max_entries,
                ocsp_timeout=ocsp_timeout,
                ocsp_deadline=ocsp_deadline,
                max_age_without_next_update=max_age_without_next_update,
                max_response_bytes=max_response_bytes,
                nonce=nonce,
                hash_algorithm=hash_algorithm,
            ),
            acknowledge_fail_open=acknowledge_fail_open,
            function=_domain_props.function_options(
                architecture=architecture,
                memory_size=memory_size,
                timeout=timeout,
                log_retention=log_retention,
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
            ),
            alarm_actions=alarm_actions,
            alarm_action=alarm_action,
            ok_actions=ok_actions,
            hosted_zone=hosted_zone,
            record_ttl=record_ttl,
            responder_errors_alarm_threshold=responder_errors_alarm_threshold,
            deny_ratio_alarm_threshold=deny_ratio_alarm_threshold,
            alarms=alarms,
            extra_checks=check_more,
            device_policy=device_policy,
        )
        for warning_id, message in _domain_props.warnings(props):
            warn(self, warning_id, message)

        self.domain_name: str = props.domain_name
        """The FQDN devices connect to (their SNI)."""
        self.domain_configuration_name: str = props.config_name
        """The domain configuration's name (``DomainConfigurationName``; also its ``Ref``)."""

        # The function, and what IoT invokes: the function, or its alias with provisioned
        # concurrency.
        parts = OcspFunction(
            self,
            handler=contract.HANDLER,
            description=f"OCSP pre-auth check for IoT domain {props.domain_name}",
            role_purpose="OCSP pre-auth Lambda",
            synchronous_caller=(
                "IoT Core invokes the pre-auth Lambda synchronously for each TLS connection"
            ),
            environment=props.environment,
            options=props.function,
        )
        self._function_parts = parts
        self.log_group: logs.LogGroup = parts.log_group
        """The pre-auth function's own log group (one JSON/EMF line per decision)."""
        self.role: iam.Role = parts.role
        """The pre-auth function's role: it may only write its own log group (and traces)."""
        self.function: lambda_.Function = parts.function
        """The pre-auth Lambda function."""
        self.alias: lambda_.Alias | None = parts.alias
        """The alias ``live`` with provisioned concurrency, when
        ``provisioned_concurrent_executions`` is set."""
        self.callback_function: lambda_.IFunction = parts.invoked
        """What IoT Core invokes: the alias when there is one, else the function."""

        self.source_arn_pattern: str = _domain_config.source_arn_pattern(self, props.config_name)
        """The ``SourceArn`` pattern of the invoke permission (the ARN suffix is
        service-generated)."""
        self.invoke_permission: lambda_.CfnPermission = _domain_config.invoke_permission(
            self, "IotInvokePermission", self.callback_function, self.source_arn_pattern
        )
        """``lambda:InvokeFunction`` for ``iot.amazonaws.com``, created before the domain."""
        self.stapling: ServerCertificateStapling | None = self._add_stapling(
            props, stapling_checked[0] if stapling_checked else None, alarms=alarms
        )
        """Server-certificate OCSP stapling (``stapling``): its Lambda, alarms and metrics."""
        stapling_permission = self.stapling.invoke_permission if self.stapling else None
        self.domain_configuration: iot.CfnDomainConfiguration = (
            _domain_config.create_domain_configuration(
                self,
                _domain_config.DomainSpec(
                    name=props.config_name,
                    domain_name=props.domain_name,
                    server_certificate=props.server_certificate,
                    validation_certificate=props.validation_certificate,
                    tls_security_policy=props.tls_security_policy,
                    enabled=props.enabled,
                    authentication_type=props.authentication_type.value,
                    application_protocol=props.application_protocol.value,
                    authorizer=self._authorizer(props),
                    client_certificate_callback=self.callback_function,
                    server_certificate_config=(
                        self.stapling.server_certificate_config if self.stapling else None
                    ),
                ),
                permissions=[
                    self.invoke_permission,
                    *([stapling_permission] if stapling_permission else []),
                ],
            )
        )
        """The ``AWS::IoT::DomainConfiguration`` (also ``node.default_child``)."""
        self.domain_configuration_arn: str = self.domain_configuration.attr_arn
        """The domain configuration's ARN (a deploy-time value)."""

        self.endpoint_address: str | None = None
        """The account's ``iot:Data-ATS`` endpoint (deploy-time), when ``hosted_zone`` is set."""
        self.cname_record: route53.CnameRecord | None = None
        """The CNAME ``domain_name`` -> the endpoint, when ``hosted_zone`` is set."""
        if props.hosted_zone is not None:
            record = _domain_config.create_dns(
                self,
                hosted_zone=props.hosted_zone,
                domain_name=props.domain_name,
                ttl=props.record_ttl,
                domain_configuration=self.domain_configuration,
                comment="Devices reach the OCSP-validating IoT domain through this name",
            )
            self.endpoint_address, self.cname_record = record.endpoint_address, record.cname_record

        self.device_policy: iot.CfnPolicy | None = None
        """The devices' IoT policy (``device_policy``), else ``None``."""
        self.device_policy_name: str | None = None
        """Its name (``Ref``; a deploy-time value unless ``policy_name`` was given)."""
        self.device_topic_prefix: str | None = None
        """The topic prefix of the device policy."""
        if props.device_policy is not None:
            self.device_policy = create_device_policy(self, "DevicePolicy", props.device_policy)
            self.device_policy_name = props.device_policy.policy_name or self.device_policy.ref
            self.device_topic_prefix = props.device_policy.topic_prefix

        self.alarms: tuple[cloudwatch.Alarm, ...] = ()
        """The alarms (errors, throttles, duration near the timeout, responder errors,
        configuration errors, deny ratio)."""
        if props.alarms:
            self.alarms = create_alarms(
                self,
                [
                    *parts.standard_alarms(
                        "The OCSP pre-auth Lambda", budget=_domain_props.IOT_BUDGET
                    ),
                    AlarmSpec(
                        "ResponderErrorsAlarm",
                        self.metric_responder_errors(),
                        props.responder_errors_alarm_threshold,
                        "The OCSP responder failed to answer the pre-auth Lambda "
                        "(devices are denied, or allowed in fail-open mode).",
                    ),
                    AlarmSpec(
                        "ConfigErrorAlarm",
                        self.metric_config_errors(),
                        1,
                        "The OCSP pre-auth Lambda cannot read its configuration and denies every "
                        "device (CONFIG_ERROR); its decision log lines name each problem.",
                    ),
                    AlarmSpec(
                        "DenyRatioAlarm",
                        self.metric_deny_ratio(),
                        props.deny_ratio_alarm_threshold,
                        f"At least {props.deny_ratio_alarm_threshold}% of the connections the "
                        "OCSP pre-auth Lambda decided were denied (with at least "
                        f"{DENY_RATIO_MIN_INVOCATIONS} invocations in 5 minutes): is the fleet "
                        "locked out? The Decisions metric by Reason says why.",
                    ),
                ],
                alarm_actions=props.alarm_actions,
                ok_actions=props.ok_actions,
            )

        for key, value in props.tags.items():
            cdk.Tags.of(self).add(key, value)

    def _add_stapling(
        self,
        props: _domain_props.DomainProps,
        stapling: _stapling_props.StaplingProps | None,
        *,
        alarms: bool,
    ) -> ServerCertificateStapling | None:
        """The child ``Stapling`` (its ids do not touch a domain without stapling)."""
        if stapling is None:
            return None
        for warning_id, message in _stapling_props.warnings(stapling):
            warn(self, warning_id, message)
        return ServerCertificateStapling(
            self,
            "Stapling",
            props=stapling,
            domain_configuration_name=props.config_name,
            domain_name=props.domain_name,
            server_certificate=props.server_certificate,
            alarms=alarms,
            alarm_actions=props.alarm_actions,
            ok_actions=props.ok_actions,
        )

    @staticmethod
    def _authorizer(
        props: _domain_props.DomainProps,
    ) -> iot.CfnDomainConfiguration.AuthorizerConfigProperty | None:
        if props.authentication_type is not DomainAuthenticationType.CUSTOM_AUTH_X509:
            return None
        return iot.CfnDomainConfiguration.AuthorizerConfigProperty(
            default_authorizer_name=props.custom_authorizer_name,
            allow_authorizer_override=props.allow_authorizer_override,
        )
