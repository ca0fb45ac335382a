"""The internal building block of every Lambda the library deploys: its own log group, a
least-privilege role, the function (bundled locally, see ``_bundling``), an optional alias with
provisioned concurrency, the deliberate cdk-nag acknowledgements, alarms and ``metric_*``.

:class:`OcspFunction` is not a construct of its own: it creates its children directly in the
scope it is given, so the construct ids (``LogGroup``, ``ServiceRole``, ``Function``, ``Alias``,
``*Alarm``) stay where they were, and so do the logical ids of every deployed resource.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._bundling import (
    BYTECODE_PYTHON_ENV,
    BundlePlatform,
    bundling_failures,
    bytecode_compiler,
    code_source,
    lambda_code,
    python_version_of,
    read_manifest,
)
from ._validation import Problems, acknowledge, check_bool, enum_member, implements, warn

#: What a function in a VPC needs to manage its network interfaces (the actions of AWS's
#: ``AWSLambdaVPCAccessExecutionRole``; they support no resource-level permissions).
VPC_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
#: What CloudWatch Logs needs of a customer managed key that encrypts a log group.
LOGS_KEY_ACTIONS = (
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
)

#: The Lambda runtime: the latest Python that aws-cdk-lib offers. The Lambda code itself runs on
#: Python 3.11 and later (the tests run it on the interpreter of the checkout).
RUNTIME = lambda_.Runtime.PYTHON_3_14

#: Period of every metric and alarm of the library's functions.
METRIC_PERIOD = cdk.Duration.minutes(5)

#: Lambda's memory bounds, MB.
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240


#: The architectures Lambda offers, by the names a prop may use for them.
_ARCHITECTURES = {"arm64": "ARM_64", "x86_64": "X86_64"}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def architecture_of(value: object) -> object:
    """``value`` as a ``lambda_.Architecture`` when it names one as a string (``"arm64"``,
    ``"x86_64"``, ``"ARM_64"``, ``"X86_64"``, any case); anything else as it is (a wrong value is
    reported by :meth:`FunctionOptions.check`)."""
    if isinstance(value, str):
        for name, attribute in _ARCHITECTURES.items():
            if value.lower() in (name, attribute.lower()):
                architecture: lambda_.Architecture = getattr(lambda_.Architecture, attribute)
                return architecture
    return value


def retention_of(value: object) -> object:
    """``value`` as a ``logs.RetentionDays`` member when it is one's name as a string in any
    case (``"three_months"``); anything else as it is (:meth:`FunctionOptions.check` reports
    it)."""
    if isinstance(value, str):
        return next((m for m in logs.RetentionDays if m.name.lower() == value.lower()), value)
    return value


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
    :param vpc: place the function in this VPC (it then needs a route to its responders, e.g.
        a NAT gateway or VPC endpoints). ``None``: not in a VPC.
    :param vpc_subnets: which subnets of ``vpc``. ``None``: the VPC's private subnets.
    :param security_groups: of the function in ``vpc``. Empty: one is created (egress only).
    :param log_encryption_key: a customer managed KMS key for the function's log group.
        ``None``: CloudWatch Logs' own encryption.
    :param wheelhouse: bundle the code with the dependencies of this folder only (offline).
        ``None``: the ``OCSP_IOT_WHEELHOUSE`` variable, else the package index.
    :param lambda_bundle: a prebuilt bundle (folder or zip, ``{architecture}`` is replaced) used
        as the code as is. ``None``: the ``OCSP_IOT_LAMBDA_BUNDLE`` variable, else bundle at
        synth.
    :param snap_start: Lambda SnapStart on published versions: a cold start restores a
        snapshot taken after the code was imported, so the import time is paid once per
        version; the alias ``live`` on the current version is then what gets invoked. Not with
        provisioned concurrency. Python SnapStart bills the snapshot's cache and each restore.
    """

    architecture: lambda_.Architecture
    memory_size: int
    timeout: cdk.Duration
    log_retention: logs.RetentionDays
    tracing: bool
    reserved_concurrent_executions: int | None = None
    provisioned_concurrent_executions: int | None = None
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] = ()
    log_encryption_key: kms.IKey | None = None
    wheelhouse: str | os.PathLike[str] | None = None
    lambda_bundle: str | os.PathLike[str] | None = None
    snap_start: bool = False

    @classmethod
    def with_defaults(
        cls,
        *,
        architecture: object,
        timeout: object,
        default_timeout: cdk.Duration,
        log_retention: object,
        **options: Any,
    ) -> FunctionOptions:
        """The options with the library's defaults for what is ``None`` (arm64, the function's
        own default timeout); a string that names an architecture or a retention is taken for
        it, and anything else stays as given for :meth:`check` to report (never replaced by a
        default because it is falsy)."""
        return cls(
            architecture=cast(
                lambda_.Architecture,
                lambda_.Architecture.ARM_64
                if architecture is None
                else architecture_of(architecture),
            ),
            timeout=cast(cdk.Duration, default_timeout if timeout is None else timeout),
            log_retention=cast(logs.RetentionDays, retention_of(log_retention)),
            **options,
        )

    def check(self, problems: Problems) -> None:
        """Record every value Lambda would refuse (the timeout is checked with the OCSP
        options, whose deadline it bounds)."""
        architecture = self.architecture
        problems.require(
            isinstance(architecture, lambda_.Architecture) and architecture.name in _ARCHITECTURES,
            "architecture",
            "lambda_.Architecture.ARM_64 or lambda_.Architecture.X86_64 (or 'arm64', 'x86_64')",
            architecture,
        )
        enum_member(
            problems,
            "log_retention",
            logs.RetentionDays,
            self.log_retention,
            allowed="a logs.RetentionDays member such as logs.RetentionDays.THREE_MONTHS",
        )
        check_bool(problems, "tracing", self.tracing)
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
        self._check_placement(problems)
        self._check_code_source(problems)
        if check_bool(problems, "snap_start", self.snap_start) and (
            self.snap_start and provisioned is not None
        ):
            problems.add(
                "snap_start",
                "False when provisioned_concurrent_executions is set (Lambda allows one or the "
                "other)",
                self.snap_start,
                "drop one of them",
            )

    def _check_code_source(self, problems: Problems) -> None:
        sources = (("wheelhouse", self.wheelhouse), ("lambda_bundle", self.lambda_bundle))
        for keyword, value in sources:
            if value is not None and not isinstance(value, str | os.PathLike):
                problems.add(keyword, "a path (str or os.PathLike)", type(value).__name__)
        if self.wheelhouse is not None and self.lambda_bundle is not None:
            problems.add(
                "lambda_bundle",
                "omitted when wheelhouse is set (a prebuilt bundle needs no wheels)",
                self.lambda_bundle,
                "set one of the two",
            )

    def _check_placement(self, problems: Problems) -> None:
        """Each placement prop: its type, then (only when that is right) whether it may be set
        without ``vpc`` (one message per mistake)."""
        if self.vpc is not None and not implements(self.vpc, ec2.IVpc):
            problems.add("vpc", "an ec2.IVpc", type(self.vpc).__name__)
        groups = self.security_groups
        groups_ok = (
            not isinstance(groups, str | bytes)
            and isinstance(groups, Sequence)
            and all(implements(group, ec2.ISecurityGroup) for group in groups)
        )
        if not groups_ok:
            problems.add("security_groups", "a list of ec2.ISecurityGroup", groups)
        subnets_ok = self.vpc_subnets is None or isinstance(self.vpc_subnets, ec2.SubnetSelection)
        if not subnets_ok:
            problems.add("vpc_subnets", "an ec2.SubnetSelection", type(self.vpc_subnets).__name__)
        if self.vpc is None:
            for keyword, value, ok in (
                ("vpc_subnets", self.vpc_subnets, subnets_ok),
                ("security_groups", (list(groups) or None) if groups_ok else None, groups_ok),
            ):
                if ok and value is not None:
                    problems.add(keyword, "omitted unless vpc is set", value, "set vpc too")
        if self.log_encryption_key is not None and not implements(
            self.log_encryption_key, kms.IKey
        ):
            problems.add("log_encryption_key", "a kms.IKey", type(self.log_encryption_key).__name__)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: construct id, metric, threshold and description; by default it fires at
    >= threshold over one period, and missing data is fine."""

    id: str
    metric: cloudwatch.IMetric
    threshold: float
    description: str
    comparison_operator: cloudwatch.ComparisonOperator = (
        cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
    )
    #: Consecutive breaching periods before it fires.
    evaluation_periods: int = 1
    treat_missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING


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
        self.log_group = logs.LogGroup(
            scope,
            "LogGroup",
            retention=options.log_retention,
            encryption_key=options.log_encryption_key,
        )
        if options.log_encryption_key is not None:
            self._allow_logs_to_use(scope, options.log_encryption_key)
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
        # A bundling failure ends synth with one clear BundlingError (see _bundling).
        with bundling_failures():
            self.function = lambda_.Function(
                scope,
                "Function",
                description=description,
                runtime=RUNTIME,
                architecture=options.architecture,
                handler=handler,
                code=lambda_code(
                    architecture=options.architecture,
                    runtime=RUNTIME,
                    wheelhouse=options.wheelhouse,
                    lambda_bundle=options.lambda_bundle,
                ),
                memory_size=options.memory_size,
                timeout=options.timeout,
                role=self.role,
                log_group=self.log_group,
                tracing=lambda_.Tracing.ACTIVE if options.tracing else lambda_.Tracing.DISABLED,
                reserved_concurrent_executions=options.reserved_concurrent_executions,
                environment=dict(environment),
                vpc=options.vpc,
                vpc_subnets=options.vpc_subnets,
                security_groups=list(options.security_groups) or None,
                snap_start=(
                    lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if options.snap_start else None
                ),
            )
        self._note_missing_bytecode()
        if options.vpc is not None:
            # CDK adds VPC permissions only to roles it creates itself.
            self.role.add_to_policy(iam.PolicyStatement(actions=list(VPC_ACTIONS), resources=["*"]))
        self._acknowledge_findings(synchronous_caller)
        self.alias: lambda_.Alias | None = None
        self.invoked: lambda_.IFunction = self.function
        if options.provisioned_concurrent_executions is not None or options.snap_start:
            # SnapStart applies to published versions only: IoT invokes the alias.
            self.alias = lambda_.Alias(
                scope,
                "Alias",
                alias_name="live",
                version=self.function.current_version,
                provisioned_concurrent_executions=options.provisioned_concurrent_executions,
            )
            self.invoked = self.alias

    def _note_missing_bytecode(self) -> None:
        """An info annotation when the code ships without bytecode: bundled here without an
        interpreter of the runtime, or a prebuilt bundle whose manifest says so."""
        options = self.options
        platform = BundlePlatform.of(options.architecture)
        source = code_source(
            platform, wheelhouse=options.wheelhouse, lambda_bundle=options.lambda_bundle
        )
        version = python_version_of(RUNTIME)
        if source.kind == "prebuilt" and source.path is not None:
            manifest = read_manifest(source.path) or {}
            missing = manifest.get("bytecode") == "none"
        else:
            missing = bytecode_compiler(version) is None
        if missing:
            cdk.Annotations.of(self.function).add_info(
                f"The Lambda bundle ships without bytecode: this machine has no Python "
                f"{version} to compile it (python{version} on PATH, or {BYTECODE_PYTHON_ENV}). "
                "It works the same, but every cold start compiles every module (about 55 ms "
                "more in the benchmark's reference run); synthesize where that interpreter "
                "exists, or deploy a prebuilt bundle built there (docs/performance.md)."
            )

    def _acknowledge_findings(self, synchronous_caller: str) -> None:
        """cdk-nag findings on the function that are deliberate, each on the narrowest node."""
        policy = self.role.node.try_find_child("DefaultPolicy")
        wildcards = [
            text
            for wanted, text in (
                (
                    self.options.tracing,
                    "xray:PutTraceSegments and xray:PutTelemetryRecords support no "
                    "resource-level permissions (added by CDK for active tracing)",
                ),
                (
                    self.options.vpc is not None,
                    "the network-interface actions a function in a VPC needs support no "
                    "resource-level permissions (those of AWSLambdaVPCAccessExecutionRole)",
                ),
            )
            if wanted
        ]
        if wildcards and policy is not None:
            acknowledge(
                policy.node.find_child("Resource"),
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                "; ".join(wildcards)
                + "; the log statement is scoped to the function's own log group",
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

    @staticmethod
    def _allow_logs_to_use(scope: Construct, key: kms.IKey) -> None:
        """CloudWatch Logs of this Region may use ``key`` for this account's log groups; a key
        imported from elsewhere keeps its own policy, so that must allow it (a warning says so)."""
        stack = cdk.Stack.of(scope)
        added = key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        if not added.statement_added:
            warn(
                scope,
                "logEncryptionKeyPolicy",
                "log_encryption_key is an imported key whose policy this stack cannot change: "
                f"it must allow logs.{stack.region}.amazonaws.com to use it "
                f"({', '.join(LOGS_KEY_ACTIONS)}) for this account's log groups, or the log "
                "group cannot be created.",
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

    def standard_alarms(self, what: str, *, budget: cdk.Duration | None = None) -> list[AlarmSpec]:
        """Errors, throttles and p99 duration above 80 % of the time the function really has,
        described for ``what`` (e.g. ``"The OCSP pre-auth Lambda"``): its timeout, or the
        caller's ``budget`` when that is shorter (IoT Core gives up after ~5 s whatever the
        timeout, so an alarm at 80 % of a 30 s timeout would fire only long after devices were
        refused)."""
        limit, of_what = self.options.timeout, "its timeout"
        if budget is not None and budget.to_milliseconds() < limit.to_milliseconds():
            limit, of_what = budget, f"the caller's {budget.to_human_string()} budget"
        near_timeout_ms = limit.to_milliseconds() * 0.8
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
                f"{what}'s p99 duration is above 80% of {of_what} (IoT Core allows ~5 s in total).",
            ),
        ]


def create_alarms(
    scope: Construct,
    specs: Sequence[AlarmSpec],
    *,
    alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
    ok_actions: Sequence[cloudwatch.IAlarmAction] = (),
) -> tuple[cloudwatch.Alarm, ...]:
    """One alarm per spec in ``scope`` (see :class:`AlarmSpec`), each with every one of
    ``alarm_actions`` (ALARM) and ``ok_actions`` (back to OK)."""
    alarms = tuple(
        cloudwatch.Alarm(
            scope,
            spec.id,
            metric=spec.metric,
            threshold=spec.threshold,
            evaluation_periods=spec.evaluation_periods,
            comparison_operator=spec.comparison_operator,
            treat_missing_data=spec.treat_missing_data,
            alarm_description=spec.description,
        )
        for spec in specs
    )
    for alarm in alarms:
        if alarm_actions:
            alarm.add_alarm_action(*alarm_actions)
        if ok_actions:
            alarm.add_ok_action(*ok_actions)
    return alarms


def check_alarm_actions(problems: Problems, keyword: str, actions: object) -> None:
    """``actions`` must be a list of ``cloudwatch.IAlarmAction``."""
    if isinstance(actions, str | bytes) or not isinstance(actions, Sequence):
        problems.add(keyword, "a list of cloudwatch.IAlarmAction", type(actions).__name__)
        return
    for index, action in enumerate(actions):
        if not implements(action, cloudwatch.IAlarmAction):
            problems.add(f"{keyword}[{index}]", "a cloudwatch.IAlarmAction", type(action).__name__)
