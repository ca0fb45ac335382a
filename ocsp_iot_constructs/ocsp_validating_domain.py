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
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import custom_resources as cr
from constructs import Construct

from . import _preauth_function as contract
from ._bundling import preauth_code
from ._validation import (
    Problems,
    acknowledge,
    enum_member,
    is_dns_name,
    is_token,
    shown,
    warn,
)

__all__ = [
    "DomainApplicationProtocol",
    "DomainAuthenticationType",
    "OcspFailMode",
    "OcspHashAlgorithm",
    "OcspValidatingDomain",
    "TlsSecurityPolicy",
    "TrustedCa",
    "TrustedIssuer",
]

#: IoT Core's budget for the pre-auth Lambda (the documented custom-authorizer limit; the
#: pre-auth limit itself is not published): the function's timeout must stay below it.
IOT_BUDGET = cdk.Duration.seconds(5)

#: The handler refuses an OCSP deadline (or request timeout) above this (``config.py``).
MAX_OCSP_DEADLINE = cdk.Duration.millis(4500)

#: The handler's bound for the whole-second settings (stale-if-error, cache, freshness).
MAX_SETTING_SECONDS = 86_400

#: Period of every metric and alarm of the construct.
METRIC_PERIOD = cdk.Duration.minutes(5)

#: The Lambda runtime: the latest Python that aws-cdk-lib offers.
RUNTIME = lambda_.Runtime.PYTHON_3_14

_CONFIG_NAME = re.compile(r"^[\w.-]{1,128}$")
_PEM_CERT = re.compile(
    r"^-----BEGIN CERTIFICATE-----\s*\n([A-Za-z0-9+/=\s]+?)\n-----END CERTIFICATE-----\s*$"
)


class OcspFailMode(Enum):
    """What the pre-auth Lambda answers when the OCSP status *cannot be established*."""

    #: Deny the connection (the secure default).
    CLOSED = "closed"
    #: Allow the connection when the responder is unreachable, answers tryLater, HTTP 5xx or
    #: times out. An answer that arrives and fails a check, or an untrusted device certificate,
    #: still denies.
    OPEN = "open"


class OcspHashAlgorithm(Enum):
    """Hash of the CertID in OCSP requests (AWS Private CA's RFC 5019 responder expects SHA-1)."""

    SHA1 = "sha1"
    SHA256 = "sha256"


class DomainAuthenticationType(Enum):
    """Authentication types that support custom client certificate validation."""

    AWS_X509 = "AWS_X509"
    CUSTOM_AUTH_X509 = "CUSTOM_AUTH_X509"


class DomainApplicationProtocol(Enum):
    """Application protocols that support custom client certificate validation."""

    SECURE_MQTT = "SECURE_MQTT"
    HTTPS = "HTTPS"


class TlsSecurityPolicy:
    """Documented IoT Core TLS security policies (``TlsConfig.SecurityPolicy``)."""

    #: TLS 1.2 and 1.3 (the IoT default for new domain configurations).
    TLS13_1_2_2022_10 = "IoTSecurityPolicy_TLS13_1_2_2022_10"
    #: TLS 1.3 only.
    TLS13_1_3_2022_10 = "IoTSecurityPolicy_TLS13_1_3_2022_10"
    #: TLS 1.2 only.
    TLS12_1_2_2022_10 = "IoTSecurityPolicy_TLS12_1_2_2022_10"
    #: Every policy the construct accepts as a literal.
    ALL: tuple[str, ...] = (TLS13_1_2_2022_10, TLS13_1_3_2022_10, TLS12_1_2_2022_10)


@runtime_checkable
class TrustedIssuer(Protocol):
    """A CA whose directly issued device certificates the pre-auth Lambda accepts.

    ``OcspPrivateCa`` fits this protocol; use :meth:`TrustedCa.from_pem` for other CAs.
    """

    @property
    def issuing_ca_certificate_pem(self) -> str:
        """The CA certificate, PEM (may be a deploy-time token)."""
        ...

    @property
    def ocsp_responder_url(self) -> str | None:
        """The CA's OCSP responder URL, allow-listed automatically; ``None`` if not known."""
        ...


@dataclass(frozen=True, kw_only=True)
class TrustedCa:
    """An external (or any PEM-known) issuing CA. Create it with :meth:`from_pem`."""

    issuing_ca_certificate_pem: str
    ocsp_responder_url: str | None = None

    @classmethod
    def from_pem(cls, pem: str, ocsp_responder_url: str | None = None) -> TrustedCa:
        """Trust the CA certificate ``pem`` (one ``CERTIFICATE`` block).

        :param ocsp_responder_url: the CA's responder (``http://...``), allow-listed for the
            Lambda. Default: none; then allow the URLs in the certificates' AIA through
            ``allowed_responder_urls``.
        """
        return cls(issuing_ca_certificate_pem=pem, ocsp_responder_url=ocsp_responder_url)


class OcspValidatingDomain(Construct):
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
      time) and CloudWatch alarms (on by default).
    """

    def __init__(
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
        fail_mode: OcspFailMode = OcspFailMode.CLOSED,
        acknowledge_fail_open: bool = False,
        stale_if_error: cdk.Duration | None = None,
        cache_max_age: cdk.Duration | None = None,
        cache_max_entries: int = 10_000,
        ocsp_timeout: cdk.Duration | None = None,
        ocsp_deadline: cdk.Duration | None = None,
        max_age_without_next_update: cdk.Duration | None = None,
        max_response_bytes: int = 16_384,
        nonce: bool = False,
        hash_algorithm: OcspHashAlgorithm = OcspHashAlgorithm.SHA1,
        architecture: lambda_.Architecture | None = None,
        memory_size: int = 256,
        timeout: cdk.Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        tracing: bool = True,
        reserved_concurrent_executions: int | None = None,
        provisioned_concurrent_executions: int | None = None,
        hosted_zone: route53.IHostedZone | None = None,
        record_ttl: cdk.Duration | None = None,
        alarms: bool = True,
        alarm_action: cloudwatch.IAlarmAction | None = None,
        responder_errors_alarm_threshold: int = 5,
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
        :param fail_mode: Default: ``OcspFailMode.CLOSED``.
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
        :param architecture: Default: ``Architecture.ARM_64``.
        :param memory_size: MB. Default: 256.
        :param timeout: the Lambda timeout; below IoT's ~5 s budget. Default: 4 seconds.
        :param log_retention: of the function's own log group. Default: three months.
        :param tracing: X-Ray active tracing. Default: true.
        :param reserved_concurrent_executions: Default: none (unreserved).
        :param provisioned_concurrent_executions: when set, IoT invokes an alias ``live`` with
            this provisioned concurrency. Default: none.
        :param hosted_zone: when set, a CNAME ``domain_name`` -> the account's ``iot:Data-ATS``
            endpoint is created in it. Default: no DNS record.
        :param record_ttl: of the CNAME. Default: 5 minutes.
        :param alarms: create alarms on Lambda errors, throttles, duration near the timeout and
            responder errors. Default: true.
        :param alarm_action: added to every alarm. Default: none.
        :param responder_errors_alarm_threshold: responder errors per 5 minutes that raise the
            alarm. Default: 5.
        """
        super().__init__(scope, id)
        architecture = architecture or lambda_.Architecture.ARM_64
        timeout = timeout or cdk.Duration.seconds(4)
        problems = Problems("OcspValidatingDomain", id)
        # An invalid enum is recorded; its default stands in until ``raise_if_any``.
        authentication_type = (
            enum_member(
                problems, "authentication_type", DomainAuthenticationType, authentication_type
            )
            or DomainAuthenticationType.AWS_X509
        )
        application_protocol = (
            enum_member(
                problems, "application_protocol", DomainApplicationProtocol, application_protocol
            )
            or DomainApplicationProtocol.SECURE_MQTT
        )
        fail_mode = (
            enum_member(problems, "fail_mode", OcspFailMode, fail_mode) or OcspFailMode.CLOSED
        )
        hash_algorithm = (
            enum_member(problems, "hash_algorithm", OcspHashAlgorithm, hash_algorithm)
            or OcspHashAlgorithm.SHA1
        )
        checker = _CheckerSettings(
            fail_mode=fail_mode,
            stale_if_error=stale_if_error or cdk.Duration.seconds(0),
            cache_max_age=cache_max_age or cdk.Duration.hours(1),
            cache_max_entries=cache_max_entries,
            ocsp_timeout=ocsp_timeout or cdk.Duration.seconds(2),
            ocsp_deadline=ocsp_deadline or cdk.Duration.seconds(3),
            max_age_without_next_update=max_age_without_next_update or cdk.Duration.minutes(5),
            max_response_bytes=max_response_bytes,
            nonce=nonce,
            hash_algorithm=hash_algorithm,
        )
        config_name = domain_configuration_name or cdk.Names.unique_resource_name(
            self, max_length=128, separator="-"
        )

        _check_domain_name(problems, domain_name, hosted_zone)
        _check_certificates(problems, server_certificate, validation_certificate)
        issuers = _check_trusted_cas(problems, trusted_cas)
        _check_settings(
            problems,
            config_name=config_name,
            authentication_type=authentication_type,
            custom_authorizer_name=custom_authorizer_name,
            tls_security_policy=tls_security_policy,
            tags=tags or {},
            memory_size=memory_size,
            reserved=reserved_concurrent_executions,
            provisioned=provisioned_concurrent_executions,
            responder_errors_alarm_threshold=responder_errors_alarm_threshold,
        )
        checker.check(problems, timeout=timeout)
        allowed_urls = _allowed_urls(problems, issuers, allowed_responder_urls, responder_url)
        environment = checker.environment(
            issuers=issuers, allowed_urls=allowed_urls, responder_url=responder_url
        )
        size = contract.environment_size(
            environment,
            pem_tokens=[
                contract.estimated_pem_bytes(i)
                for i in issuers
                if is_token(i.issuing_ca_certificate_pem)
            ],
        )
        problems.require(
            size.known_bytes <= contract.ENV_LIMIT_BYTES,
            "the Lambda environment (trusted_cas PEMs, responder URLs and settings)",
            f"at most {contract.ENV_LIMIT_BYTES} bytes in total (Lambda's 4 KB limit)",
            f"{size.known_bytes} bytes",
            "trust fewer CAs or use shorter responder URLs",
        )
        problems.raise_if_any()
        self._warn_risky(
            timeout=timeout,
            checker=checker,
            acknowledge_fail_open=acknowledge_fail_open,
            size=size,
        )

        # The function, and what IoT invokes: the function, or its alias with provisioned
        # concurrency.
        self.log_group = logs.LogGroup(self, "LogGroup", retention=log_retention)
        self.role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="OCSP pre-auth Lambda: writes its own log group"
            + (" (and X-Ray traces)" if tracing else ""),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"OCSP pre-auth check for IoT domain {domain_name}",
            runtime=RUNTIME,
            architecture=architecture,
            handler=contract.HANDLER,
            code=preauth_code(architecture=architecture, runtime=RUNTIME),
            memory_size=memory_size,
            timeout=timeout,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            reserved_concurrent_executions=reserved_concurrent_executions,
            environment=environment,
        )
        self._acknowledge_function_findings(tracing=tracing)
        self.alias: lambda_.Alias | None = None
        self.callback_function: lambda_.IFunction = self.function
        if provisioned_concurrent_executions is not None:
            self.alias = lambda_.Alias(
                self,
                "Alias",
                alias_name="live",
                version=self.function.current_version,
                provisioned_concurrent_executions=provisioned_concurrent_executions,
            )
            self.callback_function = self.alias

        self.domain_name = domain_name
        self.domain_configuration_name = config_name
        self._create_domain_configuration(
            server_certificate=server_certificate,
            validation_certificate=validation_certificate,
            authentication_type=authentication_type,
            application_protocol=application_protocol,
            custom_authorizer_name=custom_authorizer_name,
            allow_authorizer_override=allow_authorizer_override,
            tls_security_policy=tls_security_policy,
            enabled=enabled,
        )

        self.endpoint_address: str | None = None
        self.cname_record: route53.CnameRecord | None = None
        if hosted_zone is not None:
            self._create_dns(hosted_zone, record_ttl or cdk.Duration.minutes(5))

        self.alarms: tuple[cloudwatch.Alarm, ...] = ()
        if alarms:
            self.alarms = self._create_alarms(
                timeout=timeout, responder_errors_threshold=responder_errors_alarm_threshold
            )
            if alarm_action is not None:
                for alarm in self.alarms:
                    alarm.add_alarm_action(alarm_action)

        for key, value in (tags or {}).items():
            cdk.Tags.of(self).add(key, value)

    # Metrics -------------------------------------------------------------------------------

    def metric(
        self,
        metric_name: str,
        *,
        dimensions: Mapping[str, str] | None = None,
        statistic: str = "Sum",
        period: cdk.Duration | None = None,
    ) -> cloudwatch.Metric:
        """A metric the handler emits (namespace ``OcspIot/PreAuth``, dimension
        ``FunctionName`` plus ``dimensions``)."""
        if metric_name not in contract.METRIC_NAMES:
            allowed = ", ".join(contract.METRIC_NAMES)
            msg = f"metric_name must be one of {allowed}, got {metric_name!r}"
            raise ValueError(msg)
        return cloudwatch.Metric(
            namespace=contract.NAMESPACE,
            metric_name=metric_name,
            dimensions_map={
                contract.DIMENSION_FUNCTION_NAME: self.function.function_name,
                **(dimensions or {}),
            },
            statistic=statistic,
            period=period or METRIC_PERIOD,
        )

    def metric_decisions(
        self, *, verdict: str | None = None, reason: str | None = None
    ) -> cloudwatch.Metric:
        """Decisions, by ``verdict`` (``ALLOW``/``DENY``) or by ``reason`` (not both: the
        handler emits the two dimension sets separately)."""
        if verdict is not None and reason is not None:
            msg = "metric_decisions takes verdict or reason, not both (no such dimension set)"
            raise ValueError(msg)
        if verdict is not None and verdict not in contract.VERDICTS:
            msg = f"verdict must be one of {', '.join(contract.VERDICTS)}, got {verdict!r}"
            raise ValueError(msg)
        if reason is not None and reason not in contract.REASONS:
            msg = f"reason must be one of {', '.join(contract.REASONS)}, got {reason!r}"
            raise ValueError(msg)
        dimensions: dict[str, str] = {}
        if verdict is not None:
            dimensions[contract.DIMENSION_VERDICT] = verdict
        if reason is not None:
            dimensions[contract.DIMENSION_REASON] = reason
        return self.metric(contract.DECISIONS, dimensions=dimensions)

    def metric_allowed(self) -> cloudwatch.Metric:
        """Connections allowed (``Verdict=ALLOW``)."""
        return self.metric_decisions(verdict="ALLOW")

    def metric_denied(self) -> cloudwatch.Metric:
        """Connections denied (``Verdict=DENY``)."""
        return self.metric_decisions(verdict="DENY")

    def metric_revoked(self) -> cloudwatch.Metric:
        """Connections denied because the certificate is revoked (``Reason=REVOKED``)."""
        return self.metric_decisions(reason="REVOKED")

    def metric_fail_open(self) -> cloudwatch.Metric:
        """Connections allowed only because the responder was unreachable (fail open)."""
        return self.metric_decisions(reason="FAIL_OPEN")

    def metric_responder_unavailable(self) -> cloudwatch.Metric:
        """Connections denied because the responder was unreachable (fail closed)."""
        return self.metric_decisions(reason="RESPONDER_UNAVAILABLE")

    def metric_cache_hits(self) -> cloudwatch.Metric:
        """Decisions answered from the OCSP cache."""
        return self.metric(contract.CACHE_HITS)

    def metric_responder_requests(self) -> cloudwatch.Metric:
        """Requests sent to OCSP responders."""
        return self.metric(contract.RESPONDER_REQUESTS)

    def metric_responder_errors(self) -> cloudwatch.Metric:
        """Responder requests that failed (unreachable, timeout, HTTP error, tryLater)."""
        return self.metric(contract.RESPONDER_ERRORS)

    def metric_responder_latency(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        """Latency of responder requests, milliseconds."""
        return self.metric(contract.RESPONDER_LATENCY, statistic=statistic)

    def metric_handler_latency(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        """Latency of the whole check as the handler measures it, milliseconds."""
        return self.metric(contract.HANDLER_LATENCY, statistic=statistic)

    def metric_errors(self) -> cloudwatch.Metric:
        """Lambda errors of the pre-auth function (each one denies a connection)."""
        return self.function.metric_errors(period=METRIC_PERIOD)

    def metric_throttles(self) -> cloudwatch.Metric:
        """Lambda throttles of the pre-auth function (each one denies a connection)."""
        return self.function.metric_throttles(period=METRIC_PERIOD)

    def metric_duration(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        """Lambda duration of the pre-auth function, milliseconds."""
        return self.function.metric_duration(statistic=statistic, period=METRIC_PERIOD)

    def metric_invocations(self) -> cloudwatch.Metric:
        """Lambda invocations (one per connection attempt)."""
        return self.function.metric_invocations(period=METRIC_PERIOD)

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to invoke the pre-auth check (what IoT calls), e.g. for a smoke
        test. Grants ``lambda:InvokeFunction``."""
        return self.callback_function.grant_invoke(grantee)

    # Internals -----------------------------------------------------------------------------

    def _warn_risky(
        self,
        *,
        timeout: cdk.Duration,
        checker: _CheckerSettings,
        acknowledge_fail_open: bool,
        size: contract.EnvironmentSize,
    ) -> None:
        """Risky but allowed settings: warnings the user can acknowledge."""
        if timeout.to_milliseconds() >= IOT_BUDGET.to_milliseconds():
            warn(
                self,
                "preAuthTimeout",
                f"timeout is {timeout.to_human_string()}, not below IoT Core's ~5 s budget for "
                "the pre-auth Lambda; a slow check then fails the connection instead of "
                "returning the fail mode's answer. Use at most 4 seconds.",
            )
        if checker.fail_mode is OcspFailMode.OPEN and not acknowledge_fail_open:
            warn(
                self,
                "failOpen",
                "fail_mode is OPEN: devices are allowed when the OCSP responder is unreachable, "
                "so a revoked certificate connects during an outage (or a blocked responder). "
                "Set acknowledge_fail_open=True to confirm.",
            )
        if size.estimated_bytes > contract.ENV_LIMIT_BYTES:
            warn(
                self,
                "environmentSize",
                f"the Lambda environment may exceed Lambda's 4 KB limit: {size.known_bytes} "
                f"bytes are known and {size.token_count} deploy-time value(s) are estimated at "
                f"{size.estimated_bytes} bytes in total (a deploy-time CA certificate is "
                "estimated from its key algorithm); the deployment fails if it does.",
            )

    def _acknowledge_function_findings(self, *, tracing: bool) -> None:
        """cdk-nag findings on the function that are deliberate, each on the narrowest node."""
        policy = self.role.node.try_find_child("DefaultPolicy")
        if tracing and policy is not None:
            acknowledge(
                policy.node.find_child("Resource"),
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                "xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
                "permissions (added by CDK for active tracing); the log statement is scoped to "
                "the function's own log group",
            )
        cfn_function = self.function.node.find_child("Resource")
        acknowledge(
            cfn_function,
            "Serverless::Serverless-LambdaDLQ",
            "IoT Core invokes the pre-auth Lambda synchronously for each TLS connection; a "
            "dead-letter queue only receives failed asynchronous invocations",
        )
        if not tracing:
            acknowledge(
                cfn_function,
                "Serverless::Serverless-LambdaTracing",
                "X-Ray tracing was switched off explicitly (tracing=False); the handler's JSON "
                "decision log and EMF metrics still record every check",
            )

    def _create_domain_configuration(
        self,
        *,
        server_certificate: acm.ICertificate,
        validation_certificate: acm.ICertificate | None,
        authentication_type: DomainAuthenticationType,
        application_protocol: DomainApplicationProtocol,
        custom_authorizer_name: str | None,
        allow_authorizer_override: bool,
        tls_security_policy: str,
        enabled: bool,
    ) -> None:
        stack = cdk.Stack.of(self)
        #: The ``SourceArn`` pattern of the invoke permission (the suffix is service-generated).
        self.source_arn_pattern = stack.format_arn(
            service="iot",
            resource="domainconfiguration",
            resource_name=f"{self.domain_configuration_name}/*",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.invoke_permission = lambda_.CfnPermission(
            self,
            "IotInvokePermission",
            action="lambda:InvokeFunction",
            function_name=self.callback_function.function_arn,
            principal="iot.amazonaws.com",
            source_account=stack.account,
            source_arn=self.source_arn_pattern,
        )
        custom_auth = authentication_type is DomainAuthenticationType.CUSTOM_AUTH_X509
        self.domain_configuration = iot.CfnDomainConfiguration(
            self,
            "Resource",
            domain_configuration_name=self.domain_configuration_name,
            domain_name=self.domain_name,
            server_certificate_arns=[server_certificate.certificate_arn],
            validation_certificate_arn=(
                validation_certificate.certificate_arn if validation_certificate else None
            ),
            service_type="DATA",
            authentication_type=authentication_type.value,
            application_protocol=application_protocol.value,
            client_certificate_config=iot.CfnDomainConfiguration.ClientCertificateConfigProperty(
                client_certificate_callback_arn=self.callback_function.function_arn
            ),
            authorizer_config=(
                iot.CfnDomainConfiguration.AuthorizerConfigProperty(
                    default_authorizer_name=custom_authorizer_name,
                    allow_authorizer_override=allow_authorizer_override,
                )
                if custom_auth
                else None
            ),
            tls_config=iot.CfnDomainConfiguration.TlsConfigProperty(
                security_policy=tls_security_policy
            ),
            domain_configuration_status="ENABLED" if enabled else "DISABLED",
        )
        # IoT must be allowed to call the Lambda before the domain serves a connection.
        self.domain_configuration.node.add_dependency(self.invoke_permission)
        self.domain_configuration_arn = self.domain_configuration.attr_arn

    def _create_dns(self, hosted_zone: route53.IHostedZone, ttl: cdk.Duration) -> None:
        # CloudFormation cannot return the account's iot:Data-ATS endpoint: ask IoT at deploy.
        lookup = cr.AwsCustomResource(
            self,
            "DataAtsEndpoint",
            on_create=_describe_endpoint_call(),
            on_update=_describe_endpoint_call(),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    # iot:DescribeEndpoint supports no resource-level permissions.
                    iam.PolicyStatement(actions=["iot:DescribeEndpoint"], resources=["*"])
                ]
            ),
            install_latest_aws_sdk=False,
            memory_size=256,
            timeout=cdk.Duration.minutes(2),
        )
        acknowledge(
            lookup.node.find_child("CustomResourcePolicy").node.find_child("Resource"),
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "iot:DescribeEndpoint supports no resource-level permissions; it is the only action "
            "granted",
        )
        _acknowledge_aws_custom_resource_provider(cdk.Stack.of(self))
        self.endpoint_address = lookup.get_response_field("endpointAddress")
        self.cname_record = route53.CnameRecord(
            self,
            "Cname",
            zone=hosted_zone,
            record_name=f"{self.domain_name}.",
            domain_name=self.endpoint_address,
            ttl=ttl,
            comment="Devices reach the OCSP-validating IoT domain through this name",
        )
        self.cname_record.node.add_dependency(self.domain_configuration)

    def _create_alarms(
        self, *, timeout: cdk.Duration, responder_errors_threshold: int
    ) -> tuple[cloudwatch.Alarm, ...]:
        near_timeout_ms = timeout.to_milliseconds() * 0.8
        specs: list[tuple[str, cloudwatch.IMetric, float, str]] = [
            (
                "ErrorsAlarm",
                self.metric_errors(),
                1,
                "The OCSP pre-auth Lambda failed: each error denies a device connection.",
            ),
            (
                "ThrottlesAlarm",
                self.metric_throttles(),
                1,
                "The OCSP pre-auth Lambda was throttled: each throttle denies a connection.",
            ),
            (
                "DurationAlarm",
                self.metric_duration(),
                near_timeout_ms,
                "The OCSP pre-auth Lambda's p99 duration is above 80% of its timeout "
                "(IoT Core allows ~5 s in total).",
            ),
            (
                "ResponderErrorsAlarm",
                self.metric_responder_errors(),
                responder_errors_threshold,
                "The OCSP responder failed to answer the pre-auth Lambda "
                "(devices are denied, or allowed in fail-open mode).",
            ),
        ]
        return tuple(
            cloudwatch.Alarm(
                self,
                alarm_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            for alarm_id, metric, threshold, description in specs
        )


@dataclass(frozen=True, kw_only=True)
class _CheckerSettings:
    """The OCSP checker's settings, as the Lambda environment carries them."""

    fail_mode: OcspFailMode
    stale_if_error: cdk.Duration
    cache_max_age: cdk.Duration
    cache_max_entries: int
    ocsp_timeout: cdk.Duration
    ocsp_deadline: cdk.Duration
    max_age_without_next_update: cdk.Duration
    max_response_bytes: int
    nonce: bool
    hash_algorithm: OcspHashAlgorithm

    def check(self, problems: Problems, *, timeout: object) -> None:
        """Record every value the handler would refuse (it would then deny every device).

        The bounds are those of ``lambda_src/ocsp_core/config.py``; a test feeds generated
        values to both and requires them to agree.
        """
        millis = {
            keyword: _milliseconds(problems, keyword, value)
            for keyword, value in {
                "stale_if_error": self.stale_if_error,
                "cache_max_age": self.cache_max_age,
                "max_age_without_next_update": self.max_age_without_next_update,
                "ocsp_timeout": self.ocsp_timeout,
                "ocsp_deadline": self.ocsp_deadline,
                "timeout": timeout,
            }.items()
        }
        for keyword in ("stale_if_error", "cache_max_age", "max_age_without_next_update"):
            value = millis[keyword]
            problems.require(
                value is None or (value % 1000 == 0 and value <= MAX_SETTING_SECONDS * 1000),
                keyword,
                "whole seconds from 0 to 1 day",
                shown(getattr(self, keyword)),
            )
        max_deadline = MAX_OCSP_DEADLINE.to_milliseconds()
        for keyword in ("ocsp_timeout", "ocsp_deadline"):
            value = millis[keyword]
            problems.require(
                value is None or 0 < value <= max_deadline,
                keyword,
                f"above 0 and at most {max_deadline:g} ms (IoT Core's budget is ~5 s)",
                shown(getattr(self, keyword)),
            )
        ocsp_timeout, deadline, lambda_timeout = (
            millis["ocsp_timeout"],
            millis["ocsp_deadline"],
            millis["timeout"],
        )
        if ocsp_timeout is not None and deadline is not None and ocsp_timeout > deadline:
            problems.add(
                "ocsp_timeout",
                f"at most ocsp_deadline ({shown(self.ocsp_deadline)})",
                shown(self.ocsp_timeout),
            )
        if lambda_timeout is not None:
            problems.require(
                lambda_timeout > 0 and lambda_timeout % 1000 == 0,
                "timeout",
                "a positive whole number of seconds (Lambda timeouts are whole seconds)",
                shown(timeout),
            )
            if deadline is not None and deadline >= lambda_timeout:
                # The function would be cut off before the handler answers: every slow
                # responder would then deny, whatever fail_mode says.
                problems.add(
                    "ocsp_deadline",
                    f"below the Lambda timeout ({shown(timeout)}) so that the handler answers "
                    "before the function times out",
                    shown(self.ocsp_deadline),
                    "lower ocsp_deadline or raise timeout",
                )
        problems.require(
            _is_int(self.cache_max_entries) and 0 <= self.cache_max_entries <= 1_000_000,
            "cache_max_entries",
            "a whole number between 0 (no cache) and 1,000,000",
            self.cache_max_entries,
        )
        problems.require(
            _is_int(self.max_response_bytes) and 1024 <= self.max_response_bytes <= 1_048_576,
            "max_response_bytes",
            "a whole number between 1024 and 1048576",
            self.max_response_bytes,
        )

    def environment(
        self,
        *,
        issuers: Sequence[TrustedIssuer],
        allowed_urls: Sequence[str],
        responder_url: str | None,
    ) -> dict[str, str]:
        """The Lambda environment (see the contract in ``_preauth_function``)."""

        def seconds(duration: object) -> str:
            # Not a Duration: already reported by ``check``; the size check still runs.
            if not isinstance(duration, cdk.Duration):
                return ""
            return contract.seconds_text(duration.to_milliseconds())

        environment = {
            contract.ENV_TRUSTED_CA_PEM: "\n".join(
                i.issuing_ca_certificate_pem.strip() for i in issuers
            ),
            contract.ENV_ALLOWED_URLS: ",".join(allowed_urls),
            contract.ENV_FAIL_MODE: self.fail_mode.value,
            contract.ENV_STALE_IF_ERROR: seconds(self.stale_if_error),
            contract.ENV_TIMEOUT: seconds(self.ocsp_timeout),
            contract.ENV_DEADLINE: seconds(self.ocsp_deadline),
            contract.ENV_CACHE_MAX_SECONDS: seconds(self.cache_max_age),
            contract.ENV_CACHE_MAX_ENTRIES: str(self.cache_max_entries),
            contract.ENV_MAX_AGE_WITHOUT_NEXT_UPDATE: seconds(self.max_age_without_next_update),
            contract.ENV_MAX_RESPONSE_BYTES: str(self.max_response_bytes),
            contract.ENV_NONCE: "on" if self.nonce else "off",
            contract.ENV_HASH_ALGORITHM: self.hash_algorithm.value,
        }
        if responder_url is not None:
            environment[contract.ENV_RESPONDER_URL] = responder_url
        return environment


def _milliseconds(problems: Problems, keyword: str, value: object) -> float | None:
    """``value`` in milliseconds; ``None`` (and a recorded problem) unless it is a Duration."""
    if isinstance(value, cdk.Duration):
        return value.to_milliseconds()
    problems.add(keyword, "a cdk.Duration", value, "e.g. cdk.Duration.seconds(2)")
    return None


def _is_int(value: object) -> bool:
    """A whole number, not a bool (``True`` would reach the Lambda as ``"True"``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _allowed_urls(
    problems: Problems,
    issuers: Sequence[TrustedIssuer],
    allowed_responder_urls: Sequence[str],
    responder_url: str | None,
) -> list[str]:
    """Check every URL; return the allow-list: the CAs' responders, then the extra URLs."""
    named: list[tuple[str, str]] = [
        (f"trusted_cas[{i}].ocsp_responder_url", issuer.ocsp_responder_url)
        for i, issuer in enumerate(issuers)
        if issuer.ocsp_responder_url is not None
    ]
    if isinstance(allowed_responder_urls, str) or not isinstance(allowed_responder_urls, Sequence):
        problems.add(
            "allowed_responder_urls",
            "a list of URLs",
            allowed_responder_urls,
            "wrap a single URL in a list",
        )
        allowed_responder_urls = []
    extra = [(f"allowed_responder_urls[{i}]", u) for i, u in enumerate(allowed_responder_urls)]
    for keyword, url in [*named, *extra]:
        _check_url(problems, keyword, url)
    if responder_url is not None:
        _check_url(problems, "responder_url", responder_url)
    # Each URL once, in order; a URL that is not a string was reported above.
    allowed = list(dict.fromkeys(url for _, url in [*named, *extra] if isinstance(url, str)))
    problems.require(
        bool(allowed) or responder_url is not None,
        "allowed_responder_urls",
        "at least one OCSP responder URL (a trusted CA's ocsp_responder_url, "
        "allowed_responder_urls or responder_url)",
        list(allowed_responder_urls),
        "without one every device would be denied",
    )
    return allowed


#: Construct id of the stack-wide singleton Lambda behind every ``AwsCustomResource``.
_AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def _acknowledge_aws_custom_resource_provider(stack: cdk.Stack) -> None:
    """The CDK-owned singleton provider of ``AwsCustomResource`` (shared in the stack)."""
    provider = stack.node.try_find_child(_AWS_CUSTOM_RESOURCE_PROVIDER_ID)
    if provider is None:  # pragma: no cover - created by the AwsCustomResource just before
        return
    role = provider.node.try_find_child("ServiceRole")
    if role is not None:
        acknowledge(
            role.node.find_child("Resource"),
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource provider role: the managed policy only lets it write its "
            "own CloudWatch logs",
        )
    function = provider.node.find_child("Resource")
    acknowledge(
        function,
        "Serverless::Serverless-LambdaDLQ",
        "CDK's AwsCustomResource provider is invoked by CloudFormation during deployments only; "
        "a failure fails the deployment, there is nothing to redrive",
    )
    acknowledge(
        function,
        "Serverless::Serverless-LambdaTracing",
        "CDK's AwsCustomResource provider (one IoT DescribeEndpoint call per deployment) offers "
        "no tracing option",
    )


def _describe_endpoint_call() -> cr.AwsSdkCall:
    return cr.AwsSdkCall(
        service="Iot",
        action="describeEndpoint",
        parameters={"endpointType": "iot:Data-ATS"},
        physical_resource_id=cr.PhysicalResourceId.of("iot-Data-ATS-endpoint"),
        output_paths=["endpointAddress"],
    )


# Validation ----------------------------------------------------------------------------------


def _check_domain_name(
    problems: Problems, domain_name: object, hosted_zone: route53.IHostedZone | None
) -> None:
    if not isinstance(domain_name, str):
        problems.add("domain_name", "a string", domain_name)
        return
    if hosted_zone is not None and not is_token(hosted_zone.zone_name + domain_name):
        zone = hosted_zone.zone_name.rstrip(".")
        problems.require(
            domain_name.endswith(f".{zone}"),
            "domain_name",
            f"a name below hosted_zone {zone!r} (the CNAME is created there, and DNS allows "
            "no CNAME at the zone apex)",
            domain_name,
        )
    if is_token(domain_name):
        return
    ok = (
        is_dns_name(domain_name)
        and domain_name == domain_name.lower()
        and not domain_name.rsplit(".", 1)[-1].isdigit()
    )
    problems.require(
        ok,
        "domain_name",
        "a lower-case fully qualified domain name such as 'devices.example.com' (labels of "
        "a-z, 0-9 and '-', at most 253 characters, no wildcard, no trailing dot)",
        domain_name,
    )
    if ok and domain_name.endswith(".amazonaws.com"):
        problems.add(
            "domain_name",
            "a domain you own (IoT's own amazonaws.com endpoints need no custom domain)",
            domain_name,
        )


def _check_certificates(
    problems: Problems,
    server_certificate: object,
    validation_certificate: object,
) -> None:
    if server_certificate is None:
        problems.add(
            "server_certificate",
            "an ACM certificate (acm.ICertificate) for domain_name",
            None,
        )
    elif not hasattr(server_certificate, "certificate_arn"):
        problems.add("server_certificate", "an acm.ICertificate", type(server_certificate).__name__)
    if validation_certificate is not None and not hasattr(
        validation_certificate, "certificate_arn"
    ):
        problems.add(
            "validation_certificate", "an acm.ICertificate", type(validation_certificate).__name__
        )
    if isinstance(server_certificate, acm.PrivateCertificate) and validation_certificate is None:
        problems.add(
            "validation_certificate",
            "a public ACM certificate for domain_name when server_certificate is issued by a "
            "private CA",
            None,
            "IoT Core proves domain ownership with it (e.g. acm.Certificate with DNS validation)",
        )
    if isinstance(validation_certificate, acm.PrivateCertificate):
        problems.add(
            "validation_certificate",
            "a publicly trusted ACM certificate",
            "an acm.PrivateCertificate",
        )


def _check_trusted_cas(problems: Problems, trusted_cas: object) -> list[TrustedIssuer]:
    if isinstance(trusted_cas, str) or not isinstance(trusted_cas, Sequence):
        problems.add(
            "trusted_cas",
            "a list of OcspPrivateCa or TrustedCa.from_pem(...) objects",
            type(trusted_cas).__name__,
        )
        return []
    problems.require(
        len(trusted_cas) > 0,
        "trusted_cas",
        "at least one CA (an OcspPrivateCa or TrustedCa.from_pem(...))",
        list(trusted_cas),
    )
    issuers: list[TrustedIssuer] = []
    for index, issuer in enumerate(trusted_cas):
        keyword = f"trusted_cas[{index}]"
        if not isinstance(issuer, TrustedIssuer):
            problems.add(
                keyword,
                "an object with issuing_ca_certificate_pem and ocsp_responder_url "
                "(OcspPrivateCa or TrustedCa.from_pem(...))",
                type(issuer).__name__,
            )
            continue
        pem = issuer.issuing_ca_certificate_pem
        if any(issuer is other or pem == other.issuing_ca_certificate_pem for other in issuers):
            problems.add(
                keyword,
                "a CA not already in trusted_cas (each certificate takes room in the Lambda's "
                "4 KB environment)",
                _abbreviate(pem) if isinstance(pem, str) else pem,
                "drop the repeat",
            )
            continue
        if not isinstance(pem, str):
            problems.add(f"{keyword}.issuing_ca_certificate_pem", "a PEM string", pem)
            continue
        if not is_token(pem) and not _is_one_pem_certificate(pem):
            problems.add(
                f"{keyword}.issuing_ca_certificate_pem",
                "exactly one PEM 'CERTIFICATE' block with a DER body",
                _abbreviate(pem),
            )
            continue
        issuers.append(issuer)
    return issuers


def _is_one_pem_certificate(pem: str) -> bool:
    match = _PEM_CERT.match(pem.strip())
    if match is None:
        return False
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    # A certificate is a DER SEQUENCE.
    return len(der) > 64 and der[0] == 0x30


def _check_url(problems: Problems, keyword: str, url: object) -> None:
    if not isinstance(url, str):
        problems.add(keyword, "an http:// or https:// URL", url)
        return
    if is_token(url):
        return
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    ok = (
        parts is not None
        and port_ok
        and parts.scheme in {"http", "https"}
        and _is_host(parts.hostname)
        and parts.username is None
        and not parts.query
        and not parts.fragment
        and "," not in url
        and "#" not in url
        and len(url) <= contract.MAX_URL_CHARS
        and contract.URL_CHARACTERS.fullmatch(url) is not None
    )
    problems.require(
        ok,
        keyword,
        "an http:// or https:// URL of printable ASCII with a host and no credentials, query, "
        f"fragment, comma or space, at most {contract.MAX_URL_CHARS} characters "
        "(e.g. 'http://ocsp.example.com')",
        url,
    )


def _is_host(host: str | None) -> bool:
    """A host the handler can connect to: a DNS name, an IPv4 or an IPv6 address."""
    if not host:
        return False
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    name = host.removesuffix(".")
    return len(name) <= contract.MAX_HOST_CHARS and all(
        contract.HOST_LABEL.fullmatch(label) for label in name.split(".")
    )


def _check_settings(
    problems: Problems,
    *,
    config_name: str,
    authentication_type: DomainAuthenticationType,
    custom_authorizer_name: str | None,
    tls_security_policy: str,
    tags: Mapping[str, str],
    memory_size: int,
    reserved: int | None,
    provisioned: int | None,
    responder_errors_alarm_threshold: int,
) -> None:
    if not is_token(config_name):
        problems.require(
            bool(_CONFIG_NAME.match(config_name)) and not config_name.startswith("IoT:"),
            "domain_configuration_name",
            "1-128 characters of letters, digits, '_', '.' and '-'",
            config_name,
        )
    if authentication_type is DomainAuthenticationType.CUSTOM_AUTH_X509:
        problems.require(
            custom_authorizer_name is not None,
            "custom_authorizer_name",
            "the default authorizer's name when authentication_type is CUSTOM_AUTH_X509",
            custom_authorizer_name,
        )
    else:
        problems.require(
            custom_authorizer_name is None,
            "custom_authorizer_name",
            "unset unless authentication_type is CUSTOM_AUTH_X509",
            custom_authorizer_name,
        )
    if not is_token(tls_security_policy):
        problems.require(
            tls_security_policy in TlsSecurityPolicy.ALL,
            "tls_security_policy",
            f"one of {', '.join(TlsSecurityPolicy.ALL)}",
            tls_security_policy,
        )
    for key, value in tags.items():
        problems.require(
            0 < len(key) <= 128 and not key.startswith("aws:"),
            f"tags[{key!r}]",
            "a key of 1-128 characters not starting with 'aws:'",
            key,
        )
        problems.require(
            len(value) <= 256, f"tags[{key!r}]", "a value of at most 256 characters", value
        )
    problems.require(
        _is_int(memory_size) and 128 <= memory_size <= 10_240,
        "memory_size",
        "a whole number between 128 and 10240 (MB)",
        memory_size,
    )
    if reserved is not None:
        problems.require(
            _is_int(reserved) and reserved >= 1,
            "reserved_concurrent_executions",
            "a whole number, at least 1 (0 would deny every device)",
            reserved,
        )
    if provisioned is not None:
        problems.require(
            _is_int(provisioned) and provisioned >= 1,
            "provisioned_concurrent_executions",
            "a whole number, at least 1",
            provisioned,
        )
        if isinstance(reserved, int) and _is_int(provisioned) and provisioned > reserved:
            problems.add(
                "provisioned_concurrent_executions",
                f"at most reserved_concurrent_executions ({reserved})",
                provisioned,
            )
    problems.require(
        _is_int(responder_errors_alarm_threshold) and responder_errors_alarm_threshold >= 1,
        "responder_errors_alarm_threshold",
        "a whole number, at least 1",
        responder_errors_alarm_threshold,
    )


def _abbreviate(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
