"""``stapling.request.parse_event``: IoT Core's event -> the CertID asked about, or
``EventError`` (never anything else) for a hostile or malformed event."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st
from ocsp_core.certid import CertId
from stapling.request import MAX_EVENT_CHARS, EventError, Question, parse_event

from tests.lambdas.support.pki import Pki
from tests.lambdas.support.stapling import SHA1, event_for, ocsp_request, with_two_cert_ids

#: An OIW OID of the same length that names no hash (sha1WithRSASignature, 1.3.14.3.2.29).
NOT_A_HASH_OID = bytes.fromhex("06052b0e03021d")
SHA1_OID = bytes.fromhex("06052b0e03021a")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize("algorithm", [SHA1, hashes.SHA256(), hashes.SHA384()])
def test_the_cert_id_asked_about_is_read(pki: Pki, algorithm: hashes.HashAlgorithm) -> None:
    server = pki.issue_device()
    question = parse_event(event_for(server, pki.issuing_ca, algorithm=algorithm))
    assert question == Question(
        cert_id=CertId.for_certificate(server.cert, pki.issuing_ca.cert, algorithm), nonce=False
    )
    assert question.cert_id.is_issued_by(pki.issuing_ca.cert)


def test_a_nonce_is_noted(pki: Pki) -> None:
    question = parse_event(event_for(pki.issue_device(), pki.issuing_ca, nonce=b"\x01" * 16))
    assert question.nonce is True


def test_line_breaks_inside_the_base64_are_harmless(pki: Pki) -> None:
    text = event_for(pki.issue_device(), pki.issuing_ca)
    wrapped = "\n".join(text[i : i + 16] for i in range(0, len(text), 16))
    assert parse_event(wrapped) == parse_event(text)


def _unknown_critical_extension(pki: Pki) -> str:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(pki.issue_device().cert, pki.issuing_ca.cert, SHA1)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.9"), b"\x05\x00"),
            critical=True,
        )
        .build()
    )
    return b64(request.public_bytes(Encoding.DER))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda _pki: None, "event must be a JSON string (base64 of a DER OCSP request), got "),
        (lambda _pki: 42, "got int"),
        (lambda _pki: {"request": "MAo="}, "got dict"),
        (lambda _pki: ["MAo="], "got list"),
        (lambda pki: ocsp_request(pki.issue_device(), pki.issuing_ca), "got bytes"),
        (lambda _pki: "", "event is empty"),
        (lambda _pki: "   \n", "event is empty"),
        (lambda _pki: "not base64!", "event is not base64"),
        (lambda _pki: "QUJ", "event is not base64"),
        (lambda _pki: "A" * (MAX_EVENT_CHARS + 4), f"at most {MAX_EVENT_CHARS} are read"),
        (lambda _pki: b64(b"\x30\x03\x02\x01\x01"), "event is not a DER OCSP request"),
        (lambda pki: b64(pki.issuing_ca.der), "event is not a DER OCSP request"),
        (
            lambda pki: b64(ocsp_request(pki.issue_device(), pki.issuing_ca) + b"\x00"),
            "event is not a DER OCSP request",
        ),
        (
            lambda pki: b64(with_two_cert_ids(ocsp_request(pki.issue_device(), pki.issuing_ca))),
            "event is not a DER OCSP request for one certificate",
        ),
        (
            lambda pki: b64(
                ocsp_request(pki.issue_device(), pki.issuing_ca).replace(SHA1_OID, NOT_A_HASH_OID)
            ),
            "OCSP request cannot be read",
        ),
        (_unknown_critical_extension, "critical request extension 1.3.6.1.4.1.55555.9"),
        (
            lambda pki: json.dumps(event_for(pki.issue_device(), pki.issuing_ca)),
            "event is not base64",  # JSON-encoded twice: the quotes are not base64
        ),
    ],
    ids=[
        "none",
        "number",
        "object",
        "array",
        "bytes-not-a-string",
        "empty",
        "blank",
        "not-base64",
        "bad-padding",
        "huge",
        "not-ocsp",
        "a-certificate",
        "trailing-garbage",
        "two-cert-ids",
        "cert-id-hash-unknown",
        "critical-extension",
        "double-encoded",
    ],
)
def test_fails_on_a_malformed_event(pki: Pki, make: object, message: str) -> None:
    event = make(pki)  # type: ignore[operator]
    with pytest.raises(EventError) as failure:
        parse_event(event)
    assert message in str(failure.value), failure.value


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=64),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=300)
@given(_JSON)
def test_any_json_value_is_a_question_or_an_event_error(value: object) -> None:
    try:
        question = parse_event(value)
    except EventError:
        return
    assert isinstance(question, Question)  # pragma: no cover - random JSON is never a request


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_in_base64_are_a_question_or_an_event_error(data: bytes) -> None:
    try:
        question = parse_event(b64(data))
    except EventError:
        return
    assert isinstance(question.cert_id, CertId)


@settings(max_examples=300)
@given(st.data())
def test_a_mutated_request_is_a_question_or_an_event_error(pki: Pki, data: st.DataObject) -> None:
    der = bytearray(ocsp_request(pki.issuing_ca, pki.root))
    index = data.draw(st.integers(0, len(der) - 1))
    der[index] = data.draw(st.integers(0, 255))
    try:
        question = parse_event(b64(bytes(der)))
    except EventError:
        return
    assert isinstance(question.cert_id, CertId)
