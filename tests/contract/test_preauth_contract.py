"""The construct-to-Lambda contract of the pre-auth function: the environment the construct
renders is read by the handler's own settings code as configured, both sides accept the same
values, and the names both sides keep copies of (settings, metrics, reasons) are equal."""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st
from ocsp_core import ocsp as handler_ocsp
from ocsp_core import settings as core_settings
from ocsp_core.certid import CertId
from ocsp_core.reasons import OcspReason
from preauth import metrics, models
from preauth import settings as preauth_settings

from ocsp_iot_constructs import _ocsp_client
from ocsp_iot_constructs import _preauth_function as contract
from ocsp_iot_constructs._ocsp_client import OcspClientOptions
from ocsp_iot_constructs._validation import Problems
from ocsp_iot_constructs.ocsp_private_ca import SigningAlgorithm
from ocsp_iot_constructs.ocsp_validating_domain import OcspFailMode, OcspHashAlgorithm, TrustedCa
from tests.constructs.domain_support import (
    CA_PEM,
    OCSP_URL,
    PSS_HASHES,
    SECOND_CA_PEM,
    make_domain,
    new_stack,
    only,
    template_of,
)
from tests.lambdas.support import forge
from tests.lambdas.support.pki import build_pki

ENVIRONMENT_CASES: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, Any]]] = {
    "defaults": (
        {},
        {
            "TRUSTED_CA_PEM": CA_PEM.strip(),
            "OCSP_ALLOWED_URLS": OCSP_URL,
            "OCSP_FAIL_MODE": "closed",
            "OCSP_STALE_IF_ERROR_SECONDS": "0",
            "OCSP_TIMEOUT_SECONDS": "2",
            "OCSP_DEADLINE_SECONDS": "3",
            "OCSP_CACHE_MAX_SECONDS": "3600",
            "OCSP_CACHE_MAX_ENTRIES": "10000",
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "300",
            "OCSP_MAX_RESPONSE_BYTES": "16384",
            "OCSP_NONCE": "off",
            "OCSP_HASH_ALGORITHM": "sha1",
        },
        {
            "trusted_cas": 1,
            "allowed_urls": ["http://ocsp.example.com/"],
            "responder_url": None,
            "fail_mode": "closed",
            "stale_if_error_seconds": 0,
            "timeout_seconds": 2.0,
            "deadline_seconds": 3.0,
            "cache_max_seconds": 3600,
            "cache_max_entries": 10_000,
            "nonce": False,
            "max_response_bytes": 16_384,
            "hash_algorithm": "sha1",
            "max_age_without_next_update_seconds": 300,
        },
    ),
    "every_typed_prop": (
        {
            "trusted_cas": [
                TrustedCa.from_pem(CA_PEM, ocsp_responder_url=OCSP_URL),
                TrustedCa.from_pem(SECOND_CA_PEM),
            ],
            "allowed_responder_urls": ["http://ocsp2.example.com:8080/ocsp", OCSP_URL],
            "responder_url": "https://proxy.example.com/ocsp",
            "fail_mode": OcspFailMode.OPEN,
            "acknowledge_fail_open": True,
            "stale_if_error": cdk.Duration.minutes(10),
            "cache_max_age": cdk.Duration.minutes(30),
            "cache_max_entries": 500,
            "ocsp_timeout": cdk.Duration.millis(1500),
            "ocsp_deadline": cdk.Duration.millis(2500),
            "max_age_without_next_update": cdk.Duration.minutes(1),
            "max_response_bytes": 4096,
            "nonce": True,
            "hash_algorithm": OcspHashAlgorithm.SHA256,
        },
        {
            "TRUSTED_CA_PEM": f"{CA_PEM.strip()}\n{SECOND_CA_PEM.strip()}",
            # the CA's URL first, then the extra ones, each once
            "OCSP_ALLOWED_URLS": f"{OCSP_URL},http://ocsp2.example.com:8080/ocsp",
            "OCSP_RESPONDER_URL": "https://proxy.example.com/ocsp",
            "OCSP_FAIL_MODE": "open",
            "OCSP_STALE_IF_ERROR_SECONDS": "600",
            "OCSP_TIMEOUT_SECONDS": "1.5",
            "OCSP_DEADLINE_SECONDS": "2.5",
            "OCSP_CACHE_MAX_SECONDS": "1800",
            "OCSP_CACHE_MAX_ENTRIES": "500",
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "60",
            "OCSP_MAX_RESPONSE_BYTES": "4096",
            "OCSP_NONCE": "on",
            "OCSP_HASH_ALGORITHM": "sha256",
        },
        {
            "trusted_cas": 2,
            # the override is implicitly allowed
            "allowed_urls": [
                "http://ocsp.example.com/",
                "http://ocsp2.example.com:8080/ocsp",
                "https://proxy.example.com/ocsp",
            ],
            "responder_url": "https://proxy.example.com/ocsp",
            "fail_mode": "open",
            "stale_if_error_seconds": 600,
            "timeout_seconds": 1.5,
            "deadline_seconds": 2.5,
            "cache_max_seconds": 1800,
            "cache_max_entries": 500,
            "nonce": True,
            "max_response_bytes": 4096,
            "hash_algorithm": "sha256",
            "max_age_without_next_update_seconds": 60,
        },
    ),
    "upper_bounds": (
        {
            "stale_if_error": cdk.Duration.days(1),
            "cache_max_age": cdk.Duration.days(1),
            "cache_max_entries": 1_000_000,
            "ocsp_timeout": cdk.Duration.millis(4500),
            "ocsp_deadline": cdk.Duration.millis(4500),
            "timeout": cdk.Duration.seconds(5),
            "max_age_without_next_update": cdk.Duration.days(1),
            "max_response_bytes": 1_048_576,
        },
        {
            "TRUSTED_CA_PEM": CA_PEM.strip(),
            "OCSP_ALLOWED_URLS": OCSP_URL,
            "OCSP_FAIL_MODE": "closed",
            "OCSP_STALE_IF_ERROR_SECONDS": "86400",
            "OCSP_TIMEOUT_SECONDS": "4.5",
            "OCSP_DEADLINE_SECONDS": "4.5",
            "OCSP_CACHE_MAX_SECONDS": "86400",
            "OCSP_CACHE_MAX_ENTRIES": "1000000",
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "86400",
            "OCSP_MAX_RESPONSE_BYTES": "1048576",
            "OCSP_NONCE": "off",
            "OCSP_HASH_ALGORITHM": "sha1",
        },
        {
            "stale_if_error_seconds": 86_400,
            "timeout_seconds": 4.5,
            "deadline_seconds": 4.5,
            "cache_max_seconds": 86_400,
            "cache_max_entries": 1_000_000,
            "max_response_bytes": 1_048_576,
            "max_age_without_next_update_seconds": 86_400,
        },
    ),
    "lower_bounds": (
        {
            "cache_max_age": cdk.Duration.seconds(0),
            "cache_max_entries": 0,
            "ocsp_timeout": cdk.Duration.millis(1),
            "ocsp_deadline": cdk.Duration.millis(1),
            "max_age_without_next_update": cdk.Duration.seconds(0),
            "max_response_bytes": 1024,
        },
        {
            "TRUSTED_CA_PEM": CA_PEM.strip(),
            "OCSP_ALLOWED_URLS": OCSP_URL,
            "OCSP_FAIL_MODE": "closed",
            "OCSP_STALE_IF_ERROR_SECONDS": "0",
            "OCSP_TIMEOUT_SECONDS": "0.001",
            "OCSP_DEADLINE_SECONDS": "0.001",
            "OCSP_CACHE_MAX_SECONDS": "0",
            "OCSP_CACHE_MAX_ENTRIES": "0",
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "0",
            "OCSP_MAX_RESPONSE_BYTES": "1024",
            "OCSP_NONCE": "off",
            "OCSP_HASH_ALGORITHM": "sha1",
        },
        {
            "timeout_seconds": 0.001,
            "deadline_seconds": 0.001,
            "cache_max_seconds": 0,
            "cache_max_entries": 0,
            "max_response_bytes": 1024,
            "max_age_without_next_update_seconds": 0,
        },
    ),
}


def _settings_view(settings: Any, keys: Iterable[str]) -> dict[str, Any]:
    """The handler's ``Settings`` as plain values, for the keys a case names."""
    view: dict[str, Any] = {}
    for key in keys:
        value = getattr(settings, key)
        if key == "trusted_cas":
            value = len(value)
        elif key == "allowed_urls":
            value = sorted(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        view[key] = value
    return view


def _environment_of(props: dict[str, Any]) -> dict[str, str]:
    stack = new_stack()
    make_domain(stack, **props)
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    variables: dict[str, str] = function["Properties"]["Environment"]["Variables"]
    return variables


@pytest.mark.parametrize("case", sorted(ENVIRONMENT_CASES))
def test_environment_carries_the_contract(case: str) -> None:
    props, environment, _ = ENVIRONMENT_CASES[case]
    assert _environment_of(props) == environment


@pytest.mark.parametrize("case", sorted(ENVIRONMENT_CASES))
def test_environment_is_read_by_the_handler_as_configured(case: str) -> None:
    """The environment parses with the handler's own ``load_settings`` into the props' values
    (at the defaults and at both ends of every bound)."""
    props, _, expected = ENVIRONMENT_CASES[case]
    loaded = preauth_settings.load_settings(_environment_of(props))
    assert _settings_view(loaded, expected) == expected


def test_the_settings_tables_are_equal() -> None:
    """Each setting is declared once per side of the environment boundary: the construct's
    table (names, kinds, defaults, bounds, choices, in the handler's order) is the handler's."""
    construct_rows = [setting.row() for setting in contract.SETTINGS]
    handler_rows = [setting.row() for setting in preauth_settings.SETTINGS]
    assert construct_rows == handler_rows
    assert len({row[0] for row in handler_rows}) == len(handler_rows)  # each name once


def test_the_defaults_the_construct_renders_are_the_tables() -> None:
    """The environment of a domain with no OCSP props set carries exactly the table defaults
    (apart from the values built from other props)."""
    rendered = ENVIRONMENT_CASES["defaults"][1]
    built_elsewhere = {"TRUSTED_CA_PEM", "OCSP_ALLOWED_URLS", "OCSP_RESPONDER_URL"}
    assert {
        name: value
        for name, value in preauth_settings.DEFAULTS.items()
        if name not in built_elsewhere
    } == {name: value for name, value in rendered.items() if name not in built_elsewhere}
    assert _ocsp_client.MAX_DEADLINE_SECONDS == core_settings.MAX_DEADLINE_SECONDS
    assert _ocsp_client.MAX_SETTING_SECONDS == core_settings.MAX_SETTING_SECONDS


def test_every_core_reason_is_a_preauth_reason() -> None:
    """A core failure keeps its name in the pre-auth decision (``models.from_core``)."""
    assert {r.value for r in OcspReason} <= {r.value for r in models.Reason}
    assert all(models.from_core(r).value == r.value for r in OcspReason)


_CHECKER_BASE: dict[str, Any] = {
    "stale_if_error": 0,
    "cache_max_age": 3_600_000,
    "max_age_without_next_update": 300_000,
    "ocsp_timeout": 2000,
    "ocsp_deadline": 3000,
    "cache_max_entries": 10_000,
    "max_response_bytes": 16_384,
}


_DURATIONS = ("stale_if_error", "cache_max_age", "max_age_without_next_update")


_MILLIS = st.one_of(
    st.integers(0, 90_000).map(lambda s: s * 1000),  # whole seconds around the 1-day bound
    st.integers(0, 10_000),
    st.integers(86_399_000, 86_401_000),
)


_COUNT = st.one_of(
    st.integers(-10, 2_000_000),
    st.sampled_from([0, 1023, 1024, 1_000_000, 1_000_001, 1_048_576, 1_048_577]),
    st.booleans(),
    st.floats(0, 2_000_000, allow_nan=False),
)


def _one(key: str, value: int) -> dict[str, Any]:
    return {key: value}


_CHECKER_CHANGE = st.one_of(
    *(_MILLIS.map(functools.partial(_one, key)) for key in _DURATIONS),
    st.tuples(st.integers(0, 6000), st.integers(0, 6000)).map(
        lambda pair: {"ocsp_timeout": pair[0], "ocsp_deadline": pair[1]}
    ),
    _COUNT.map(lambda n: {"cache_max_entries": n}),
    _COUNT.map(lambda n: {"max_response_bytes": n}),
)


@settings(max_examples=200)
@given(_CHECKER_CHANGE)
def test_construct_accepts_exactly_what_the_handler_accepts(change: dict[str, Any]) -> None:
    """A value the construct lets through but the handler refuses would deny every device at
    run time; one the construct refuses but the handler takes is a needless restriction."""
    values = {**_CHECKER_BASE, **change}
    options: dict[str, Any] = {
        key: cdk.Duration.millis(value)
        if key in (*_DURATIONS, "ocsp_timeout", "ocsp_deadline")
        else value
        for key, value in values.items()
    }
    checker = OcspClientOptions(**options)
    problems = Problems("OcspValidatingDomain", "Domain")
    checker.check(problems, contract.SETTINGS, timeout=cdk.Duration.seconds(5))
    env = checker.environment(
        contract.SETTINGS,
        issuers=[TrustedCa.from_pem(CA_PEM)],
        allowed_urls=[OCSP_URL],
        responder_url=None,
    )
    try:
        loaded = preauth_settings.load_settings(env)
    except preauth_settings.ConfigError as error:
        assert problems, f"the construct accepted what the handler refuses: {error}"
        return
    assert not problems, f"the construct refused what the handler accepts: {problems._problems}"
    assert loaded.stale_if_error_seconds * 1000 == values["stale_if_error"]
    assert loaded.cache_max_seconds * 1000 == values["cache_max_age"]
    assert (
        loaded.max_age_without_next_update_seconds * 1000 == (values["max_age_without_next_update"])
    )
    assert loaded.timeout_seconds * 1000 == pytest.approx(values["ocsp_timeout"])
    assert loaded.deadline_seconds * 1000 == pytest.approx(values["ocsp_deadline"])
    assert loaded.cache_max_entries == values["cache_max_entries"]
    assert loaded.max_response_bytes == values["max_response_bytes"]


@settings(max_examples=300)
@given(
    st.one_of(
        st.text(max_size=80),
        st.from_regex(r"https?://[a-z0-9.\-]{1,20}(:[0-9]{1,6})?(/[!-~ ]{0,20})?", fullmatch=True),
        st.from_regex(r"https?://\[[0-9a-f:.]{1,40}\](:[0-9]{1,5})?/", fullmatch=True),
        st.integers(2020, 2060).map(lambda n: "http://ocsp.example.com/" + "x" * n),
    )
)
def test_every_url_the_construct_accepts_is_one_the_handler_reads(url: str) -> None:
    problems = Problems("OcspValidatingDomain", "Domain")
    _ocsp_client.check_url(problems, "responder_url", url)
    if problems:
        return
    assert core_settings.normalize_url(url)  # raises ValueError for a URL the handler refuses


@pytest.mark.parametrize("signing", PSS_HASHES)
def test_the_handler_verifies_rsa_pss_responses(signing: SigningAlgorithm) -> None:
    """AWS Private CA signs OCSP responses with the CA's signing algorithm, and the construct
    trusts PSS-signing CAs: the Lambda's own verifier must accept a real, correctly signed
    RSASSA-PSS OCSP response. (Should it stop doing so, OcspValidatingDomain must reject such
    CAs at synth instead.)"""
    hash_algorithm = PSS_HASHES[signing]
    pki = build_pki()
    issuer = pki.rsa_ca
    device = pki.issue_device(issuer=issuer)
    now = dt.datetime.now(dt.UTC)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(device.cert, issuer.cert, hashes.SHA1())  # noqa: S303 - RFC 5019 CertID
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    parsed_request = forge.parse_request(request)
    assert parsed_request is not None
    pkcs1 = forge.build_answer(parsed_request, signer=issuer)
    pss = forge.resigned(
        pkcs1, key=issuer.key, algorithm=forge.pss(issuer.key, hash_algorithm.name)
    )
    parsed = ocsp.load_der_ocsp_response(pss)
    assert parsed.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSASSA_PSS
    issuer_key = issuer.cert.public_key()
    assert isinstance(issuer_key, rsa.RSAPublicKey)
    issuer_key.verify(  # a valid PSS signature (raises otherwise)
        parsed.signature,
        parsed.tbs_response_bytes,
        padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size),
        hash_algorithm,
    )

    def verdict(response: bytes) -> Any:
        return handler_ocsp.verify_response(
            response,
            cert_id=CertId.for_certificate(device.cert, issuer.cert, hashes.SHA1()),  # noqa: S303
            issuer=issuer.cert,
            now=now,
            nonce=None,
            max_age_without_next_update=dt.timedelta(minutes=5),
        )

    assert isinstance(verdict(pkcs1), handler_ocsp.Answer)  # the control: PKCS#1 v1.5
    assert isinstance(verdict(pss), handler_ocsp.Answer), verdict(pss)
    # ... and a PSS signature that does not verify is refused
    assert not isinstance(verdict(forge.flip_signature_bit(pss)), handler_ocsp.Answer)


def test_metric_names_and_reasons_match_the_handler() -> None:
    """Every name the construct builds a metric on equals the handler's, in both directions."""
    assert contract.NAMESPACE == metrics.NAMESPACE
    assert contract.METRIC_NAMES == metrics.METRIC_NAMES
    assert contract.REASONS == metrics.REASON_NAMES
    assert tuple(v.value for v in models.Verdict) == contract.VERDICTS
    assert [list(d) for d in metrics.VERDICT_DIMENSIONS] == [
        [contract.DIMENSION_FUNCTION_NAME, contract.DIMENSION_VERDICT],
        [contract.DIMENSION_FUNCTION_NAME, contract.DIMENSION_REASON],
    ]
