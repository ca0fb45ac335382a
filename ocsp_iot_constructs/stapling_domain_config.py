"""``StaplingDomainConfig``: an AWS IoT Core custom domain whose server certificate's OCSP answer
IoT Core staples into every TLS handshake, optionally through a verifying stapling Lambda.

Example::

    import aws_cdk as cdk
    from aws_cdk import aws_certificatemanager as acm
    from ocsp_iot_constructs.stapling_domain_config import OcspStapling, StaplingDomainConfig

    stack = cdk.Stack(app, "Fleet")
    certificate = acm.Certificate.from_certificate_arn(stack, "Cert", "arn:aws:acm:...")
    StaplingDomainConfig(
        stack,
        "Endpoint",
        domain_name="devices.example.com",
        server_certificate=certificate,
        stapling=OcspStapling(),  # IoT Core fetches the answer from the certificate's responder
    )

For stapling *and* the pre-auth check of device certificates on one endpoint, use
``OcspValidatingDomain(..., stapling=OcspStapling(...))`` instead: IoT Core serves a domain name
from one domain configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from constructs import Construct

from . import _domain_config, _stapling_props
from ._ocsp_function import check_alarm_actions
from ._stapling import ServerCertificateStapling
from ._stapling_types import OcspAuthorizedResponder, OcspStapling
from ._types import TlsSecurityPolicy
from ._validation import Problems, check_bool, check_mapping, warn

__all__ = [
    "OcspAuthorizedResponder",
    "OcspStapling",
    "ServerCertificateStapling",
    "StaplingDomainConfig",
]


class StaplingDomainConfig(Construct):
    """An IoT Core custom domain with server-certificate OCSP stapling.

    Creates:

    * ``AWS::IoT::DomainConfiguration`` (the default child, id ``Resource``) for
      ``domain_name`` with the ACM server certificate and
      ``ServerCertificateConfig.EnableOCSPCheck``, plus ``OcspLambdaArn`` (with the stapling
      Lambda) and ``OcspAuthorizedResponderArn`` (with an authorized responder);
    * under the child ``Stapling`` (:class:`ServerCertificateStapling`): the stapling Lambda,
      its log group, role and ``AWS::Lambda::Permission`` for ``iot.amazonaws.com`` (scoped to
      this account and the domain configuration), when ``responder_function=True``; and the
      alarms (on by default);
    * optionally a Route 53 CNAME to the account's ``iot:Data-ATS`` endpoint.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        domain_name: str,
        server_certificate: acm.ICertificate,
        validation_certificate: acm.ICertificate | None = None,
        stapling: OcspStapling | None = None,
        domain_configuration_name: str | None = None,
        tls_security_policy: str = TlsSecurityPolicy.TLS13_1_2_2022_10,
        enabled: bool = True,
        tags: Mapping[str, str] | None = None,
        hosted_zone: route53.IHostedZone | None = None,
        record_ttl: cdk.Duration | None = None,
        alarms: bool = True,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        ok_actions: Sequence[cloudwatch.IAlarmAction] = (),
    ) -> None:
        """
        :param domain_name: the FQDN devices connect to (and send as SNI).
        :param server_certificate: the ACM certificate IoT serves for ``domain_name``, whose
            OCSP answer is stapled (not self-signed).
        :param validation_certificate: a *public* ACM certificate for ``domain_name``; required
            when ``server_certificate`` is privately signed. Default: none.
        :param stapling: how the answer is fetched and checked (:class:`OcspStapling`).
            Default: ``OcspStapling()``, IoT Core fetches it from the certificate's responder.
        :param domain_configuration_name: Default: a name derived from the construct path.
        :param tls_security_policy: Default: ``IoTSecurityPolicy_TLS13_1_2_2022_10``.
        :param enabled: the domain configuration status. Default: true (``ENABLED``).
        :param tags: tags for every taggable resource of the construct. Default: none.
        :param hosted_zone: when set, a CNAME ``domain_name`` -> the account's ``iot:Data-ATS``
            endpoint is created in it. Default: no DNS record.
        :param record_ttl: of the CNAME. Default: 5 minutes.
        :param alarms: create the stapling alarms (see :class:`ServerCertificateStapling`).
            Default: true.
        :param alarm_actions: actions of every alarm when it goes to ALARM. Default: none.
        :param ok_actions: actions of every alarm when it returns to OK. Default: none.
        """
        super().__init__(scope, id)
        problems = Problems("StaplingDomainConfig", id)
        config_name = _domain_config.config_name_of(problems, self, domain_configuration_name)
        _domain_config.check_domain_name(problems, domain_name, hosted_zone)
        _domain_config.check_unique_domain_name(problems, self, domain_name)
        _domain_config.check_certificates(problems, server_certificate, validation_certificate)
        checked_tags = check_mapping(
            problems, "tags", {} if tags is None else tags, "tag keys to values"
        )
        _domain_config.check_domain_settings(
            problems,
            config_name=config_name,
            tls_security_policy=tls_security_policy,
            tags=checked_tags,
        )
        check_bool(problems, "enabled", enabled)
        check_bool(problems, "alarms", alarms)
        ttl = _domain_config.check_record_ttl(problems, record_ttl)
        check_alarm_actions(problems, "alarm_actions", alarm_actions)
        check_alarm_actions(problems, "ok_actions", ok_actions)
        checked = _stapling_props.check(
            problems, OcspStapling() if stapling is None else stapling, stack=cdk.Stack.of(self)
        )
        problems.raise_if_any()
        if checked is None:  # pragma: no cover - recorded above, so raise_if_any raised
            msg = "stapling must be an OcspStapling"
            raise TypeError(msg)
        for warning_id, message in _stapling_props.warnings(checked):
            warn(self, warning_id, message)

        self.domain_name: str = domain_name
        """The FQDN devices connect to (their SNI)."""
        self.domain_configuration_name: str = config_name
        """The domain configuration's name (``DomainConfigurationName``; also its ``Ref``)."""
        self.stapling: ServerCertificateStapling = ServerCertificateStapling(
            self,
            "Stapling",
            props=checked,
            domain_configuration_name=config_name,
            domain_name=domain_name,
            server_certificate=server_certificate,
            alarms=alarms,
            alarm_actions=tuple(alarm_actions),
            ok_actions=tuple(ok_actions),
        )
        """The stapling part: the Lambda (if any), its permission, alarms and metrics."""
        permissions = [p for p in (self.stapling.invoke_permission,) if p is not None]
        self.domain_configuration: iot.CfnDomainConfiguration = (
            _domain_config.create_domain_configuration(
                self,
                _domain_config.DomainSpec(
                    name=config_name,
                    domain_name=domain_name,
                    server_certificate=server_certificate,
                    validation_certificate=validation_certificate,
                    tls_security_policy=tls_security_policy,
                    enabled=enabled,
                    server_certificate_config=self.stapling.server_certificate_config,
                ),
                permissions=permissions,
            )
        )
        """The ``AWS::IoT::DomainConfiguration`` (also ``node.default_child``)."""
        self.domain_configuration_arn: str = self.domain_configuration.attr_arn
        """The domain configuration's ARN (a deploy-time value)."""
        self.function: lambda_.Function | None = self.stapling.function
        """The stapling Lambda, or ``None`` for IoT-managed stapling."""
        self.alarms: tuple[cloudwatch.Alarm, ...] = self.stapling.alarms
        """The stapling alarms."""

        self.endpoint_address: str | None = None
        """The account's ``iot:Data-ATS`` endpoint (deploy-time), when ``hosted_zone`` is set."""
        self.cname_record: route53.CnameRecord | None = None
        """The CNAME ``domain_name`` -> the endpoint, when ``hosted_zone`` is set."""
        if hosted_zone is not None:
            record = _domain_config.create_dns(
                self,
                hosted_zone=hosted_zone,
                domain_name=domain_name,
                ttl=ttl,
                domain_configuration=self.domain_configuration,
                comment="Devices reach the OCSP-stapling IoT domain through this name",
            )
            self.endpoint_address, self.cname_record = record.endpoint_address, record.cname_record

        for key, value in checked_tags.items():
            cdk.Tags.of(self).add(key, value)

    def metric_staple_retrievals(self, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        """IoT Core's successful staple retrievals for this domain configuration, per hour."""
        return self.stapling.metric_staple_retrievals(period=period)

    def metric_days_to_expiry(self) -> cloudwatch.Metric:
        """Days until the server certificate expires (ACM's daily ``DaysToExpiry``)."""
        return self.stapling.metric_days_to_expiry()
