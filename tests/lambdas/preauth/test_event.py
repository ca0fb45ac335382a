"""``ocsp_core.event``: the untrusted event becomes an ``Attempt`` or an ``EventError``."""

from __future__ import annotations

import base64
import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from preauth.event import MAX_CERT_BYTES, MAX_CHAIN_LENGTH, EventError, parse_event

from tests.lambdas.support.pki import Issued, Pki


def event_with(*chain: Any, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "connectionMetadata": {"id": "conn-1"},
        "principalId": "principal-1",
        "serverName": "iot.example.com",
        "clientCertificateChain": list(chain),
    }
    event.update(fields)
    return event


def b64(issued: Issued) -> str:
    return base64.b64encode(issued.der).decode()


def test_pem_and_bare_base64_parse_to_equal_attempts(pki: Pki) -> None:
    device = pki.issue_device()
    pem = parse_event(event_with(device.pem.decode(), pki.issuing_ca.pem.decode()))
    der = parse_event(event_with(b64(device), b64(pki.issuing_ca)))
    wrapped = parse_event(event_with("\n".join(textwrap.wrap(b64(device), 64)) + "\n"))
    assert pem == der
    assert pem.leaf == device.cert
    assert pem.leaf_der == device.der == wrapped.leaf_der
    assert pem.intermediates == (pki.issuing_ca.cert,)
    assert (pem.connection_id, pem.principal_id, pem.server_name) == (
        "conn-1",
        "principal-1",
        "iot.example.com",
    )


def test_extra_keys_are_ignored(pki: Pki) -> None:
    device = pki.issue_device()
    plain = parse_event(event_with(device.pem.decode()))
    extra = parse_event(event_with(device.pem.decode(), clientId="x", protocols=["mqtt"]))
    assert plain == extra


def _fails(event: object, path: str) -> EventError:
    with pytest.raises(EventError) as caught:
        parse_event(event)
    assert caught.value.path == path, caught.value
    assert str(caught.value).startswith(f"{path}: ")
    return caught.value


@pytest.mark.parametrize("event", [None, [], "x", 1, b"{}"])
def test_fails_when_event_is_not_an_object(event: object) -> None:
    _fails(event, "event")


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("connectionMetadata", None, "connectionMetadata"),
        ("connectionMetadata", {}, "connectionMetadata.id"),
        ("connectionMetadata", {"id": 5}, "connectionMetadata.id"),
        ("principalId", ["p"], "principalId"),
        ("principalId", "p" * 2000, "principalId"),
        ("serverName", None, "serverName"),
        ("clientCertificateChain", "-----BEGIN CERTIFICATE-----", "clientCertificateChain"),
        ("clientCertificateChain", [], "clientCertificateChain"),
        ("clientCertificateChain", {"0": "x"}, "clientCertificateChain"),
    ],
)
def test_fails_on_a_bad_field(pki: Pki, field: str, value: object, path: str) -> None:
    event = event_with(pki.issue_device().pem.decode())
    event[field] = value
    _fails(event, path)


@pytest.mark.parametrize(
    "field", ["connectionMetadata", "principalId", "serverName", "clientCertificateChain"]
)
def test_fails_when_a_field_is_missing(pki: Pki, field: str) -> None:
    event = event_with(pki.issue_device().pem.decode())
    del event[field]
    assert "missing" in str(_fails(event, field))


def test_fails_when_the_chain_is_too_long(pki: Pki) -> None:
    device = pki.issue_device().pem.decode()
    parse_event(event_with(*[device] * MAX_CHAIN_LENGTH))
    _fails(event_with(*[device] * (MAX_CHAIN_LENGTH + 1)), "clientCertificateChain")


def test_fails_when_a_certificate_is_too_large(pki: Pki) -> None:
    huge = base64.b64encode(b"\x30\x82" + b"\x00" * MAX_CERT_BYTES).decode()
    error = _fails(event_with(pki.issue_device().pem.decode(), huge), "clientCertificateChain[1]")
    assert "larger than" in error.problem
    _fails(event_with("A" * 100_000), "clientCertificateChain[0]")


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "   ",
        "not base64!",
        "QUJD",  # base64 of "ABC": not DER
        "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----\nQUJD\n",
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----",
        "c29tZQ==-",
        "YWJj=ZGVm",
        "\u00e9\u00e9\u00e9\u00e9",
        1234,
        None,
        {"pem": "x"},
    ],
)
def test_fails_on_a_chain_entry_that_is_not_a_certificate(pki: Pki, entry: object) -> None:
    _fails(event_with(pki.issue_device().pem.decode(), entry), "clientCertificateChain[1]")


def test_fails_on_two_pem_blocks_in_one_entry(pki: Pki) -> None:
    double = (pki.issue_device().pem + pki.issuing_ca.pem).decode()
    _fails(event_with(double), "clientCertificateChain[0]")


def test_fails_on_pem_with_trailing_text(pki: Pki) -> None:
    _fails(event_with(pki.issue_device().pem.decode() + "trailer"), "clientCertificateChain[0]")


def test_fails_on_der_with_trailing_bytes(pki: Pki) -> None:
    device = pki.issue_device()
    padded = base64.b64encode(device.der + b"\x00\x00").decode()
    _fails(event_with(padded), "clientCertificateChain[0]")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(_json)
def test_any_json_without_a_certificate_is_an_event_error(value: object) -> None:
    """Random JSON never holds a certificate, so it is an ``EventError`` and nothing else."""
    with pytest.raises(EventError):
        parse_event(value)


@given(chain=st.lists(st.text(max_size=50) | st.binary(max_size=20).map(str), max_size=7))
def test_any_chain_of_strings_is_an_event_error(chain: list[str]) -> None:
    with pytest.raises(EventError):
        parse_event(event_with(*chain))
