"""The internal building block of every Lambda the library deploys: its own log group, a
least-privilege role, the function (bundled locally, see ``_bundling``), an optional alias with
provisioned concurrency, the deliberate cdk-nag acknowledgements, alarms and ``metric_*``.

:class:`OcspFunction` is not a construct of its own: it creates its children directly in the
scope it is given, so the construct ids (``LogGroup``, ``ServiceRole``, ``Function``, ``Alias``,
``*Alarm``) stay where they were, and so do the logical ids of every deployed resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._bundling import lambda_code
from ._validation import Problems, acknowledge

#: The Lambda runtime: the latest Python that aws-cdk-lib offers. The Lambda code itself runs on
#: Python 3.11 and later (the tests run it on the interpreter of the checkout).
RUNTIME = lambda_.Runtime.PYTHON_3_14

#: Period of every metric and alarm of the library's functions.
METRIC_PERIOD = cdk.Duration.minutes(5)

#: Lambda's memory bounds, MB.
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class FunctionOptions:
    """The Lambda-level props of one of the library's functions (already defaulted).

    :param architecture: the function's architecture.
    :param memory_size: MB.
    :param timeout: the function timeout.
    :param log_retention: of the function's own log group.
    :param tracing: X-Ray active tracing.
    :param reserved_concurrent_executions: ``None``: unreserved.
    :param provisioned_concurrent_executions: when set, an alias ``live`` with this provisioned
        concurrency is what gets invoked.
    """

    architecture: lambda_.Architecture
    memory_size: int
    timeout: cdk.Duration
    log_retention: logs.RetentionDays
    tracing: bool
    reserved_concurrent_executions: int | None = None
    provisioned_concurrent_executions: int | None = None

    def check(self, problems: Problems) -> None:
        """Record every value Lambda would refuse (the timeout is checked with the OCSP
        options, whose deadline it bounds)."""
        problems.require(
            _is_int(self.memory_size) and MIN_MEMORY_MB <= self.memory_size <= MAX_MEMORY_MB,
            "memory_size",
            f"a whole number between {MIN_MEMORY_MB} and {MAX_MEMORY_MB} (MB)",
            self.memory_size,
        )
        reserved, provisioned = (
            self.reserved_concurrent_executions,
            self.provisioned_concurrent_executions,
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


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: construct id, metric, threshold (>=) and description."""

    id: str
    metric: cloudwatch.IMetric
    threshold: float
    description: str


class OcspFunction:
    """Creates one of the library's Lambdas in ``scope`` (see the module docstring).

    :param scope: where the children are created (the owning construct).
    :param handler: the entry point inside the bundle (``preauth_handler.handler``).
    :param description: the function's description.
    :param role_purpose: the start of the role's description (``OCSP pre-auth Lambda``).
    :param synchronous_caller: who invokes it synchronously (the dead-letter-queue
        acknowledgement says so).
    :param environment: the function's environment.
    :param options: its Lambda-level props.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        handler: str,
        description: str,
        role_purpose: str,
        synchronous_caller: str,
        environment: Mapping[str, str],
        options: FunctionOptions,
    ) -> None:
        self.options = options
        self.log_group = logs.LogGroup(scope, "LogGroup", retention=options.log_retention)
        self.role = iam.Role(
            scope,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{role_purpose}: writes its own log group"
            + (" (and X-Ray traces)" if options.tracing else ""),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            scope,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=options.architecture,
            handler=handler,
            code=lambda_code(architecture=options.architecture, runtime=RUNTIME),
            memory_size=options.memory_size,
            timeout=options.timeout,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE if options.tracing else lambda_.Tracing.DISABLED,
            reserved_concurrent_executions=options.reserved_concurrent_executions,
            environment=dict(environment),
        )
        self._acknowledge_findings(synchronous_caller)
        self.alias: lambda_.Alias | None = None
        self.invoked: lambda_.IFunction = self.function
        if options.provisioned_concurrent_executions is not None:
            self.alias = lambda_.Alias(
                scope,
                "Alias",
                alias_name="live",
                version=self.function.current_version,
                provisioned_concurrent_executions=options.provisioned_concurrent_executions,
            )
            self.invoked = self.alias

    def _acknowledge_findings(self, synchronous_caller: str) -> None:
        """cdk-nag findings on the function that are deliberate, each on the narrowest node."""
        policy = self.role.node.try_find_child("DefaultPolicy")
        if self.options.tracing and policy is not None:
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
            f"{synchronous_caller}; a dead-letter queue only receives failed asynchronous "
            "invocations",
        )
        if not self.options.tracing:
            acknowledge(
                cfn_function,
                "Serverless::Serverless-LambdaTracing",
                "X-Ray tracing was switched off explicitly (tracing=False); the handler's JSON "
                "decision log and EMF metrics still record every check",
            )

    # -- metrics of the function itself ---------------------------------------------------------

    def metric_errors(self) -> cloudwatch.Metric:
        return self.function.metric_errors(period=METRIC_PERIOD)

    def metric_throttles(self) -> cloudwatch.Metric:
        return self.function.metric_throttles(period=METRIC_PERIOD)

    def metric_duration(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        return self.function.metric_duration(statistic=statistic, period=METRIC_PERIOD)

    def metric_invocations(self) -> cloudwatch.Metric:
        return self.function.metric_invocations(period=METRIC_PERIOD)

    def standard_alarms(self, what: str) -> list[AlarmSpec]:
        """Errors, throttles and p99 duration above 80 % of the timeout, described for ``what``
        (e.g. ``"The OCSP pre-auth Lambda"``)."""
        near_timeout_ms = self.options.timeout.to_milliseconds() * 0.8
        return [
            AlarmSpec(
                "ErrorsAlarm",
                self.metric_errors(),
                1,
                f"{what} failed: each error denies a device connection.",
            ),
            AlarmSpec(
                "ThrottlesAlarm",
                self.metric_throttles(),
                1,
                f"{what} was throttled: each throttle denies a connection.",
            ),
            AlarmSpec(
                "DurationAlarm",
                self.metric_duration(),
                near_timeout_ms,
                f"{what}'s p99 duration is above 80% of its timeout (IoT Core allows ~5 s in "
                "total).",
            ),
        ]


def create_alarms(
    scope: Construct,
    specs: Sequence[AlarmSpec],
    *,
    alarm_action: cloudwatch.IAlarmAction | None = None,
) -> tuple[cloudwatch.Alarm, ...]:
    """One alarm per spec in ``scope`` (>= threshold over one period, missing data is fine)."""
    alarms = tuple(
        cloudwatch.Alarm(
            scope,
            spec.id,
            metric=spec.metric,
            threshold=spec.threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=spec.description,
        )
        for spec in specs
    )
    if alarm_action is not None:
        for alarm in alarms:
            alarm.add_alarm_action(alarm_action)
    return alarms
