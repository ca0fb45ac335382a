"""``OcspIotDashboard``: the CloudWatch dashboard a platform team would otherwise write by hand
for an OCSP-checked IoT fleet: the pre-auth decisions (by verdict and by reason), latency
percentiles, the cache hit ratio, the responder, stale and fail-open decisions, the alarms, and,
for domains whose server certificate is stapled, the staple retrievals and days to expiry.

Example::

    dashboard = OcspIotDashboard(
        stack, "Dashboard", domains=[devices, partners], stapled=[stapled_domain]
    )

Anything with ``domain_configuration_name``, ``metric_staple_retrievals()`` and
``metric_days_to_expiry()`` fits ``stapled`` (the :class:`StapledDomain` protocol).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from . import _preauth_function as contract
from ._preauth_metrics import PreAuthMetrics
from ._validation import Problems, check_sequence, implements, is_token
from .ocsp_validating_domain import OcspValidatingDomain

__all__ = ["OcspIotDashboard", "StapledDomain"]

#: CloudWatch dashboard names: letters, digits, '-' and '_', at most 255 characters.
_DASHBOARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
#: Widgets per row of three on the dashboard's 24-column grid.
_WIDTH = 8
_HEIGHT = 6
_PERCENTILES = ("p50", "p90", "p99")


@runtime_checkable
class StapledDomain(Protocol):
    """A domain configuration whose server certificate IoT Core staples OCSP answers to (the
    stapling construct of this library fits)."""

    #: The IoT domain configuration's name (the ``DomainConfigurationName`` dimension).
    domain_configuration_name: str

    def metric_staple_retrievals(self) -> cloudwatch.IMetric:
        """Successful staple retrievals (``AWS/IoT`` ``RetrieveOCSPStapleData.Success``)."""
        ...

    def metric_days_to_expiry(self) -> cloudwatch.IMetric:
        """Days until the server certificate expires (``AWS/CertificateManager``
        ``DaysToExpiry``)."""
        ...


class OcspIotDashboard(Construct):
    """A CloudWatch dashboard (``AWS::CloudWatch::Dashboard``, the default child ``Resource``)
    for OCSP-validating domains and stapled domains.

    Layout, top to bottom: the status of every alarm; then per domain in ``domains`` a title
    and six graphs (decisions by verdict, decisions by reason, stale and fail-open decisions,
    latency percentiles, cache hit ratio, the OCSP responder) plus the Lambda's invocations,
    errors and throttles; then, with ``stapled``, the staple retrievals and days to expiry of
    each stapled domain.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        domains: Sequence[OcspValidatingDomain] = (),
        stapled: Sequence[StapledDomain] = (),
        alarms: Sequence[cloudwatch.IAlarm] = (),
        dashboard_name: str | None = None,
    ) -> None:
        """
        :param scope: parent construct.
        :param id: construct id.
        :param domains: ``OcspValidatingDomain`` objects: one section each (their ``alarms``
            are shown too). Default: none.
        :param stapled: objects with ``domain_configuration_name``,
            ``metric_staple_retrievals()`` and ``metric_days_to_expiry()``
            (:class:`StapledDomain`); their ``alarms``, when they have some (the stapling
            constructs of this library do), are on the alarm status widget too. Default: none.
            At least one domain or stapled domain.
        :param alarms: further alarms for the alarm status widget (each alarm is shown once,
            however often it is given). Default: none.
        :param dashboard_name: 1-255 of letters, digits, '-' and '_'. Default: a name
            CloudFormation generates.
        """
        super().__init__(scope, id)
        problems = Problems("OcspIotDashboard", id)
        domain_list = check_sequence(problems, "domains", domains, "OcspValidatingDomain")
        for index, domain in enumerate(domain_list):
            # Any construct of this library with the pre-auth metrics and alarms fits.
            problems.require(
                isinstance(domain, PreAuthMetrics) and hasattr(domain, "domain_name"),
                f"domains[{index}]",
                "an OcspValidatingDomain",
                domain,
            )
        stapled_list = check_sequence(problems, "stapled", stapled, "stapled domains")
        for index, item in enumerate(stapled_list):
            problems.require(
                isinstance(item, StapledDomain) and isinstance(item.domain_configuration_name, str),
                f"stapled[{index}]",
                "an object with domain_configuration_name (str), metric_staple_retrievals() "
                "and metric_days_to_expiry()",
                item,
            )
        extra_alarms = check_sequence(problems, "alarms", alarms, "cloudwatch.IAlarm")
        for index, alarm in enumerate(extra_alarms):
            problems.require(
                implements(alarm, cloudwatch.IAlarm),
                f"alarms[{index}]",
                "a cloudwatch.IAlarm",
                alarm,
            )
        if dashboard_name is not None:
            problems.require(
                isinstance(dashboard_name, str)
                and (is_token(dashboard_name) or bool(_DASHBOARD_NAME.fullmatch(dashboard_name))),
                "dashboard_name",
                "1-255 characters of letters, digits, '-' and '_'",
                dashboard_name,
            )
        if not problems:
            problems.require(
                bool(domain_list or stapled_list),
                "domains",
                "at least one domain (or a stapled domain in stapled)",
                domain_list,
            )
        problems.raise_if_any()

        given = [
            *(alarm for domain in domain_list for alarm in _alarms_of(domain)),
            *(alarm for domain in stapled_list for alarm in _alarms_of(domain)),
            *extra_alarms,
        ]
        # one entry per alarm (a validating domain's stapling part may come twice)
        every_alarm: list[cloudwatch.IAlarm] = []
        for alarm in given:
            if not any(alarm is seen for seen in every_alarm):
                every_alarm.append(alarm)
        rows: list[list[cloudwatch.IWidget]] = []
        if every_alarm:
            rows.append(
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms", alarms=every_alarm, width=24, height=3
                    )
                ]
            )
        for domain in domain_list:
            rows += _domain_rows(domain)
        if stapled_list:
            rows += _stapling_rows(stapled_list)
        self.dashboard: cloudwatch.Dashboard = cloudwatch.Dashboard(
            self, "Resource", dashboard_name=dashboard_name, widgets=rows
        )
        """The dashboard (also ``node.default_child``'s owner)."""


def _alarms_of(domain: object) -> tuple[cloudwatch.IAlarm, ...]:
    """The construct's ``alarms`` (none when it has no such attribute)."""
    alarms: tuple[cloudwatch.IAlarm, ...] = tuple(getattr(domain, "alarms", ()))
    return alarms


def _graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    right: Sequence[cloudwatch.IMetric] = (),
    stacked: bool = False,
    left_axis: cloudwatch.YAxisProps | None = None,
    right_axis: cloudwatch.YAxisProps | None = None,
    width: int = _WIDTH,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(left),
        right=list(right),
        stacked=stacked,
        left_y_axis=left_axis,
        right_y_axis=right_axis,
        width=width,
        height=_HEIGHT,
    )


def _labelled(metric: cloudwatch.Metric, label: str) -> cloudwatch.Metric:
    return metric.with_(label=label)


def _domain_rows(domain: OcspValidatingDomain) -> list[list[cloudwatch.IWidget]]:
    name = domain.domain_name
    function_name = domain.function.function_name
    by_reason = cloudwatch.MathExpression(
        # Only the reasons that occurred: a search over the handler's {FunctionName, Reason}
        # dimension set of this function.
        expression=(
            f"SEARCH('{{{contract.NAMESPACE},{contract.DIMENSION_FUNCTION_NAME},"
            f'{contract.DIMENSION_REASON}}} MetricName="{contract.DECISIONS}" '
            f"{contract.DIMENSION_FUNCTION_NAME}=\"{function_name}\"', 'Sum', 300)"
        ),
        using_metrics={},
        label="",
        period=cdk.Duration.minutes(5),
    )
    cache_ratio = cloudwatch.MathExpression(
        expression="100 * FILL(hits, 0) / (FILL(allowed, 0) + FILL(denied, 0))",
        using_metrics={
            "hits": domain.metric_cache_hits(),
            "allowed": domain.metric_allowed(),
            "denied": domain.metric_denied(),
        },
        label="Decisions answered from the cache (%)",
        period=cdk.Duration.minutes(5),
    )
    latency = [
        *(
            _labelled(domain.metric_handler_latency(statistic=p), f"Handler {p}")
            for p in _PERCENTILES
        ),
        *(
            _labelled(domain.metric_duration(statistic=p), f"Lambda duration {p}")
            for p in _PERCENTILES
        ),
    ]
    return [
        [
            cloudwatch.TextWidget(
                markdown=f"## OCSP pre-auth checks: {name}\n"
                f"Pre-auth Lambda `{function_name}`; decisions are counted per 5 minutes.",
                width=24,
                height=2,
            )
        ],
        [
            _graph(
                f"Decisions by verdict: {name}",
                [
                    _labelled(domain.metric_allowed(), "ALLOW"),
                    _labelled(domain.metric_denied(), "DENY"),
                ],
                stacked=True,
            ),
            _graph(f"Decisions by reason: {name}", [by_reason], stacked=True),
            _graph(
                f"Stale and fail-open decisions: {name}",
                [
                    _labelled(
                        domain.metric_decisions(reason="STALE_IF_ERROR"),
                        "STALE_IF_ERROR (allowed on a stale cached answer)",
                    ),
                    _labelled(
                        domain.metric_fail_open(), "FAIL_OPEN (allowed, responder unreachable)"
                    ),
                    _labelled(
                        domain.metric_responder_unavailable(),
                        "RESPONDER_UNAVAILABLE (denied, responder unreachable)",
                    ),
                ],
            ),
        ],
        [
            _graph(
                f"Latency percentiles (ms): {name}",
                latency,
                left_axis=cloudwatch.YAxisProps(min=0, label="ms", show_units=False),
            ),
            _graph(
                f"Cache hit ratio: {name}",
                [cache_ratio],
                left_axis=cloudwatch.YAxisProps(min=0, max=100, label="%", show_units=False),
            ),
            _graph(
                f"OCSP responder: {name}",
                [
                    _labelled(domain.metric_responder_requests(), "Requests"),
                    _labelled(domain.metric_responder_errors(), "Errors"),
                ],
                right=[
                    _labelled(domain.metric_responder_latency(statistic=p), f"Latency {p}")
                    for p in ("p50", "p99")
                ],
                right_axis=cloudwatch.YAxisProps(min=0, label="ms", show_units=False),
            ),
        ],
        [
            _graph(
                f"Pre-auth Lambda: {name}",
                [
                    _labelled(domain.metric_invocations(), "Invocations"),
                    _labelled(domain.metric_errors(), "Errors"),
                    _labelled(domain.metric_throttles(), "Throttles"),
                ],
                width=24,
            )
        ],
    ]


def _stapling_rows(stapled: Sequence[StapledDomain]) -> list[list[cloudwatch.IWidget]]:
    def named(metric: cloudwatch.IMetric, item: StapledDomain) -> cloudwatch.IMetric:
        # A plain Metric gets the domain configuration's name as its label (several stapled
        # domains share a graph); any other IMetric is shown as it comes.
        if isinstance(metric, cloudwatch.Metric) and not metric.label:
            return metric.with_(label=item.domain_configuration_name)
        return metric

    return [
        [
            cloudwatch.TextWidget(
                markdown="## OCSP stapling\nIoT Core refreshes each staple about hourly: no "
                "successful retrieval for hours means devices get no fresh staple.",
                width=24,
                height=2,
            )
        ],
        [
            _graph(
                "Staple retrievals (RetrieveOCSPStapleData.Success)",
                [named(item.metric_staple_retrievals(), item) for item in stapled],
                width=12,
            ),
            cloudwatch.SingleValueWidget(
                title="Server certificate days to expiry",
                metrics=[named(item.metric_days_to_expiry(), item) for item in stapled],
                width=12,
                height=_HEIGHT,
            ),
        ],
    ]
