"""``ServerCertificateStapling``: the OCSP stapling part of one IoT Core domain configuration
(its ``ServerCertificateConfig``), with the optional stapling Lambda, its invoke permission,
alarms and metrics.

``StaplingDomainConfig`` and ``OcspValidatingDomain(stapling=...)`` each create one as their
child ``Stapling``, before the domain configuration that uses :attr:`server_certificate_config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import _domain_config
from . import _stapling_function as contract
from ._ocsp_function import METRIC_PERIOD, AlarmSpec, OcspFunction, create_alarms
from ._stapling_props import StaplingProps
from ._stapling_types import OcspAuthorizedResponder

__all__ = ["ServerCertificateStapling"]

_ServerCertificateConfig = iot.CfnDomainConfiguration.ServerCertificateConfigProperty

#: IoT Core's staple metric (namespace ``AWS/IoT``, dimension ``DomainConfigurationName``).
IOT_NAMESPACE = "AWS/IoT"
STAPLE_RETRIEVALS = "RetrieveOCSPStapleData.Success"
DIMENSION_DOMAIN_CONFIGURATION_NAME = "DomainConfigurationName"
#: IoT Core refreshes the staple about hourly: its metric is read per hour.
RETRIEVAL_PERIOD = cdk.Duration.hours(1)
#: ACM publishes ``DaysToExpiry`` once a day.
EXPIRY_PERIOD = cdk.Duration.days(1)

#: What each standard alarm of the stapling Lambda means for the endpoint.
_LAMBDA_ALARM_TEXT = {
    "ErrorsAlarm": "The OCSP stapling Lambda failed: IoT Core got no new staple from this call "
    "(it keeps stapling its last one until that one's nextUpdate).",
    "ThrottlesAlarm": "The OCSP stapling Lambda was throttled: IoT Core got no new staple.",
    "DurationAlarm": "The OCSP stapling Lambda's p99 duration is above 80% of its timeout.",
}


class ServerCertificateStapling(Construct):
    """Server-certificate OCSP stapling of one domain configuration (created for you by
    ``StaplingDomainConfig`` and ``OcspValidatingDomain(stapling=...)``).

    It exposes what a dashboard needs (:attr:`domain_configuration_name`,
    :meth:`metric_staple_retrievals`, :meth:`metric_days_to_expiry`), the stapling Lambda's
    resources when there is one, and its metrics.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        props: StaplingProps,
        domain_configuration_name: str,
        domain_name: str,
        server_certificate: acm.ICertificate,
        alarms: bool,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        ok_actions: Sequence[cloudwatch.IAlarmAction] = (),
    ) -> None:
        super().__init__(scope, id)
        self.domain_configuration_name: str = domain_configuration_name
        """The name of the domain configuration that staples (the metric dimension)."""
        self.server_certificate: acm.ICertificate = server_certificate
        """The certificate whose OCSP answer is stapled."""
        self.authorized_responder: OcspAuthorizedResponder | None = props.authorized_responder
        """The delegated responder IoT Core verifies staples against, if any."""

        self._function_parts: OcspFunction | None = None
        self.function: lambda_.Function | None = None
        """The stapling Lambda (``OcspLambdaArn``), or ``None`` for IoT-managed stapling."""
        self.role: iam.Role | None = None
        """The stapling Lambda's role (it may only write its own log group and traces)."""
        self.log_group: logs.LogGroup | None = None
        """The stapling Lambda's log group (one JSON/EMF line per call)."""
        self.source_arn_pattern: str | None = None
        """The ``SourceArn`` pattern of the invoke permission."""
        self.invoke_permission: lambda_.CfnPermission | None = None
        """``lambda:InvokeFunction`` for ``iot.amazonaws.com``, created before the domain."""
        if props.function is not None:
            parts = OcspFunction(
                self,
                handler=contract.HANDLER,
                description=f"OCSP stapling responder for IoT domain {domain_name}",
                role_purpose="OCSP stapling Lambda",
                synchronous_caller=(
                    "IoT Core invokes the stapling Lambda synchronously, about hourly, for its "
                    "server certificate's OCSP answer"
                ),
                environment=props.environment,
                options=props.function,
            )
            self._function_parts = parts
            self.function, self.role, self.log_group = parts.function, parts.role, parts.log_group
            self.source_arn_pattern = _domain_config.source_arn_pattern(
                self, domain_configuration_name
            )
            self.invoke_permission = _domain_config.invoke_permission(
                self, "IotInvokePermission", parts.invoked, self.source_arn_pattern
            )

        responder = props.authorized_responder
        config = iot.CfnDomainConfiguration.ServerCertificateConfigProperty(
            enable_ocsp_check=True,
            ocsp_lambda_arn=self.function.function_arn if self.function is not None else None,
            ocsp_authorized_responder_arn=(
                responder.certificate.certificate_arn if responder is not None else None
            ),
        )
        self.server_certificate_config: _ServerCertificateConfig = config
        """The domain configuration's ``ServerCertificateConfig``."""

        self.alarms: tuple[cloudwatch.Alarm, ...] = ()
        """The stapling alarms (retrievals, certificate expiry, and the Lambda's)."""
        if alarms:
            self.alarms = create_alarms(
                self, self._alarm_specs(props), alarm_actions=alarm_actions, ok_actions=ok_actions
            )

    def _alarm_specs(self, props: StaplingProps) -> list[AlarmSpec]:
        hours = props.retrieval_alarm_hours
        specs = [
            AlarmSpec(
                "StapleRetrievalsAlarm",
                self.metric_staple_retrievals(),
                1,
                f"IoT Core has not retrieved an OCSP staple for {self.domain_configuration_name} "
                f"for {hours} hour(s) (it refreshes hourly): once the last staple's nextUpdate "
                "passes, TLS clients get none.",
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=hours,
                # no data means no successful retrieval
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            AlarmSpec(
                "DaysToExpiryAlarm",
                self.metric_days_to_expiry(),
                props.days_to_expiry_threshold,
                f"The server certificate of {self.domain_configuration_name} expires in fewer "
                f"than {props.days_to_expiry_threshold} days: renew it (an ACM-managed one "
                "should have renewed by now).",
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            ),
        ]
        if self._function_parts is not None:
            specs += [
                dataclasses.replace(spec, description=_LAMBDA_ALARM_TEXT[spec.id])
                for spec in self._function_parts.standard_alarms("The OCSP stapling Lambda")
            ]
            specs.append(
                AlarmSpec(
                    "EmptyAnswersAlarm",
                    self.metric_empty_answers(),
                    1,
                    "The OCSP stapling Lambda returned no staple to IoT Core (see the reason in "
                    "its log line): the endpoint staples its last answer until that answer's "
                    "nextUpdate, then none.",
                )
            )
        return specs

    # -- what a dashboard needs ----------------------------------------------------------------

    def metric_staple_retrievals(self, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        """IoT Core's successful staple retrievals (``AWS/IoT``
        ``RetrieveOCSPStapleData.Success``, by ``DomainConfigurationName``), summed per hour."""
        return cloudwatch.Metric(
            namespace=IOT_NAMESPACE,
            metric_name=STAPLE_RETRIEVALS,
            dimensions_map={DIMENSION_DOMAIN_CONFIGURATION_NAME: self.domain_configuration_name},
            statistic="Sum",
            period=period or RETRIEVAL_PERIOD,
        )

    def metric_days_to_expiry(self) -> cloudwatch.Metric:
        """Days until the server certificate expires (``AWS/CertificateManager``
        ``DaysToExpiry``, by ``CertificateArn``), the daily minimum."""
        return self.server_certificate.metric_days_to_expiry(
            period=EXPIRY_PERIOD, statistic="Minimum"
        )

    # -- the stapling Lambda's metrics ------------------------------------------------------------

    def _parts(self, what: str) -> OcspFunction:
        if self._function_parts is None:
            msg = (
                f"{what} needs the stapling Lambda: this domain uses IoT-managed stapling "
                "(OcspStapling(responder_function=True) deploys the Lambda)"
            )
            raise ValueError(msg)
        return self._function_parts

    def metric(
        self,
        metric_name: str,
        *,
        dimensions: Mapping[str, str] | None = None,
        statistic: str = "Sum",
        period: cdk.Duration | None = None,
    ) -> cloudwatch.Metric:
        """A metric the stapling Lambda emits (namespace ``OcspIot/Stapling``, dimension
        ``FunctionName`` plus ``dimensions``)."""
        parts = self._parts("metric")
        if metric_name not in contract.METRIC_NAMES:
            allowed = ", ".join(contract.METRIC_NAMES)
            msg = f"metric_name must be one of {allowed}, got {metric_name!r}"
            raise ValueError(msg)
        return cloudwatch.Metric(
            namespace=contract.NAMESPACE,
            metric_name=metric_name,
            dimensions_map={
                contract.DIMENSION_FUNCTION_NAME: parts.function.function_name,
                **(dimensions or {}),
            },
            statistic=statistic,
            period=period or METRIC_PERIOD,
        )

    def metric_answers(
        self, *, outcome: str | None = None, reason: str | None = None
    ) -> cloudwatch.Metric:
        """Answers, by ``outcome`` (``STAPLE``/``EMPTY``) or by ``reason`` (not both: the
        handler emits the two dimension sets separately)."""
        if outcome is not None and reason is not None:
            msg = "metric_answers takes outcome or reason, not both (no such dimension set)"
            raise ValueError(msg)
        if outcome is not None and outcome not in contract.OUTCOMES:
            msg = f"outcome must be one of {', '.join(contract.OUTCOMES)}, got {outcome!r}"
            raise ValueError(msg)
        if reason is not None and reason not in contract.REASONS:
            msg = f"reason must be one of {', '.join(contract.REASONS)}, got {reason!r}"
            raise ValueError(msg)
        dimensions: dict[str, str] = {}
        if outcome is not None:
            dimensions[contract.DIMENSION_OUTCOME] = outcome
        if reason is not None:
            dimensions[contract.DIMENSION_REASON] = reason
        return self.metric(contract.ANSWERS, dimensions=dimensions)

    def metric_staples(self) -> cloudwatch.Metric:
        """Calls that returned a verified answer (``Outcome=STAPLE``)."""
        return self.metric_answers(outcome=contract.STAPLE)

    def metric_empty_answers(self) -> cloudwatch.Metric:
        """Calls that returned ``""`` (``Outcome=EMPTY``): IoT Core got no new staple."""
        return self.metric_answers(outcome=contract.EMPTY)

    def metric_stale_staples(self) -> cloudwatch.Metric:
        """Calls answered with the last verified answer because the responder failed."""
        return self.metric_answers(reason="STALE_IF_ERROR")

    def metric_revoked(self) -> cloudwatch.Metric:
        """Calls that returned a revoked answer for the server certificate."""
        return self.metric_answers(reason="REVOKED")

    def metric_cache_hits(self) -> cloudwatch.Metric:
        """Calls answered from the Lambda's cache."""
        return self.metric(contract.CACHE_HITS)

    def metric_responder_requests(self) -> cloudwatch.Metric:
        """Requests sent to the responder."""
        return self.metric(contract.RESPONDER_REQUESTS)

    def metric_responder_errors(self) -> cloudwatch.Metric:
        """Responder requests that yielded no staple (unreachable, HTTP error, bad answer)."""
        return self.metric(contract.RESPONDER_ERRORS)

    def metric_responder_latency(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        """Latency of responder requests, milliseconds."""
        return self.metric(contract.RESPONDER_LATENCY, statistic=statistic)

    def metric_handler_latency(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        """Latency of a whole call as the handler measures it, milliseconds."""
        return self.metric(contract.HANDLER_LATENCY, statistic=statistic)

    def metric_errors(self) -> cloudwatch.Metric:
        """Lambda errors of the stapling function."""
        return self._parts("metric_errors").metric_errors()

    def metric_throttles(self) -> cloudwatch.Metric:
        """Lambda throttles of the stapling function."""
        return self._parts("metric_throttles").metric_throttles()

    def metric_duration(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        """Lambda duration of the stapling function, milliseconds."""
        return self._parts("metric_duration").metric_duration(statistic=statistic)

    def metric_invocations(self) -> cloudwatch.Metric:
        """Lambda invocations (about one per hour)."""
        return self._parts("metric_invocations").metric_invocations()

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to invoke the stapling Lambda (e.g. a smoke test that asks for the
        staple). Grants ``lambda:InvokeFunction``."""
        return self._parts("grant_invoke").invoked.grant_invoke(grantee)
