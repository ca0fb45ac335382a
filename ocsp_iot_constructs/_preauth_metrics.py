"""The ``metric_*`` methods of a construct that owns a pre-auth function: the handler's EMF metrics
(namespace ``OcspIot/PreAuth``, dimension ``FunctionName``) and the function's own Lambda
metrics. A mixin, so that every construct deploying the pre-auth Lambda offers the same ones."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from . import _preauth_function as contract
from ._invoke_grant import InvokeGrants
from ._ocsp_function import METRIC_PERIOD, OcspFunction

#: The deny-ratio alarm's default threshold, percent of the invocations in 5 minutes.
DEFAULT_DENY_RATIO_PERCENT = 50
#: Below this many invocations in 5 minutes the deny ratio counts as 0 (a few denials of a
#: quiet fleet, such as one revoked device retrying, are no lockout).
DENY_RATIO_MIN_INVOCATIONS = 10


class PreAuthMetrics:
    """Metrics and the invoke grant of the pre-auth function held in ``_function_parts``."""

    _function_parts: OcspFunction
    function: lambda_.Function
    callback_function: lambda_.IFunction

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

    def metric_config_errors(self) -> cloudwatch.Metric:
        """Connections denied because the Lambda's configuration is unusable
        (``Reason=CONFIG_ERROR``: every device is then denied)."""
        return self.metric_decisions(reason="CONFIG_ERROR")

    def metric_deny_ratio(self) -> cloudwatch.MathExpression:
        """Denied connections as a percentage of the function's invocations per 5 minutes,
        0 while there are fewer than 10 invocations.

        The denominator is the Lambda's own ``Invocations`` (one per connection attempt), not
        the ``ALLOW`` decisions: in a lockout there is no ``ALLOW`` datapoint at all, and the
        ratio must still be computed then.
        """
        return cloudwatch.MathExpression(
            expression=(
                f"IF(invocations >= {DENY_RATIO_MIN_INVOCATIONS}, 100 * denied / invocations, 0)"
            ),
            using_metrics={
                "denied": self.metric_denied(),
                "invocations": self.metric_invocations(),
            },
            label="Denied connections (%)",
            period=METRIC_PERIOD,
        )

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
        return self._function_parts.metric_errors()

    def metric_throttles(self) -> cloudwatch.Metric:
        """Lambda throttles of the pre-auth function (each one denies a connection)."""
        return self._function_parts.metric_throttles()

    def metric_duration(self, *, statistic: str = "p99") -> cloudwatch.Metric:
        """Lambda duration of the pre-auth function, milliseconds."""
        return self._function_parts.metric_duration(statistic=statistic)

    def metric_invocations(self) -> cloudwatch.Metric:
        """Lambda invocations (one per connection attempt)."""
        return self._function_parts.metric_invocations()

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to invoke the pre-auth check, e.g. for a smoke test.

        Grants ``lambda:InvokeFunction`` on exactly what IoT Core invokes,
        ``callback_function.function_arn`` (the function's unqualified ARN, or the ``live``
        alias with provisioned concurrency): no ``:*`` wildcard, so cdk-nag has nothing to
        report. A principal of another account or a service principal gets an
        ``AWS::Lambda::Permission`` on that ARN. A repeat call for the same principal returns
        the first grant and adds nothing."""
        grants: InvokeGrants | None = getattr(self, "_invoke_grants", None)
        if grants is None:
            grants = InvokeGrants(self.callback_function)
            self._invoke_grants = grants
        return grants.grant(grantee)
