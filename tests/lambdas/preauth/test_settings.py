"""``ocsp_core.config``: defaults, every bad value, URL normalization, and the handler's single
CONFIG_ERROR line."""

from __future__ import annotations

import json

import preauth_handler
import pytest
from ocsp_core.certid import HashName
from ocsp_core.settings import normalize_url
from preauth.settings import DEFAULTS, ConfigError, FailMode, load_settings

from tests.lambdas.support.cas import CA_VARIANTS, candidate
from tests.lambdas.support.pki import Pki

URL = "http://ocsp.example.com/"


def env_for(pki: Pki, **extra: str) -> dict[str, str]:
    return {
        "TRUSTED_CA_PEM": pki.issuing_ca.pem.decode(),
        "OCSP_ALLOWED_URLS": URL,
        **extra,
    }


def test_defaults(pki: Pki) -> None:
    settings = load_settings(env_for(pki))
    assert settings.trusted_cas == (pki.issuing_ca.cert,)
    assert settings.allowed_urls == frozenset({URL})
    assert settings.responder_url is None
    assert settings.fail_mode is FailMode.CLOSED
    assert settings.stale_if_error_seconds == 0
    assert settings.timeout_seconds == 2.0
    assert settings.deadline_seconds == 3.0
    assert settings.cache_max_seconds == 3600
    assert settings.cache_max_entries == 10_000
    assert settings.nonce is False
    assert settings.max_response_bytes == 16_384
    assert settings.hash_algorithm is HashName.SHA1
    assert settings.max_age_without_next_update_seconds == 300


def test_defaults_table_matches_the_loaded_defaults(pki: Pki) -> None:
    """``DEFAULTS`` is what the docs and the construct quote: it must be what is applied."""
    explicit = load_settings(env_for(pki, **{k: v for k, v in DEFAULTS.items() if v}))
    assert explicit == load_settings(env_for(pki))


def test_every_setting_is_read(pki: Pki) -> None:
    settings = load_settings(
        env_for(
            pki,
            TRUSTED_CA_PEM=pki.issuing_ca.pem.decode() + "\n" + pki.rsa_ca.pem.decode(),
            OCSP_ALLOWED_URLS=" HTTP://A.example.com:80 , https://b.example.com:8443/ocsp ",
            OCSP_RESPONDER_URL="http://override.example.com",
            OCSP_FAIL_MODE="OPEN",
            OCSP_STALE_IF_ERROR_SECONDS="600",
            OCSP_TIMEOUT_SECONDS="1.5",
            OCSP_DEADLINE_SECONDS="3",
            OCSP_CACHE_MAX_SECONDS="60",
            OCSP_CACHE_MAX_ENTRIES="5",
            OCSP_NONCE="on",
            OCSP_MAX_RESPONSE_BYTES="4096",
            OCSP_HASH_ALGORITHM="sha256",
            OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS="0",
        )
    )
    assert settings.trusted_cas == (pki.issuing_ca.cert, pki.rsa_ca.cert)
    assert settings.allowed_urls == frozenset(
        {
            "http://a.example.com/",
            "https://b.example.com:8443/ocsp",
            "http://override.example.com/",
        }
    )
    assert settings.responder_url == "http://override.example.com/"
    assert settings.fail_mode is FailMode.OPEN
    assert settings.stale_if_error_seconds == 600
    assert (settings.timeout_seconds, settings.deadline_seconds) == (1.5, 3.0)
    assert (settings.cache_max_seconds, settings.cache_max_entries) == (60, 5)
    assert settings.nonce is True
    assert settings.max_response_bytes == 4096
    assert settings.hash_algorithm is HashName.SHA256
    assert settings.max_age_without_next_update_seconds == 0


def test_override_alone_is_enough(pki: Pki) -> None:
    settings = load_settings(
        {"TRUSTED_CA_PEM": pki.issuing_ca.pem.decode(), "OCSP_RESPONDER_URL": URL}
    )
    assert settings.allowed_urls == frozenset({URL})


BAD_VALUES = [
    ("OCSP_FAIL_MODE", "maybe"),
    ("OCSP_STALE_IF_ERROR_SECONDS", "-1"),
    ("OCSP_STALE_IF_ERROR_SECONDS", "86401"),
    ("OCSP_STALE_IF_ERROR_SECONDS", "1.5"),
    ("OCSP_TIMEOUT_SECONDS", "0"),
    ("OCSP_TIMEOUT_SECONDS", "abc"),
    ("OCSP_TIMEOUT_SECONDS", "nan"),
    ("OCSP_TIMEOUT_SECONDS", "inf"),
    ("OCSP_TIMEOUT_SECONDS", "1e1"),
    ("OCSP_DEADLINE_SECONDS", "5"),
    ("OCSP_DEADLINE_SECONDS", "-4"),
    ("OCSP_CACHE_MAX_SECONDS", "3600s"),
    ("OCSP_CACHE_MAX_ENTRIES", "1000001"),
    ("OCSP_CACHE_MAX_ENTRIES", "0x10"),
    ("OCSP_NONCE", "yes"),
    ("OCSP_MAX_RESPONSE_BYTES", "100"),
    ("OCSP_MAX_RESPONSE_BYTES", "99999999999"),
    ("OCSP_HASH_ALGORITHM", "md5"),
    ("OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS", "٣"),  # a non-ASCII digit
    ("OCSP_ALLOWED_URLS", "ftp://ocsp.example.com/"),
    ("OCSP_ALLOWED_URLS", "ocsp.example.com"),
    ("OCSP_ALLOWED_URLS", "http://user@ocsp.example.com/"),
    ("OCSP_ALLOWED_URLS", "http://ocsp.example.com/#frag"),
    ("OCSP_ALLOWED_URLS", "http://ocsp.example.com:99999/"),
    ("OCSP_ALLOWED_URLS", "http://ocsp.exa mple.com/"),
    ("OCSP_ALLOWED_URLS", "http://ocsp.example.com\\@evil.example/"),
    ("OCSP_RESPONDER_URL", "file:///etc/passwd"),
    ("TRUSTED_CA_PEM", "not a pem"),
    ("TRUSTED_CA_PEM", ""),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_fails_on_a_bad_value(pki: Pki, name: str, value: str) -> None:
    env = env_for(pki, **{name: value})
    if name == "TRUSTED_CA_PEM" and not value:
        del env[name]
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    assert problem.startswith(name), problem
    assert " must " in problem


def test_fails_when_a_trusted_certificate_is_not_a_ca(pki: Pki) -> None:
    device = pki.issue_device()
    with pytest.raises(ConfigError, match=r"#2 .*must be a CA certificate"):
        load_settings(env_for(pki, TRUSTED_CA_PEM=(pki.issuing_ca.pem + device.pem).decode()))


@pytest.mark.parametrize("name", list(CA_VARIANTS))
def test_each_trusted_ca_is_held_to_the_trust_anchor_rules(pki: Pki, name: str) -> None:
    """A CA the rules refuse (``ocsp_core.chain.ca_problem``) is a configuration error naming
    its position, its subject and the rule; any other is trusted."""
    extensions, problem = CA_VARIANTS[name]
    variant = candidate(name, extensions)
    env = env_for(pki, TRUSTED_CA_PEM=(pki.issuing_ca.pem + variant.pem).decode())
    if problem is None:
        assert load_settings(env).trusted_cas == (pki.issuing_ca.cert, variant.cert)
        return
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    (message,) = caught.value.problems
    assert message == (
        f"TRUSTED_CA_PEM certificate #2 (CN={name},O=ocsp-iot-constructs tests) must be {problem}"
    )


def test_fails_when_no_url_is_configured(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="OCSP_ALLOWED_URLS must list at least one"):
        load_settings({"TRUSTED_CA_PEM": pki.issuing_ca.pem.decode()})


def test_fails_when_timeout_exceeds_deadline(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="must not exceed OCSP_DEADLINE_SECONDS"):
        load_settings(env_for(pki, OCSP_TIMEOUT_SECONDS="3", OCSP_DEADLINE_SECONDS="2"))


def test_every_problem_is_reported_at_once(pki: Pki) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "OCSP_FAIL_MODE": "x",
                "OCSP_NONCE": "x",
                "OCSP_HASH_ALGORITHM": "x",
                "OCSP_CACHE_MAX_ENTRIES": "x",
            }
        )
    names = [p.split(" ", 1)[0] for p in caught.value.problems]
    assert names == [
        "TRUSTED_CA_PEM",
        "OCSP_ALLOWED_URLS",
        "OCSP_FAIL_MODE",
        "OCSP_CACHE_MAX_ENTRIES",
        "OCSP_NONCE",
        "OCSP_HASH_ALGORITHM",
    ]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("http://ocsp.example.com", "http://ocsp.example.com/"),
        ("HTTP://OCSP.Example.COM/", "http://ocsp.example.com/"),
        ("http://ocsp.example.com:80/a", "http://ocsp.example.com/a"),
        ("https://ocsp.example.com:443", "https://ocsp.example.com/"),
        ("http://ocsp.example.com:443/", "http://ocsp.example.com:443/"),
        ("https://ocsp.example.com:80/", "https://ocsp.example.com:80/"),
        ("http://ocsp.example.com/Path?q=1", "http://ocsp.example.com/Path?q=1"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
    ],
)
def test_normalize_url(raw: str, normalized: str) -> None:
    assert normalize_url(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ocsp.example.com",
        "//ocsp.example.com/",
        "gopher://ocsp.example.com/",
        "http:///path",
        "http://u:p@ocsp.example.com/",
        "http://ocsp.example.com/#",
        "http://ocsp.example.com:0/",
        "http://ocsp.example.com:-1/",
        "http://ocsp.example.com:http/",
        "http://ocsp.example.com/\x00",
        "http://ocsp.example.com/\t",
        "http://ocsp.éxample.com/",
        "http://ocsp.example.com\\.evil.example/",
        "http://" + "a" * 3000 + ".example/",
    ],
)
def test_normalize_url_refuses(raw: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        normalize_url(raw)


def test_handler_logs_one_config_error_line(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in env_for(pki, OCSP_TIMEOUT_SECONDS="soon", OCSP_NONCE="maybe").items():
        monkeypatch.setenv(key, value)
    device = pki.issue_device(ocsp_url=URL)
    event = {
        "connectionMetadata": {"id": "c-1"},
        "principalId": "p-1",
        "serverName": "iot.example.com",
        "clientCertificateChain": [device.pem.decode()],
    }
    for _ in range(2):  # the error is remembered, and reported on every invocation
        assert preauth_handler.handler(event, None) == {"isAuthenticated": False}
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 1
        record = json.loads(lines[0])
        assert record["reason"] == "CONFIG_ERROR"
        assert record["verdict"] == "DENY"
        assert record["connectionId"] == "c-1"
        assert record["principalId"] == "p-1"
        assert "OCSP_TIMEOUT_SECONDS must be a number" in record["detail"]
        assert "'soon'" in record["detail"]
        assert "OCSP_NONCE must be 'on' or 'off', got 'maybe'" in record["detail"]
