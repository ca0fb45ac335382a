"""The package's ``openssl ocsp`` responder on 127.0.0.1 (``ocsp_iot.local.responder``), asked
by the Lambda core's own request builder and verifier, over real HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.x509 import ocsp

from ocsp_iot._lambda import HASHES, Answer, CertId, HashName, build_request, verify_response
from ocsp_iot.local.pki import Issued, LocalPki
from ocsp_iot.local.responder import MALFORMED_REQUEST, OpensslResponder, request_from_get_path
from tests.local.support import local_responder


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki.create(name="Responder")


@pytest.fixture(scope="module")
def responder(pki: LocalPki) -> Iterator[OpensslResponder]:
    with local_responder(pki) as running:
        yield running


def _request(pki: LocalPki, device: Issued) -> tuple[CertId, bytes]:
    cert_id = CertId.for_certificate(
        device.certificate, pki.issuing_ca.certificate, HASHES[HashName.SHA1]
    )
    return cert_id, build_request(cert_id, nonce=None)


def _post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/ocsp-request"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/ocsp-response"
        data: bytes = answer.read()
        return data


def _status(pki: LocalPki, cert_id: CertId, der: bytes) -> str:
    verified = verify_response(
        der,
        cert_id=cert_id,
        issuer=pki.issuing_ca.certificate,
        now=dt.datetime.now(dt.UTC),
        nonce=None,
        max_age_without_next_update=dt.timedelta(minutes=5),
    )
    assert isinstance(verified, Answer), verified
    return verified.status.name


def test_answers_good_revoked_and_unknown_from_its_index(
    pki: LocalPki, responder: OpensslResponder
) -> None:
    good, revoked, unknown = (pki.issue_device(f"d-{n}") for n in range(3))
    responder.set_good(good.certificate)
    responder.set_revoked(revoked.certificate)
    before = responder.request_count
    statuses = []
    for device in (good, revoked, unknown):
        cert_id, body = _request(pki, device)
        statuses.append(_status(pki, cert_id, _post(responder.url, body)))
    assert statuses == ["GOOD", "REVOKED", "UNKNOWN"]
    assert responder.request_count - before == 3


def test_answers_an_rfc_6960_get(pki: LocalPki, responder: OpensslResponder) -> None:
    device = pki.issue_device("by-get")
    responder.set_good(device.certificate)
    cert_id, body = _request(pki, device)
    path = urllib.parse.quote(base64.b64encode(body).decode(), safe="")
    assert request_from_get_path(f"/ocsp/{path}") == body
    with urllib.request.urlopen(f"{responder.url}/{path}", timeout=10) as answer:
        assert _status(pki, cert_id, answer.read()) == "GOOD"


@pytest.mark.parametrize("body", [b"not an OCSP request", b"\x30\x00"])
def test_answers_malformed_request_to_what_openssl_cannot_read(
    responder: OpensslResponder, body: bytes
) -> None:
    der = _post(responder.url, body)
    assert der == MALFORMED_REQUEST
    assert ocsp.load_der_ocsp_response(der).response_status is (
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_answers_malformed_request_to_a_get_that_carries_none(responder: OpensslResponder) -> None:
    with urllib.request.urlopen(f"{responder.url}/%%%", timeout=10) as answer:
        assert answer.read() == MALFORMED_REQUEST


def test_listens_on_loopback_only_and_stops(pki: LocalPki, tmp_path: Path) -> None:
    with OpensslResponder(
        ca=pki.issuing_ca.certificate,
        signer=pki.issuing_ca.certificate,
        signer_key=pki.issuing_ca.key,
        folder=tmp_path / "kept",
    ) as running:
        assert running.url.startswith("http://127.0.0.1:")
        assert running.server._httpd.server_address[0] == "127.0.0.1"
        running.stop()
        assert running.server.closed
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", running.server.port), timeout=5)
    # a folder given is kept, with its index
    assert (tmp_path / "kept" / "index.txt").is_file()
    assert (tmp_path / "kept" / "signer.key").stat().st_mode & 0o077 == 0
