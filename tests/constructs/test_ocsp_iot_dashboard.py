"""OcspIotDashboard: assertions on the dashboard body (widget titles, metrics, math, alarms)."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

import ocsp_iot_constructs
from ocsp_iot_constructs import (
    OcspIotDashboard,
    OcspValidatingDomain,
    PropsError,
    StapledDomain,
    TrustedCa,
)
from tests.constructs.domain_support import (
    CA_PEM,
    CERT_ARN,
    OCSP_URL,
    make_domain,
    new_stack,
    only,
    template_of,
)
from tests.constructs.stapling_support import lambda_stapling, make_stapling
from tests.support import ROOT, cfn_lint_errors, logical_id_of, new_app


class _Stapled:
    """A stand-in for the stapling construct: exactly the names the dashboard relies on, with
    the real metrics (IoT's staple retrievals, ACM's days to expiry)."""

    def __init__(self, name: str, certificate_arn: str) -> None:
        self.domain_configuration_name = name
        self._certificate_arn = certificate_arn

    def metric_staple_retrievals(self) -> cloudwatch.IMetric:
        return cloudwatch.Metric(
            namespace="AWS/IoT",
            metric_name="RetrieveOCSPStapleData.Success",
            dimensions_map={"DomainConfigurationName": self.domain_configuration_name},
            statistic="Sum",
            period=cdk.Duration.hours(1),
        )

    def metric_days_to_expiry(self) -> cloudwatch.IMetric:
        return cloudwatch.Metric(
            namespace="AWS/CertificateManager",
            metric_name="DaysToExpiry",
            dimensions_map={"CertificateArn": self._certificate_arn},
            statistic="Minimum",
            period=cdk.Duration.days(1),
        )


def _placeholder(token: dict[str, Any]) -> str:
    if "Ref" in token:
        return f"{{Ref:{token['Ref']}}}"
    logical_id, attribute = token["Fn::GetAtt"]
    return f"{{GetAtt:{logical_id}.{attribute}}}"


def dashboard_body(stack: cdk.Stack) -> dict[str, Any]:
    """The ``DashboardBody`` as JSON, each token replaced by ``{Ref:Id}`` / ``{GetAtt:Id.A}``."""
    _, dashboard = only(template_of(stack), "AWS::CloudWatch::Dashboard")
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(p if isinstance(p, str) else _placeholder(p) for p in parts)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _ref(stack: cdk.Stack, construct: Any) -> str:
    return f"{{Ref:{logical_id_of(stack, construct.node.default_child)}}}"


def _widget(body: dict[str, Any], title: str) -> dict[str, Any]:
    (widget,) = [w for w in body["widgets"] if w["properties"].get("title") == title]
    properties: dict[str, Any] = widget["properties"]
    return properties


def _second_domain(stack: cdk.Stack) -> OcspValidatingDomain:
    return OcspValidatingDomain(
        stack,
        "Partners",
        domain_name="partners.example.com",
        server_certificate=acm.Certificate.from_certificate_arn(stack, "Cert2", CERT_ARN),
        trusted_cas=[TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL)],
    )


@pytest.fixture(scope="module")
def built() -> tuple[cdk.Stack, OcspValidatingDomain, OcspValidatingDomain, dict[str, Any]]:
    stack = new_stack()
    devices = make_domain(stack)
    partners = _second_domain(stack)
    stapled = [
        _Stapled("stapled-a", f"{CERT_ARN[:-4]}aaaa"),
        _Stapled("stapled-b", f"{CERT_ARN[:-4]}bbbb"),
    ]
    OcspIotDashboard(
        stack, "Dashboard", domains=[devices, partners], stapled=stapled, dashboard_name="fleet"
    )
    return stack, devices, partners, dashboard_body(stack)


def test_the_stand_in_satisfies_the_stapled_domain_protocol() -> None:
    assert isinstance(_Stapled("x", CERT_ARN), StapledDomain)
    assert not isinstance(object(), StapledDomain)
    assert "OcspIotDashboard" in ocsp_iot_constructs.__all__
    assert "StapledDomain" in ocsp_iot_constructs.__all__


def test_widget_titles_in_order(built: Any) -> None:
    stack, _, _, body = built
    _, dashboard = only(template_of(stack), "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == "fleet"
    titles = [
        w["properties"].get("title") or w["properties"]["markdown"].split("\n")[0]
        for w in body["widgets"]
    ]
    per_domain = [
        "## OCSP pre-auth checks: {d}",
        "Decisions by verdict: {d}",
        "Decisions by reason: {d}",
        "Stale and fail-open decisions: {d}",
        "Latency percentiles (ms): {d}",
        "Cache hit ratio: {d}",
        "OCSP responder: {d}",
        "Pre-auth Lambda: {d}",
    ]
    assert titles == [
        "Alarms",
        *(t.format(d="devices.example.com") for t in per_domain),
        *(t.format(d="partners.example.com") for t in per_domain),
        "## OCSP stapling",
        "Staple retrievals (RetrieveOCSPStapleData.Success)",
        "Server certificate days to expiry",
    ]


def test_alarm_status_shows_every_alarm_of_every_domain(built: Any) -> None:
    stack, devices, partners, body = built
    alarm_widget = _widget(body, "Alarms")
    expected = [
        f"{{GetAtt:{logical_id_of(stack, alarm.node.default_child)}.Arn}}"
        for domain in (devices, partners)
        for alarm in domain.alarms
    ]
    assert len(expected) == 12  # six per domain
    assert alarm_widget["alarms"] == expected


def test_decisions_by_verdict_and_by_reason(built: Any) -> None:
    stack, devices, _, body = built
    function = _ref(stack, devices.function)
    verdicts = _widget(body, "Decisions by verdict: devices.example.com")
    assert verdicts["stacked"] is True
    assert verdicts["metrics"] == [
        [
            "OcspIot/PreAuth",
            "Decisions",
            "FunctionName",
            function,
            "Verdict",
            verdict,
            {"label": verdict, "stat": "Sum"},
        ]
        for verdict in ("ALLOW", "DENY")
    ]
    reasons = _widget(body, "Decisions by reason: devices.example.com")
    # a search over the handler's {FunctionName, Reason} dimension set: every reason seen
    assert reasons["metrics"] == [
        [
            {
                "expression": "SEARCH('{OcspIot/PreAuth,FunctionName,Reason} "
                f'MetricName="Decisions" FunctionName="{function}"\', \'Sum\', 300)'
            }
        ]
    ]


def test_stale_and_fail_open_decisions(built: Any) -> None:
    stack, devices, _, body = built
    function = _ref(stack, devices.function)
    widget = _widget(body, "Stale and fail-open decisions: devices.example.com")
    assert [(m[5], m[6]["label"]) for m in widget["metrics"]] == [
        ("STALE_IF_ERROR", "STALE_IF_ERROR (allowed on a stale cached answer)"),
        ("FAIL_OPEN", "FAIL_OPEN (allowed, responder unreachable)"),
        ("RESPONDER_UNAVAILABLE", "RESPONDER_UNAVAILABLE (denied, responder unreachable)"),
    ]
    assert all(
        m[:5] == ["OcspIot/PreAuth", "Decisions", "FunctionName", function, "Reason"]
        for m in widget["metrics"]
    )


def test_latency_percentiles_of_the_handler_and_the_lambda(built: Any) -> None:
    stack, devices, _, body = built
    function = _ref(stack, devices.function)
    widget = _widget(body, "Latency percentiles (ms): devices.example.com")
    assert widget["metrics"] == [
        [namespace, name, "FunctionName", function, {"label": f"{label} {p}", "stat": p}]
        for namespace, name, label in (
            ("OcspIot/PreAuth", "HandlerLatency", "Handler"),
            ("AWS/Lambda", "Duration", "Lambda duration"),
        )
        for p in ("p50", "p90", "p99")
    ]
    assert widget["yAxis"] == {"left": {"label": "ms", "min": 0, "showUnits": False}}


def test_cache_hit_ratio_is_metric_math_over_every_decision(built: Any) -> None:
    stack, devices, _, body = built
    function = _ref(stack, devices.function)
    widget = _widget(body, "Cache hit ratio: devices.example.com")
    assert widget["metrics"] == [
        [
            {
                "label": "Decisions answered from the cache (%)",
                "expression": "100 * FILL(hits, 0) / (FILL(allowed, 0) + FILL(denied, 0))",
            }
        ],
        [
            "OcspIot/PreAuth",
            "CacheHits",
            "FunctionName",
            function,
            {"id": "hits", "visible": False, "stat": "Sum"},
        ],
        *(
            [
                "OcspIot/PreAuth",
                "Decisions",
                "FunctionName",
                function,
                "Verdict",
                verdict,
                {"id": metric_id, "visible": False, "stat": "Sum"},
            ]
            for verdict, metric_id in (("ALLOW", "allowed"), ("DENY", "denied"))
        ),
    ]
    assert widget["yAxis"] == {"left": {"label": "%", "max": 100, "min": 0, "showUnits": False}}


def test_responder_requests_errors_and_latency(built: Any) -> None:
    stack, _, partners, body = built
    function = _ref(stack, partners.function)
    widget = _widget(body, "OCSP responder: partners.example.com")
    base = ["OcspIot/PreAuth"]
    assert widget["metrics"] == [
        [
            *base,
            "ResponderRequests",
            "FunctionName",
            function,
            {"label": "Requests", "stat": "Sum"},
        ],
        [*base, "ResponderErrors", "FunctionName", function, {"label": "Errors", "stat": "Sum"}],
        *(
            [
                *base,
                "ResponderLatency",
                "FunctionName",
                function,
                {"label": f"Latency {p}", "stat": p, "yAxis": "right"},
            ]
            for p in ("p50", "p99")
        ),
    ]


def test_lambda_invocations_errors_and_throttles(built: Any) -> None:
    stack, devices, _, body = built
    function = _ref(stack, devices.function)
    widget = _widget(body, "Pre-auth Lambda: devices.example.com")
    assert widget["metrics"] == [
        ["AWS/Lambda", name, "FunctionName", function, {"label": name, "stat": "Sum"}]
        for name in ("Invocations", "Errors", "Throttles")
    ]


def test_stapling_retrievals_and_days_to_expiry(built: Any) -> None:
    _, _, _, body = built
    retrievals = _widget(body, "Staple retrievals (RetrieveOCSPStapleData.Success)")
    assert retrievals["metrics"] == [
        [
            "AWS/IoT",
            "RetrieveOCSPStapleData.Success",
            "DomainConfigurationName",
            name,
            {"label": name, "period": 3600, "stat": "Sum"},
        ]
        for name in ("stapled-a", "stapled-b")
    ]
    expiry = _widget(body, "Server certificate days to expiry")
    assert expiry["view"] == "singleValue"
    assert expiry["metrics"] == [
        [
            "AWS/CertificateManager",
            "DaysToExpiry",
            "CertificateArn",
            f"{CERT_ARN[:-4]}{suffix}",
            {"label": name, "period": 86400, "stat": "Minimum"},
        ]
        for name, suffix in (("stapled-a", "aaaa"), ("stapled-b", "bbbb"))
    ]


def test_only_stapled_domains_and_extra_alarms() -> None:
    stack = new_stack()
    extra = cloudwatch.Alarm(
        stack,
        "Extra",
        metric=_Stapled("s", CERT_ARN).metric_staple_retrievals(),
        threshold=1,
        evaluation_periods=3,
        comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    )
    OcspIotDashboard(stack, "Dashboard", stapled=[_Stapled("s", CERT_ARN)], alarms=[extra])
    body = dashboard_body(stack)
    assert _widget(body, "Alarms")["alarms"] == [
        f"{{GetAtt:{logical_id_of(stack, extra.node.default_child)}.Arn}}"
    ]
    assert not any("pre-auth" in json.dumps(w) for w in body["widgets"])


def test_no_alarm_widget_without_alarms() -> None:
    stack = new_stack()
    domain = make_domain(stack, alarms=False)
    OcspIotDashboard(stack, "Dashboard", domains=[domain])
    body = dashboard_body(stack)
    assert [w["type"] for w in body["widgets"]][:2] == ["text", "metric"]


def test_the_dashboard_is_cdk_nag_and_cfn_lint_clean() -> None:
    app = new_app()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    stack = new_stack(app)
    OcspIotDashboard(
        stack, "Dashboard", domains=[make_domain(stack)], stapled=[_Stapled("s", CERT_ARN)]
    )
    template = app.synth().get_stack_by_name("Stack").template
    assert cfn_lint_errors(template) == []


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "domains must be at least one domain (or a stapled domain in stapled), got []"),
        (
            {"domains": ["devices.example.com"]},
            "domains[0] must be an OcspValidatingDomain, got 'devices.example.com'",
        ),
        (
            {"stapled": [object()]},
            "stapled[0] must be an object with domain_configuration_name (str), "
            "metric_staple_retrievals() and metric_days_to_expiry(), got <object>",
        ),
        (
            {"stapled": [_Stapled(7, CERT_ARN)]},  # type: ignore[arg-type]
            "stapled[0] must be an object with domain_configuration_name (str)",
        ),
        (
            {"domains": (), "stapled": [_Stapled("s", CERT_ARN)], "dashboard_name": "my fleet"},
            "dashboard_name must be 1-255 characters of letters, digits, '-' and '_', "
            "got 'my fleet'",
        ),
        (
            {"stapled": [_Stapled("s", CERT_ARN)], "alarms": ["arn:aws:cloudwatch:alarm"]},
            "alarms[0] must be a cloudwatch.IAlarm, got 'arn:aws:cloudwatch:alarm'",
        ),
    ],
)
def test_fails_when_a_dashboard_prop_is_bad(props: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError) as caught:
        OcspIotDashboard(new_stack(), "Dashboard", **props)
    (problem,) = caught.value.problems
    assert problem.startswith(message), problem


def test_the_docs_snippet_builds_the_dashboard() -> None:
    """The ``OcspIotDashboard`` block of docs/ocsp-validating-domain.md, as written."""
    doc = (ROOT / "docs" / "ocsp-validating-domain.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "OcspIotDashboard(" in b]
    assert len(blocks) == 1, blocks
    stack = new_stack()
    namespace: dict[str, Any] = {
        "stack": stack,
        "devices": make_domain(stack),
        "partners": _second_domain(stack),
        "stapled_domain": _Stapled("stapled", CERT_ARN),
    }
    exec(compile(blocks[0], "ocsp-validating-domain.md", "exec"), namespace)  # noqa: S102
    _, dashboard = only(template_of(stack), "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == "iot-fleet-ocsp"
    titles = [w["properties"].get("title") for w in dashboard_body(stack)["widgets"]]
    assert "Decisions by reason: partners.example.com" in titles
    assert "Staple retrievals (RetrieveOCSPStapleData.Success)" in titles


def test_the_alarms_of_stapled_domains_are_on_the_alarm_widget_once() -> None:
    """A stapling construct's alarms come with it (``stapled=``), also when the validating
    domain that staples is given in both lists, and an alarm given again is shown once."""
    stack = new_stack()
    domain = make_domain(stack, stapling=lambda_stapling())
    endpoint = make_stapling(
        stack,
        lambda_stapling(),
        domain_name="partners.example.com",
        server_certificate=acm.Certificate.from_certificate_arn(stack, "PartnersCert", CERT_ARN),
    )
    stapling_alarms = [*domain.stapling.alarms, *endpoint.alarms]  # type: ignore[union-attr]
    assert len(endpoint.alarms) >= 2
    OcspIotDashboard(
        stack,
        "Dashboard",
        domains=[domain],
        stapled=[domain.stapling, endpoint],  # type: ignore[list-item]
        alarms=[endpoint.alarms[0]],
    )
    shown = _widget(dashboard_body(stack), "Alarms")["alarms"]
    expected = [
        f"{{GetAtt:{logical_id_of(stack, alarm.node.default_child)}.Arn}}"
        for alarm in (*domain.alarms, *stapling_alarms)
    ]
    assert len(set(expected)) == len(expected)
    assert sorted(shown) == sorted(expected)
