"""The construct-to-Lambda contract of the stapling function: the environment the construct
renders is read by the handler's own settings code as configured, both sides accept the same
values, and the names both sides keep copies of (settings, metrics, outcomes, reasons) are
equal."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocsp_core.reasons import OcspReason
from stapling import metrics, models
from stapling import settings as stapling_settings

from ocsp_iot_constructs import _ocsp_client
from ocsp_iot_constructs import _stapling_function as contract
from ocsp_iot_constructs._ocsp_client import OcspClientOptions
from ocsp_iot_constructs._validation import Problems
from tests.constructs.domain_support import OCSP_URL, new_stack, only, template_of
from tests.constructs.stapling_support import (
    authorized_responder,
    ca_pem,
    delegate_pem,
    lambda_stapling,
    make_stapling,
    trusted_ca,
)


def _case(
    name: str,
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(OcspStapling options, the environment they give, what ``load_settings`` reads)."""
    if name == "defaults":
        return (
            {},
            {
                "OCSP_RESPONDER_URL": OCSP_URL,
                "TRUSTED_CA_PEM": ca_pem().strip(),
                "OCSP_TIMEOUT_SECONDS": "2",
                "OCSP_CACHE_MAX_SECONDS": "3600",
                "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "300",
                "OCSP_MAX_RESPONSE_BYTES": "4096",
            },
            {
                "responder_url": "http://ocsp.example.com/",
                "trusted_cas": 1,
                "authorized_responder": False,
                "timeout_seconds": 2.0,
                "cache_max_seconds": 3600,
                "max_age_without_next_update_seconds": 300,
                "max_response_bytes": 4096,
            },
        )
    if name == "every_prop":
        return (
            {
                "responder_url": "https://ocsp.internal.example.com:8443/ocsp",
                "authorized_responder": "delegate",
                "ocsp_timeout": cdk.Duration.millis(1500),
                "cache_max_age": cdk.Duration.minutes(30),
                "max_age_without_next_update": cdk.Duration.minutes(1),
                "max_response_bytes": 2048,
            },
            {
                "OCSP_RESPONDER_URL": "https://ocsp.internal.example.com:8443/ocsp",
                "TRUSTED_CA_PEM": ca_pem().strip(),
                "OCSP_AUTHORIZED_RESPONDER_PEM": delegate_pem().strip(),
                "OCSP_TIMEOUT_SECONDS": "1.5",
                "OCSP_CACHE_MAX_SECONDS": "1800",
                "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "60",
                "OCSP_MAX_RESPONSE_BYTES": "2048",
            },
            {
                "responder_url": "https://ocsp.internal.example.com:8443/ocsp",
                "authorized_responder": True,
                "timeout_seconds": 1.5,
                "cache_max_seconds": 1800,
                "max_age_without_next_update_seconds": 60,
                "max_response_bytes": 2048,
            },
        )
    if name == "upper_bounds":
        return (
            {
                "ocsp_timeout": cdk.Duration.millis(4500),
                "cache_max_age": cdk.Duration.days(1),
                "max_age_without_next_update": cdk.Duration.days(1),
                "max_response_bytes": 4096,
            },
            {
                "OCSP_RESPONDER_URL": OCSP_URL,
                "TRUSTED_CA_PEM": ca_pem().strip(),
                "OCSP_TIMEOUT_SECONDS": "4.5",
                "OCSP_CACHE_MAX_SECONDS": "86400",
                "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "86400",
                "OCSP_MAX_RESPONSE_BYTES": "4096",
            },
            {
                "timeout_seconds": 4.5,
                "cache_max_seconds": 86_400,
                "max_age_without_next_update_seconds": 86_400,
                "max_response_bytes": 4096,
            },
        )
    assert name == "lower_bounds"
    return (
        {
            "ocsp_timeout": cdk.Duration.millis(1),
            "cache_max_age": cdk.Duration.seconds(0),
            "max_age_without_next_update": cdk.Duration.seconds(0),
            "max_response_bytes": 1024,
        },
        {
            "OCSP_RESPONDER_URL": OCSP_URL,
            "TRUSTED_CA_PEM": ca_pem().strip(),
            "OCSP_TIMEOUT_SECONDS": "0.001",
            "OCSP_CACHE_MAX_SECONDS": "0",
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "0",
            "OCSP_MAX_RESPONSE_BYTES": "1024",
        },
        {
            "timeout_seconds": 0.001,
            "cache_max_seconds": 0,
            "max_age_without_next_update_seconds": 0,
            "max_response_bytes": 1024,
        },
    )


CASES = ("defaults", "every_prop", "upper_bounds", "lower_bounds")


def _environment_of(options: dict[str, Any]) -> dict[str, str]:
    stack = new_stack()
    values = dict(options)
    if values.get("authorized_responder") == "delegate":
        values["authorized_responder"] = authorized_responder(stack)
    make_stapling(stack, lambda_stapling(**values))
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    variables: dict[str, str] = function["Properties"]["Environment"]["Variables"]
    return variables


def _settings_view(loaded: stapling_settings.Settings, keys: Any) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for key in keys:
        value = getattr(loaded, key)
        if key == "trusted_cas":
            value = len(value)
        elif key == "authorized_responder":
            value = value is not None
        view[key] = value
    return view


@pytest.mark.parametrize("case", CASES)
def test_environment_carries_the_contract(case: str) -> None:
    options, environment, _ = _case(case)
    assert _environment_of(options) == environment


@pytest.mark.parametrize("case", CASES)
def test_environment_is_read_by_the_handler_as_configured(case: str) -> None:
    """The environment parses with the handler's own ``load_settings`` into the props' values
    (at the defaults, at both ends of every bound, with the authorized responder)."""
    options, _, expected = _case(case)
    loaded = stapling_settings.load_settings(_environment_of(options))
    assert _settings_view(loaded, expected) == expected


def test_the_settings_tables_are_equal() -> None:
    construct_rows = [setting.row() for setting in contract.SETTINGS]
    handler_rows = [setting.row() for setting in stapling_settings.SETTINGS]
    assert construct_rows == handler_rows
    assert len({row[0] for row in handler_rows}) == len(handler_rows)
    assert _ocsp_client.IOT_MAX_STAPLE_BYTES == stapling_settings.IOT_MAX_STAPLE_BYTES


def test_the_defaults_the_construct_renders_are_the_tables() -> None:
    rendered = _case("defaults")[1]
    built_elsewhere = {"OCSP_RESPONDER_URL", "TRUSTED_CA_PEM", "OCSP_AUTHORIZED_RESPONDER_PEM"}
    assert {
        name: value
        for name, value in stapling_settings.DEFAULTS.items()
        if name not in built_elsewhere
    } == {name: value for name, value in rendered.items() if name not in built_elsewhere}


def test_every_core_reason_is_a_stapling_reason() -> None:
    assert {r.value for r in OcspReason} <= {r.value for r in models.Reason}
    assert all(models.from_core(r).value == r.value for r in OcspReason)


def test_metric_names_outcomes_and_reasons_match_the_handler() -> None:
    assert contract.NAMESPACE == metrics.NAMESPACE
    assert contract.METRIC_NAMES == metrics.METRIC_NAMES
    assert contract.REASONS == metrics.REASON_NAMES
    assert contract.OUTCOMES == metrics.OUTCOME_NAMES
    assert [list(d) for d in metrics.ANSWER_DIMENSIONS] == [
        [contract.DIMENSION_FUNCTION_NAME, contract.DIMENSION_OUTCOME],
        [contract.DIMENSION_FUNCTION_NAME, contract.DIMENSION_REASON],
    ]
    assert contract.HANDLER.split(".")[0] == "stapling_handler"


_BASE: dict[str, int] = {
    "ocsp_timeout": 2000,
    "cache_max_age": 3_600_000,
    "max_age_without_next_update": 300_000,
    "max_response_bytes": 4096,
}
_MILLIS = st.one_of(
    st.integers(0, 90_000).map(lambda s: s * 1000),
    st.integers(0, 10_000),
    st.integers(86_399_000, 86_401_000),
)
_CHANGE = st.one_of(
    _MILLIS.map(lambda v: {"cache_max_age": v}),
    _MILLIS.map(lambda v: {"max_age_without_next_update": v}),
    st.integers(0, 6000).map(lambda v: {"ocsp_timeout": v}),
    st.one_of(
        st.integers(-10, 10_000),
        st.sampled_from([1023, 1024, 4096, 4097]),
        st.booleans(),
        st.floats(0, 10_000, allow_nan=False),
    ).map(lambda v: {"max_response_bytes": v}),
)


@settings(max_examples=200)
@given(_CHANGE)
def test_construct_accepts_exactly_what_the_handler_accepts(change: dict[str, Any]) -> None:
    values = {**_BASE, **change}
    options = OcspClientOptions(
        ocsp_timeout=cdk.Duration.millis(values["ocsp_timeout"]),
        cache_max_age=cdk.Duration.millis(values["cache_max_age"]),
        max_age_without_next_update=cdk.Duration.millis(values["max_age_without_next_update"]),
        max_response_bytes=values["max_response_bytes"],
    )
    problems = Problems("StaplingDomainConfig", "Endpoint")
    options.check(problems, contract.SETTINGS, timeout=cdk.Duration.seconds(5))
    env = options.environment(
        contract.SETTINGS,
        issuers=[trusted_ca()],
        allowed_urls=[],
        responder_url=OCSP_URL,
    )
    try:
        loaded = stapling_settings.load_settings(env)
    except stapling_settings.ConfigError as error:
        assert problems, f"the construct accepted what the handler refuses: {error}"
        return
    assert not problems, f"the construct refused what the handler accepts: {problems._problems}"
    assert loaded.timeout_seconds * 1000 == pytest.approx(values["ocsp_timeout"])
    assert loaded.cache_max_seconds * 1000 == values["cache_max_age"]
    assert (
        loaded.max_age_without_next_update_seconds * 1000 == values["max_age_without_next_update"]
    )
    assert loaded.max_response_bytes == values["max_response_bytes"]
