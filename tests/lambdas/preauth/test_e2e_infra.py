"""The test responders themselves, checked with ``openssl ocsp`` as an independent client.

If these fail, every handler test built on the responders is meaningless, so they run first
and need nothing from ``lambda_src``.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from tests.lambdas.support.forge import (
    answer_with,
    build_answer,
    cert_id_hashes,
    flip_signature_bit,
    parse_request,
    with_extra_single_responses,
    with_responder_id,
    with_response_type,
)
from tests.lambdas.support.loopback import LoopbackServer, RawListener, Reply, closed_port_url
from tests.lambdas.support.openssl import OpensslResponder, run_openssl_client
from tests.lambdas.support.pki import Pki


def _request_for(device: x509.Certificate, issuer: x509.Certificate) -> bytes:
    sha1 = hashes.SHA1()  # noqa: S303 - SHA-1 CertIDs are the RFC 5019 / AWS Private CA default
    req = ocsp.OCSPRequestBuilder().add_certificate(device, issuer, sha1).build()
    return req.public_bytes(serialization.Encoding.DER)


def _post(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes, str]:
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/ocsp-request"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read(), resp.headers.get("Content-Type", "")


def _verify_signature(response: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    key = signer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


# -- the openssl responder, seen by the openssl client ----------------------------------------


@pytest.mark.parametrize("signer_name", ["issuing_ca", "delegate"])
def test_openssl_responder_answers_good_revoked_unknown(pki: Pki, signer_name: str) -> None:
    good, revoked, unknown = pki.issue_device(), pki.issue_device(), pki.issue_device()
    with OpensslResponder(ca=pki.issuing_ca, signer=getattr(pki, signer_name)) as responder:
        responder.set_good(good)
        responder.set_revoked(revoked)
        outputs = {}
        for name, device in (("good", good), ("revoked", revoked), ("unknown", unknown)):
            done = run_openssl_client(
                url=responder.url,
                issuer=pki.issuing_ca,
                device=device,
                trust=[pki.root, pki.issuing_ca],
            )
            outputs[name] = done.stdout + done.stderr
        assert responder.request_count == 3
    for name, text in outputs.items():
        assert "Response verify OK" in text, text
        assert f": {name}" in text, text


def test_openssl_responder_without_nmin_has_no_next_update(pki: Pki) -> None:
    device = pki.issue_device()
    with OpensslResponder(ca=pki.issuing_ca, signer=pki.issuing_ca, nmin=None) as responder:
        responder.set_good(device)
        der = responder.respond(_request_for(device.cert, pki.issuing_ca.cert))
    assert der is not None
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.next_update_utc is None
    _verify_signature(response, pki.issuing_ca.cert)


def test_openssl_responder_copies_the_nonce_and_sets_next_update(pki: Pki) -> None:
    device = pki.issue_device()
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(device.cert, pki.issuing_ca.cert, hashes.SHA256())
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
    )
    with OpensslResponder(ca=pki.issuing_ca, signer=pki.delegate, nmin=7) as responder:
        responder.set_revoked(device)
        der = responder.respond(request.public_bytes(serialization.Encoding.DER))
    assert der is not None
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.serial_number == device.serial
    assert response.hash_algorithm.name == "sha256"
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"0123456789abcdef"
    assert response.next_update_utc is not None
    assert response.this_update_utc is not None
    gap = response.next_update_utc - response.this_update_utc
    assert dt.timedelta(minutes=6) < gap <= dt.timedelta(minutes=7)
    _verify_signature(response, pki.delegate.cert)


def test_openssl_responder_says_unknown_for_another_ca(pki: Pki) -> None:
    device = pki.issue_device(issuer=pki.other_ca)
    with OpensslResponder(ca=pki.issuing_ca, signer=pki.issuing_ca) as responder:
        responder.set_good(device)  # same serial in the index, but not this CA's CertID
        der = responder.respond(_request_for(device.cert, pki.other_ca.cert))
    assert der is not None
    assert ocsp.load_der_ocsp_response(der).certificate_status == ocsp.OCSPCertStatus.UNKNOWN


# -- the hostile server's honest answers pass openssl; its forgeries do not -------------------


@pytest.mark.parametrize("signer_name", ["issuing_ca", "delegate"])
def test_hostile_server_good_answer_verifies_with_openssl(pki: Pki, signer_name: str) -> None:
    device = pki.issue_device()
    signer = getattr(pki, signer_name)
    with LoopbackServer(answer_with(lambda r: build_answer(r, signer=signer))) as server:
        done = run_openssl_client(
            url=server.url, issuer=pki.issuing_ca, device=device, trust=[pki.root, pki.issuing_ca]
        )
        assert server.request_count == 1
        assert server.requests[0].headers["content-type"] == "application/ocsp-request"
    assert "Response verify OK" in done.stderr + done.stdout, done.stderr
    assert ": good" in done.stdout


@pytest.mark.parametrize("signer_name", ["rogue_ca", "delegate_no_eku", "delegate_other_ca"])
def test_hostile_server_forgery_fails_openssl(pki: Pki, signer_name: str) -> None:
    device = pki.issue_device()
    signer = getattr(pki, signer_name)
    with LoopbackServer(answer_with(lambda r: build_answer(r, signer=signer))) as server:
        done = run_openssl_client(
            url=server.url,
            issuer=pki.issuing_ca,
            device=device,
            trust=[pki.root, pki.issuing_ca, pki.other_ca],
        )
    assert "Response verify OK" not in done.stderr + done.stdout
    assert "Response Verify Failure" in done.stderr, done.stderr


# -- DER surgery keeps responses parseable and correctly signed -------------------------------


def test_extra_single_responses_are_parsed_and_signed(pki: Pki) -> None:
    device = pki.issue_device()
    parsed = parse_request(_request_for(device.cert, pki.issuing_ca.cert))
    assert parsed is not None
    good = build_answer(parsed, signer=pki.issuing_ca)
    revoked = build_answer(parsed, signer=pki.issuing_ca, status="revoked")
    both = ocsp.load_der_ocsp_response(
        with_extra_single_responses(good, [revoked], key=pki.issuing_ca.key)
    )
    statuses = [single.certificate_status for single in both.responses]
    assert statuses == [ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.REVOKED]
    assert {single.serial_number for single in both.responses} == {device.serial}
    _verify_signature(both, pki.issuing_ca.cert)


def test_responder_id_swap_keeps_signature_valid(pki: Pki) -> None:
    device = pki.issue_device()
    parsed = parse_request(_request_for(device.cert, pki.issuing_ca.cert))
    assert parsed is not None
    base = build_answer(parsed, signer=pki.issuing_ca)
    other = build_answer(parsed, signer=pki.delegate)
    swapped = ocsp.load_der_ocsp_response(with_responder_id(base, other, key=pki.issuing_ca.key))
    assert swapped.responder_name == pki.delegate.cert.subject
    _verify_signature(swapped, pki.issuing_ca.cert)
    flipped = ocsp.load_der_ocsp_response(flip_signature_bit(base))
    with pytest.raises(InvalidSignature):
        _verify_signature(flipped, pki.issuing_ca.cert)
    with pytest.raises(ValueError, match="parsing asn1"):
        ocsp.load_der_ocsp_response(with_response_type(base))


def test_build_answer_overrides(pki: Pki) -> None:
    device = pki.issue_device()
    parsed = parse_request(_request_for(device.cert, pki.issuing_ca.cert))
    assert parsed is not None
    response = ocsp.load_der_ocsp_response(
        build_answer(
            parsed,
            signer=pki.issuing_ca,
            serial=device.serial + 1,
            cert_id_issuer=pki.other_ca.cert,
            this_update_offset=-7200,
            next_update_offset=None,
            nonce=b"x" * 16,
            responder_by="key",
        )
    )
    assert response.serial_number == device.serial + 1
    assert response.issuer_key_hash != parsed.issuer_key_hash
    assert response.issuer_name_hash != parsed.issuer_name_hash
    assert response.next_update_utc is None
    assert response.this_update_utc is not None
    assert response.this_update_utc < dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert response.responder_key_hash is not None
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"x" * 16


# -- transport behaviours ----------------------------------------------------------------------


def test_server_records_and_replies(pki: Pki) -> None:
    with LoopbackServer(lambda _r: Reply(body=b"abc", content_type="text/plain")) as server:
        status, body, ctype = _post(server.url, b"hello")
        assert (status, body, ctype) == (200, b"abc", "text/plain")
        assert [r.body for r in server.requests] == [b"hello"]
        server.behaviour = lambda _r: Reply(status=500, body=b"")
        with pytest.raises(urllib.error.HTTPError):
            _post(server.url, b"again")
        assert server.request_count == 2


def test_slow_drip_outlasts_a_read_timeout() -> None:
    reply = Reply(body=b"x" * 100, drip_interval=0.2)
    with LoopbackServer(lambda _r: reply) as server:
        started = time.monotonic()
        # Each byte arrives well within a 1 s read timeout, so only a deadline can stop it.
        req = urllib.request.Request(server.url, data=b"q", method="POST")
        with urllib.request.urlopen(req, timeout=1) as resp:
            first = resp.read(3)
        assert first == b"xxx"
        assert time.monotonic() - started >= 0.4


def test_raw_listener_counts_connections() -> None:
    with RawListener() as listener:
        assert listener.connections_seen(wait=0.1) == 0
        with socket.create_connection(("127.0.0.1", listener.port), timeout=2):
            pass
        assert listener.connections_seen(wait=0.5) == 1


def test_closed_port_refuses() -> None:
    url = closed_port_url()
    with pytest.raises(urllib.error.URLError):
        _post(url, b"x", timeout=2)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=lambda a: a.name)  # noqa: S303
@pytest.mark.parametrize("issuer_name", ["issuing_ca", "rsa_ca", "other_ca"])
def test_cert_id_hashes_match_a_real_request(
    pki: Pki, algorithm: hashes.HashAlgorithm, issuer_name: str
) -> None:
    issuer = getattr(pki, issuer_name)
    device = pki.issue_device(issuer=issuer)
    request = ocsp.OCSPRequestBuilder().add_certificate(device.cert, issuer.cert, algorithm).build()
    expected = (request.issuer_name_hash, request.issuer_key_hash)
    assert cert_id_hashes(issuer.cert, algorithm) == expected
    assert (
        cert_id_hashes(pki.rogue_ca.cert, algorithm)[0]
        == (cert_id_hashes(pki.issuing_ca.cert, algorithm)[0])
    )
