"""``stapling.settings``: the table, its defaults, and one ``ConfigError`` naming every problem."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from stapling.settings import DEFAULTS, SETTINGS, ConfigError, Settings, load_settings

from tests.lambdas.support.pki import Pki
from tests.lambdas.support.stapling import stapling_env

URL = "http://ocsp.example.com"


def load(pki: Pki, **extra: str) -> Settings:
    env = stapling_env(responder_url=URL, trusted=[pki.issuing_ca])
    env.update(extra)
    return load_settings(env)


def problems_of(env: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as failure:
        load_settings(env)
    return failure.value.problems


def test_defaults(pki: Pki) -> None:
    settings = load(pki)
    assert settings.responder_url == "http://ocsp.example.com/"  # normalized
    assert settings.trusted_cas == (pki.issuing_ca.cert,)
    assert settings.authorized_responder is None
    assert (settings.timeout_seconds, settings.cache_max_seconds) == (2.0, 3600)
    assert settings.max_age_without_next_update_seconds == 300
    assert settings.max_response_bytes == 4096  # IoT Core's limit on a staple
    assert DEFAULTS == {
        "OCSP_RESPONDER_URL": "",
        "TRUSTED_CA_PEM": "",
        "OCSP_AUTHORIZED_RESPONDER_PEM": "",
        "OCSP_TIMEOUT_SECONDS": "2",
        "OCSP_CACHE_MAX_SECONDS": "3600",
        "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "300",
        "OCSP_MAX_RESPONSE_BYTES": "4096",
    }
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)


def test_every_value_is_read(pki: Pki) -> None:
    settings = load(
        pki,
        OCSP_AUTHORIZED_RESPONDER_PEM=pki.delegate.pem.decode(),
        OCSP_TIMEOUT_SECONDS="1.5",
        OCSP_CACHE_MAX_SECONDS="0",
        OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS="60",
        OCSP_MAX_RESPONSE_BYTES="1024",
    )
    assert settings.authorized_responder == pki.delegate.cert
    assert (settings.timeout_seconds, settings.cache_max_seconds) == (1.5, 0)
    assert settings.max_age_without_next_update_seconds == 60
    assert settings.max_response_bytes == 1024


def test_fails_when_the_responder_url_is_missing(pki: Pki) -> None:
    (problem,) = problems_of(stapling_env(responder_url=None, trusted=[pki.issuing_ca]))
    assert problem == (
        "OCSP_RESPONDER_URL must be the http(s) URL of the responder to forward to, got nothing"
    )


def test_fails_with_every_problem_at_once_in_table_order(pki: Pki) -> None:
    problems = problems_of(
        {
            "OCSP_RESPONDER_URL": "ftp://ocsp.example.com",
            "TRUSTED_CA_PEM": "",
            "OCSP_AUTHORIZED_RESPONDER_PEM": "not a certificate",
            "OCSP_TIMEOUT_SECONDS": "5",
            "OCSP_CACHE_MAX_SECONDS": "-1",
            "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS": "86401",
            "OCSP_MAX_RESPONSE_BYTES": "4097",
        }
    )
    assert [p.split(" ", 1)[0] for p in problems] == [s.env for s in SETTINGS]
    assert "scheme must be http or https" in problems[0]
    assert problems[1] == "TRUSTED_CA_PEM must hold one or more PEM CA certificates, got nothing"
    assert problems[2].startswith("OCSP_AUTHORIZED_RESPONDER_PEM must hold one PEM certificate")
    assert problems[3].endswith("at most 4.5, got '5'")
    assert problems[6] == (
        "OCSP_MAX_RESPONSE_BYTES must be a whole number from 1024 to 4096, got '4097'"
    )


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("delegate_other_ca", "must be issued directly by a certificate of TRUSTED_CA_PEM"),
        ("rogue_ca", "must be issued directly by a certificate of TRUSTED_CA_PEM"),
        ("delegate_no_eku", "must carry the OCSPSigning extended key usage"),
        ("issuing_ca", "must be issued directly by a certificate of TRUSTED_CA_PEM"),
    ],
)
def test_fails_when_the_authorized_responder_cannot_sign_for_the_cas(
    pki: Pki, member: str, message: str
) -> None:
    """IoT Core would refuse every answer such a delegate signs: a configuration error."""
    env = stapling_env(responder_url=URL, trusted=[pki.issuing_ca], authorized=getattr(pki, member))
    (problem,) = problems_of(env)
    assert problem.startswith("OCSP_AUTHORIZED_RESPONDER_PEM (")
    assert problem.endswith(message), problem


def test_fails_when_the_authorized_responder_has_no_extended_key_usage(pki: Pki) -> None:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    bare = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "No EKU")]))
        .issuer_name(pki.issuing_ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(pki.issuing_ca.key, hashes.SHA256())
    )
    env = stapling_env(responder_url=URL, trusted=[pki.issuing_ca])
    env["OCSP_AUTHORIZED_RESPONDER_PEM"] = bare.public_bytes(serialization.Encoding.PEM).decode()
    (problem,) = problems_of(env)
    assert problem.endswith("must carry the OCSPSigning extended key usage"), problem


def test_the_authorized_responder_may_belong_to_any_trusted_ca(pki: Pki) -> None:
    env = stapling_env(
        responder_url=URL, trusted=[pki.issuing_ca, pki.rsa_ca], authorized=pki.rsa_delegate
    )
    assert load_settings(env).authorized_responder == pki.rsa_delegate.cert


def test_fails_when_the_authorized_responder_pem_holds_two_certificates(pki: Pki) -> None:
    env = stapling_env(responder_url=URL, trusted=[pki.issuing_ca])
    env["OCSP_AUTHORIZED_RESPONDER_PEM"] = (pki.delegate.pem + pki.delegate.pem).decode()
    (problem,) = problems_of(env)
    assert problem == "OCSP_AUTHORIZED_RESPONDER_PEM must hold exactly one PEM certificate, got 2"
