"""Every prop of the constructs has a checked type and one clear message.

One failure test per mistake a user makes (``test_fails_when_...``), and property tests that feed
wrong-typed values to every prop of ``OcspValidatingDomain``, ``OcspPrivateCa``,
``OcspIotDashboard``, ``StaplingDomainConfig`` and its options (``OcspStapling``,
``OcspAuthorizedResponder``) and require a ``PropsError`` naming that prop, never another exception.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Annotations, Match
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ocsp_iot_constructs import (
    OcspAuthorizedResponder,
    OcspIotDashboard,
    OcspPrivateCa,
    OcspStapling,
    OcspValidatingDomain,
    PropsError,
    StaplingDomainConfig,
    TrustedCa,
)
from ocsp_iot_constructs._validation import DNS_NAME_RULE
from tests.constructs.domain_support import (
    CA_PEM,
    OCSP_URL,
    make_domain,
    new_stack,
    only,
    server_cert,
    template_of,
)
from tests.constructs.stapling_support import authorized_responder, lambda_stapling, make_stapling
from tests.support import new_app


def domain_problems(**overrides: Any) -> tuple[str, ...]:
    with pytest.raises(PropsError) as caught:
        make_domain(new_stack(), **overrides)
    return caught.value.problems


def ca_problems(**props: Any) -> tuple[str, ...]:
    with pytest.raises(PropsError) as caught:
        OcspPrivateCa(cdk.Stack(new_app(), "S"), "Ca", **props)
    return caught.value.problems


# --------------------------------------------------------------------------------------------
# One test per reported mistake
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [("arm64", "arm64"), ("X86_64", "x86_64")])
def test_architecture_may_be_named_by_a_string(given: str, expected: str) -> None:
    stack = new_stack()
    make_domain(stack, architecture=given)
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    assert function["Properties"]["Architectures"] == [expected]


@pytest.mark.parametrize("value", ["arm", 64, lambda_.Runtime.PYTHON_3_12])
def test_fails_when_architecture_is_not_an_architecture(value: object) -> None:
    (problem,) = domain_problems(architecture=value)
    assert problem.startswith(
        "architecture must be lambda_.Architecture.ARM_64 or lambda_.Architecture.X86_64 "
        "(or 'arm64', 'x86_64'), got "
    )
    assert " object at 0x" not in problem


def test_fails_when_key_algorithm_is_the_certificatemanager_enum() -> None:
    (problem,) = ca_problems(key_algorithm=acm.KeyAlgorithm.RSA_2048)
    assert problem == (
        "key_algorithm must be one of KeyAlgorithm.EC_PRIME256V1, KeyAlgorithm.EC_SECP384R1, "
        "KeyAlgorithm.EC_SECP521R1, KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072, "
        "KeyAlgorithm.RSA_4096, got <aws_certificatemanager.KeyAlgorithm RSA_2048>; use "
        "KeyAlgorithm.RSA_2048 from ocsp_iot_constructs, not aws_certificatemanager.KeyAlgorithm"
    )


def test_fails_when_log_retention_is_a_number_of_days() -> None:
    assert domain_problems(log_retention=90) == (
        "log_retention must be a logs.RetentionDays member such as "
        "logs.RetentionDays.THREE_MONTHS, got 90",
    )


def test_log_retention_may_be_named_by_a_string_in_any_case() -> None:
    stack = new_stack()
    make_domain(stack, log_retention="one_year")
    template_of(stack).has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365})
    assert logs.RetentionDays.ONE_YEAR.name == "ONE_YEAR"


@pytest.mark.parametrize(
    "timeout", [cdk.Duration.seconds(901), cdk.Duration.minutes(20), cdk.Duration.hours(1)]
)
def test_fails_when_timeout_exceeds_lambdas_maximum(timeout: cdk.Duration) -> None:
    assert domain_problems(timeout=timeout) == (
        "timeout must be a positive whole number of seconds (Lambda timeouts are whole "
        f"seconds), at most 900 (Lambda's maximum), got {timeout.to_human_string()!r}",
    )


@pytest.mark.parametrize(
    ("timeout", "threshold"),
    [
        (cdk.Duration.seconds(4), 3200),  # the default: 80 % of the timeout
        (cdk.Duration.seconds(3), 2400),
        # IoT Core gives up after ~5 s whatever the timeout: 80 % of that, not of 15 minutes
        (cdk.Duration.seconds(30), 4000),
        (cdk.Duration.seconds(900), 4000),
    ],
)
def test_duration_alarm_fires_within_iot_cores_budget(
    timeout: cdk.Duration, threshold: int
) -> None:
    stack = new_stack()
    make_domain(stack, timeout=timeout, ocsp_deadline=cdk.Duration.seconds(2))
    alarms = template_of(stack).find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "Duration"}}
    )
    ((_, alarm),) = alarms.items()
    assert alarm["Properties"]["Threshold"] == threshold
    if timeout.to_seconds() > 5:
        assert "80% of the caller's 5 seconds budget" in alarm["Properties"]["AlarmDescription"]
        Annotations.from_stack(stack).has_warning(
            "/Stack/Domain", Match.string_like_regexp("ocsp-iot:preAuthTimeout")
        )


def test_fails_when_trusted_cas_is_empty_with_that_one_problem() -> None:
    assert domain_problems(trusted_cas=[]) == (
        "trusted_cas must be at least one CA (an OcspPrivateCa or TrustedCa.from_pem(...)), got []",
    )


def test_fails_when_every_trusted_ca_is_unusable_without_a_url_problem() -> None:
    problems = domain_problems(trusted_cas=["not a CA"])
    assert [p.split(" ", 1)[0] for p in problems] == ["trusted_cas[0]"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # out of the handler's range: not also "at most ocsp_deadline"
        (
            {"ocsp_timeout": cdk.Duration.seconds(5)},
            "ocsp_timeout must be above 0 and at most 4500 ms (IoT Core's budget is ~5 s), "
            "got '5 seconds'",
        ),
        # in range but above the deadline: one message
        (
            {"ocsp_timeout": cdk.Duration.seconds(4)},
            "ocsp_timeout must be at most ocsp_deadline (3 seconds), got '4 seconds'",
        ),
        # a bad deadline is not compared with the timeout or the Lambda timeout again
        (
            {"ocsp_deadline": cdk.Duration.seconds(5)},
            "ocsp_deadline must be above 0 and at most 4500 ms (IoT Core's budget is ~5 s), "
            "got '5 seconds'",
        ),
        (
            {"ocsp_timeout": "2s"},
            "ocsp_timeout must be a cdk.Duration, got '2s'; e.g. cdk.Duration.seconds(2)",
        ),
    ],
)
def test_fails_when_an_ocsp_duration_is_bad_with_one_message(
    overrides: dict[str, Any], expected: str
) -> None:
    assert domain_problems(**overrides) == (expected,)


def test_fails_when_a_trusted_ca_pem_is_bytes_without_printing_it() -> None:
    pem = CA_PEM.encode()
    (problem,) = domain_problems(trusted_cas=[TrustedCa.from_pem(pem, ocsp_responder_url=OCSP_URL)])  # type: ignore[arg-type]
    assert problem.startswith(
        f"trusted_cas[0].issuing_ca_certificate_pem must be a PEM string (str), got <{len(pem)} "
        "bytes: b'-----BEGIN CERTIFICATE-----"
    )
    assert problem.endswith("; decode it first: TrustedCa.from_pem(pem.decode('ascii'))")
    assert len(problem) < 300
    assert CA_PEM.splitlines()[2] not in problem  # the body of the certificate is not shown


def test_a_long_value_is_cut_in_messages() -> None:
    (problem,) = domain_problems(domain_configuration_name="x" * 5000)
    assert problem.endswith("... (5000 characters)")
    assert len(problem) < 300


def test_enum_props_take_value_or_name_strings_in_any_case() -> None:
    stack = new_stack()
    make_domain(
        stack,
        fail_mode="OPEN",
        acknowledge_fail_open=True,
        hash_algorithm="Sha256",
        authentication_type="custom_auth_x509",
        custom_authorizer_name="Authorizer",
        application_protocol="https",
    )
    template = template_of(stack)
    _, function = only(template, "AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    assert (variables["OCSP_FAIL_MODE"], variables["OCSP_HASH_ALGORITHM"]) == ("open", "sha256")
    template.has_resource_properties(
        "AWS::IoT::DomainConfiguration",
        {"AuthenticationType": "CUSTOM_AUTH_X509", "ApplicationProtocol": "HTTPS"},
    )
    strings: dict[str, Any] = {
        "hierarchy": "root_only",
        "key_algorithm": "EC_PRIME256V1",
        "signing_algorithm": "sha256withecdsa",
        "usage_mode": "General_Purpose",
    }
    ca = OcspPrivateCa(cdk.Stack(new_app(), "S"), "Ca", **strings)
    assert ca.subordinate_ca is None
    assert ca.key_algorithm.value == "EC_prime256v1"
    assert ca.signing_algorithm.value == "SHA256WITHECDSA"


def test_fails_when_an_enum_string_names_nothing() -> None:
    assert domain_problems(fail_mode="OPENED") == (
        "fail_mode must be one of OcspFailMode.CLOSED, OcspFailMode.OPEN, got 'OPENED'",
    )


@pytest.mark.parametrize(
    ("construct", "keyword", "value", "example"),
    [
        ("ca", "ocsp_custom_cname", "OCSP.example.com", "'ocsp.example.com'"),
        ("ca", "crl_custom_cname", "CRL.Example.com", "'crl.example.com'"),
        ("domain", "domain_name", "Devices.example.com", "'devices.example.com'"),
    ],
)
def test_fails_when_a_dns_name_has_upper_case_with_one_rule(
    construct: str, keyword: str, value: str, example: str
) -> None:
    """The domain name and the OCSP and CRL CNAMEs follow one DNS-name rule, worded once."""
    problems = (
        ca_problems(**{keyword: value, **({"crl": True} if keyword.startswith("crl") else {})})
        if construct == "ca"
        else domain_problems(**{keyword: value})
    )
    sample = "ocsp.example.com" if construct == "ca" else "devices.example.com"
    assert problems == (
        f"{keyword} must be {DNS_NAME_RULE} such as '{sample}', got {value!r}; "
        f"use {value.lower()!r}",
    )
    assert example == repr(value.lower())


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("enabled", "yes", "enabled must be True or False, got 'yes'"),
        ("tracing", 1, "tracing must be True or False, got 1"),
        ("alarms", "off", "alarms must be True or False, got 'off'"),
        ("acknowledge_fail_open", None, "acknowledge_fail_open must be True or False, got None"),
        ("allow_authorizer_override", 0, "allow_authorizer_override must be True or False, got 0"),
        ("tags", [("team", "iot")], "tags must be a mapping of tag keys to values, got [("),
        ("tags", {"team": 42}, "tags['team'] must be a string value of at most 256 characters"),
        ("tags", {7: "x"}, "tags[7] must be a key of 1-128 characters"),
        ("hosted_zone", "Z0123456789", "hosted_zone must be a route53.IHostedZone, got 'Z01"),
        ("record_ttl", 300, "record_ttl must be a cdk.Duration, got 300"),
        ("record_ttl", cdk.Duration.millis(1500), "record_ttl must be whole seconds from 1"),
        ("record_ttl", cdk.Duration.days(3), "record_ttl must be whole seconds from 1 second"),
        ("security_groups", 5, "security_groups must be a list of ec2.ISecurityGroup, got 5"),
        ("alarm_action", "arn:aws:sns:x", "alarm_action must be a cloudwatch.IAlarmAction"),
        ("domain_configuration_name", 7, "domain_configuration_name must be a string, got 7"),
        ("tls_security_policy", 12, "tls_security_policy must be one of IoTSecurityPolicy_"),
        ("memory_size", 256.0, "memory_size must be a whole number between 128 and 10240"),
    ],
)
def test_fails_when_a_domain_prop_has_the_wrong_type(
    keyword: str, value: object, message: str
) -> None:
    (problem,) = domain_problems(**{keyword: value})
    assert problem.startswith(message), problem


def test_fails_when_the_custom_authorizer_name_is_not_a_name() -> None:
    assert domain_problems(
        authentication_type="CUSTOM_AUTH_X509", custom_authorizer_name="my authorizer!"
    ) == (
        "custom_authorizer_name must be the default authorizer's name when authentication_type "
        "is CUSTOM_AUTH_X509 (1-128 of letters, digits and _=,@-), got 'my authorizer!'",
    )


@pytest.mark.parametrize("keyword", ["crl", "allow_acm_renewal", "register_with_iot"])
def test_fails_when_a_ca_switch_is_not_a_bool(keyword: str) -> None:
    """A truthy string would have switched the feature on."""
    assert ca_problems(**{keyword: "false"}) == (f"{keyword} must be True or False, got 'false'",)


# --------------------------------------------------------------------------------------------
# Property tests: a wrong-typed value for any prop is reported under that prop's name
# --------------------------------------------------------------------------------------------

#: Values of every kind a user could pass by mistake (never ``None``: that is every optional
#: prop's default).
JUNK = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.lists(st.integers(0, 9), min_size=1, max_size=3),
    st.tuples(st.text(max_size=3)),
    st.dictionaries(st.text(max_size=3), st.integers(0, 9), min_size=1, max_size=2),
    st.builds(object),
    st.just(cdk.Duration.seconds(1)),
    st.just(acm.KeyAlgorithm.RSA_2048),
)


#: Annotation prefixes of the kinds whose valid values must not be fed as "wrong" ones.
_KINDS = (("bool", "bool"), ("int", "int"), ("Sequence", "collection"), ("Mapping", "collection"))


def _kind(annotation: str) -> str:
    """The prop kind that decides which values are *not* wrong-typed for it."""
    if "Duration" in annotation:
        return "duration"
    if annotation.endswith("| bool"):  # an option group, or True for its defaults
        return "bool"
    return next((kind for prefix, kind in _KINDS if annotation.startswith(prefix)), "other")


def _wrong_for(kind: str, value: object) -> bool:
    """Is ``value`` of a type the prop of ``kind`` does not take?"""
    if kind == "bool":
        return not isinstance(value, bool)
    if kind == "int":
        return not isinstance(value, int) or isinstance(value, bool)
    if kind == "duration":
        return not isinstance(value, cdk.Duration)
    if kind == "collection":
        # an empty list or mapping is a valid value of several collection props
        return not (isinstance(value, list | tuple | dict) and len(value) == 0)
    # str props, enums (which take strings), architecture, log_retention: no strings at all;
    # the strings each takes are tested above
    return not isinstance(value, str)


def _props(construct: Callable[..., object]) -> list[tuple[str, str]]:
    parameters = inspect.signature(construct).parameters.values()
    return [
        (p.name, str(p.annotation)) for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]


DOMAIN_PROPS = _props(OcspValidatingDomain.__init__)
CA_PROPS = _props(OcspPrivateCa.__init__)
DASHBOARD_PROPS = _props(OcspIotDashboard.__init__)


def test_the_property_tests_cover_every_prop() -> None:
    assert len(DOMAIN_PROPS) >= 40
    assert {"architecture", "log_retention", "hosted_zone", "tags"} <= dict(DOMAIN_PROPS).keys()
    assert {"key_algorithm", "ocsp_cname_distribution", "crl"} <= dict(CA_PROPS).keys()
    assert set(dict(DASHBOARD_PROPS)) == {"domains", "stapled", "alarms", "dashboard_name"}


def _names_the_prop(problems: tuple[str, ...], prop: str) -> bool:
    return any(re.match(rf"{re.escape(prop)}[ \[.]", p) for p in problems)


_COUNTER = itertools.count()
PROPERTY_SETTINGS = settings(
    max_examples=8,
    deadline=None,  # a synth takes what it takes on a busy machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: One value of each kind, tried for every prop besides the generated ones.
EXEMPLARS: tuple[object, ...] = (
    7,
    2.5,
    True,
    "",
    "x",
    b"-----BEGIN CERTIFICATE-----",
    [1],
    ("a",),
    {"k": 1},
    object(),
    cdk.Duration.seconds(1),
    acm.KeyAlgorithm.RSA_2048,
)


def with_exemplars(test: Callable[..., None]) -> Callable[..., None]:
    for value in EXEMPLARS:
        test = example(value=value)(test)
    return test


STAPLING_DOMAIN_PROPS = _props(StaplingDomainConfig.__init__)
STAPLING_PROPS = _props(OcspStapling.__init__)
RESPONDER_PROPS = _props(OcspAuthorizedResponder.__init__)


def test_the_stapling_property_tests_cover_every_prop() -> None:
    assert {"domain_name", "stapling", "enabled", "tags"} <= dict(STAPLING_DOMAIN_PROPS).keys()
    assert {"responder_function", "trusted_cas", "memory_size"} <= dict(STAPLING_PROPS).keys()
    assert set(dict(RESPONDER_PROPS)) == {"certificate", "certificate_pem"}


def _domain(prop: str, value: object) -> None:
    stack = new_stack()
    props: dict[str, Any] = {
        "domain_name": "devices.example.com",
        "server_certificate": server_cert(stack),
        "trusted_cas": [TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL)],
        prop: value,
    }
    OcspValidatingDomain(stack, f"Domain{next(_COUNTER)}", **props)


def _ca(prop: str, value: object) -> None:
    props: dict[str, Any] = {prop: value}
    OcspPrivateCa(cdk.Stack(new_app(), "S"), "Ca", **props)


def _dashboard(prop: str, value: object) -> None:
    stack = new_stack()
    props: dict[str, Any] = {"domains": [make_domain(stack)], prop: value}
    OcspIotDashboard(stack, "Dashboard", **props)


def _stapling_domain(prop: str, value: object) -> None:
    props: dict[str, Any] = {"stapling": None, prop: value}
    make_stapling(new_stack(), **props)


def _stapling_option(prop: str, value: object) -> None:
    make_stapling(new_stack(), lambda_stapling(**{prop: value}))


def _authorized_responder(prop: str, value: object) -> None:
    stack = new_stack()
    responder = authorized_responder(stack)
    props: dict[str, Any] = {
        "certificate": responder.certificate,
        "certificate_pem": responder.certificate_pem,
        prop: value,
    }
    make_stapling(stack, lambda_stapling(authorized_responder=OcspAuthorizedResponder(**props)))


#: (what builds it with one prop set, the prefix its problems carry, its props).
BUILDERS: dict[str, tuple[Callable[[str, object], None], str, list[tuple[str, str]]]] = {
    "OcspValidatingDomain": (_domain, "", DOMAIN_PROPS),
    "OcspPrivateCa": (_ca, "", CA_PROPS),
    "OcspIotDashboard": (_dashboard, "", DASHBOARD_PROPS),
    "StaplingDomainConfig": (_stapling_domain, "", STAPLING_DOMAIN_PROPS),
    "OcspStapling": (_stapling_option, "stapling.", STAPLING_PROPS),
    "OcspAuthorizedResponder": (
        _authorized_responder,
        "stapling.authorized_responder.",
        RESPONDER_PROPS,
    ),
}
EVERY_PROP = [
    (kind, prop, annotation)
    for kind, (_build, _prefix, props) in BUILDERS.items()
    for prop, annotation in props
]


@pytest.mark.parametrize(
    ("kind", "prop", "annotation"), EVERY_PROP, ids=[f"{k}.{p}" for k, p, _ in EVERY_PROP]
)
@PROPERTY_SETTINGS
@with_exemplars
@given(value=JUNK)
def test_every_prop_rejects_a_wrong_type_by_name(
    kind: str, prop: str, annotation: str, value: object
) -> None:
    if not _wrong_for(_kind(annotation), value):
        return
    build, prefix, _props_of_kind = BUILDERS[kind]
    with pytest.raises(PropsError) as caught:
        build(prop, value)
    problems = caught.value.problems
    assert _names_the_prop(problems, f"{prefix}{prop}"), (kind, prop, value, problems)
    # one clear message: nothing about a prop the user did not set, and for a single wrong
    # value one message (a wrong list or mapping gets one per wrong entry)
    assert all(_names_the_prop((p,), f"{prefix}{prop}") for p in problems), (kind, prop, problems)
    if not isinstance(value, list | tuple | dict):
        assert len(problems) == 1, (kind, prop, value, problems)
