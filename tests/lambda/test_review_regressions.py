"""Defects found by the adversarial review of the pre-auth Lambda, one test (or a few) each.

Each test failed before its fix. Real keys, real loopback HTTP(S), a real ``openssl ocsp``.

1. An https responder whose certificate does not verify was classified "unreachable", so
   ``OCSP_FAIL_MODE=open`` allowed every device (an answer that fails a check must deny).
2. Any transport exception not recognised (e.g. a responder URL that cannot even be parsed for a
   connection, ``http://a..b/``) was also "unreachable": fail-open again. Such URLs are now a
   configuration error, and an unrecognised exception denies (``INTERNAL_ERROR``).
3. A response with a critical extension the client does not understand was accepted
   (RFC 6960 4.4 / RFC 5280 4.2 require refusing it), at response and at SingleResponse level.
4. A verified ``unknown`` answer left an earlier ``good`` one in the cache, so a later outage
   could bring it back through stale-if-error and allow the device.
5. ResponderID ``byKey`` was computed over a re-encoded public key, so a responder certificate
   with a compressed EC point (hashed as encoded, RFC 6960 4.2.1) was never recognised.
6. A response may carry any number of certificates, and ``cryptography`` spends ~0.7 ms
   parsing each: with ``OCSP_MAX_RESPONSE_BYTES`` at its 1 MiB maximum, ~2,000 of them took
   1.4 s of verification after the deadline. At most 8 are now read (counted in the DER first).

The last section pins behaviours the review found correct but that rest on a dependency or on
a subtle choice (a SHA-1-signed device certificate; a revocation dated in the future).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocsp_core.chain import find_issuer
from ocsp_core.config import FailMode
from ocsp_core.models import Reason, Verdict
from ocsp_core.ocsp import MAX_RESPONSE_CERTIFICATES, Rejection, responder_key_hash
from ocsp_core.transport import FetchStatus, RequestsFetcher

from .harness import ALLOW, DENY, Invoker, make_event
from .pki import Issued, Pki
from .responders import (
    CertIdParts,
    LoopbackServer,
    OpensslResponder,
    Reply,
    answer_with,
    build_answer,
    der_children,
    der_content,
    der_wrap,
    fixed,
    pss,
    resigned,
    sign_response,
    with_single_extension,
)
from .test_unit_check import Checker, expect, serve
from .test_unit_ocsp import accepted, rejected, verify
from .unit_support import NOW, SHA1, respond, settings_for

Configure = Callable[..., None]
FAST = {"OCSP_TIMEOUT_SECONDS": 1, "OCSP_DEADLINE_SECONDS": 2}


# -- 1. TLS failures are answers, not outages ---------------------------------------------------


def _tls_context(pki: Pki, directory: Path) -> ssl.SSLContext:
    """A server context whose certificate (for 127.0.0.1) no public CA bundle trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(pki.other_ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(pki.other_ca.key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.pem", directory / "tls.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(Issued(cert, key).key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture
def tls_server(pki: Pki, tmp_path: Path) -> Iterator[LoopbackServer]:
    with LoopbackServer(tls=_tls_context(pki, tmp_path)) as server:
        server.behaviour = answer_with(lambda r: build_answer(r, signer=pki.issuing_ca))
        yield server


def test_https_responder_with_an_untrusted_certificate_denies_even_in_fail_open(
    pki: Pki, tls_server: LoopbackServer, configure: Configure, invoke: Invoker
) -> None:
    device = pki.issue_device(ocsp_url=tls_server.url)
    configure(trusted=[pki.issuing_ca], allowed=[tls_server.url], OCSP_FAIL_MODE="open", **FAST)
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "TLS_ERROR"), outcome
    assert outcome.log["ResponderErrors"] == 1
    assert tls_server.request_count == 0  # the handshake failed: no HTTP request was served


def test_tls_failure_is_classified_as_such(tls_server: LoopbackServer) -> None:
    fetcher = RequestsFetcher(
        allowed_urls=frozenset({tls_server.url}),
        max_response_bytes=4096,
        deadline=time.monotonic() + 5,
    )
    result = fetcher.fetch(tls_server.url, b"request", timeout=2)
    assert result.status is FetchStatus.TLS_ERROR, result
    assert not result.unavailable


def test_a_hang_up_during_the_tls_handshake_is_still_unreachable() -> None:
    """Reads the ClientHello, then closes: an outage (fail mode applies), not a bad answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/ocsp"

        def hang_up() -> None:
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(5)
                    conn.recv(4096)

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        fetcher = RequestsFetcher(
            allowed_urls=frozenset({url}), max_response_bytes=4096, deadline=time.monotonic() + 5
        )
        result = fetcher.fetch(url, b"request", timeout=2)
        thread.join(timeout=5)
    assert result.status is FetchStatus.UNREACHABLE, result
    assert result.unavailable


# -- 2. an unusable URL is never an outage -----------------------------------------------------


def test_unrecognised_transport_error_is_not_an_outage() -> None:
    # Not normalized on purpose: the fetcher is handed a URL that cannot be connected to.
    url = "http://a..b/ocsp"
    fetcher = RequestsFetcher(
        allowed_urls=frozenset({url}), max_response_bytes=4096, deadline=time.monotonic() + 5
    )
    result = fetcher.fetch(url, b"request", timeout=1)
    assert result.status is FetchStatus.ERROR, result
    assert not result.unavailable


@pytest.mark.parametrize("setting", ["OCSP_RESPONDER_URL", "OCSP_ALLOWED_URLS"])
def test_responder_url_that_cannot_be_connected_to_is_a_config_error(
    pki: Pki, configure: Configure, invoke: Invoker, setting: str
) -> None:
    device = pki.issue_device(ocsp_url="http://a..b/ocsp")
    configure(trusted=[pki.issuing_ca], OCSP_FAIL_MODE="open", **{setting: "http://a..b/ocsp"})
    outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (DENY, "CONFIG_ERROR"), outcome
    assert "not a valid host name" in outcome.log["detail"]


# -- 3. critical extensions that are not understood ------------------------------------------


@pytest.mark.parametrize("critical", [True, False])
def test_unknown_critical_response_extension_is_refused(pki: Pki, *, critical: bool) -> None:
    device = pki.issue_device()
    data = respond(device, pki.issuing_ca, extensions=[(_private_extension(), critical)])
    result = verify(data, device, pki.issuing_ca)
    if critical:
        rejected(result, Reason.UNSUPPORTED_CRITICAL_EXTENSION)
    else:
        accepted(result)  # unknown non-critical extensions are ignored


@pytest.mark.parametrize("critical", [True, False])
def test_unknown_critical_single_extension_is_refused(pki: Pki, *, critical: bool) -> None:
    device = pki.issue_device()
    base = respond(device, pki.issuing_ca)
    data = with_single_extension(base, key=pki.issuing_ca.key, critical=critical)
    result = verify(data, device, pki.issuing_ca)
    if critical:
        found = rejected(result, Reason.UNSUPPORTED_CRITICAL_EXTENSION)
        assert isinstance(found, Rejection)
    else:
        accepted(result)


def _private_extension() -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"\x05\x00")


# -- 4. a verified unknown forgets an earlier good ---------------------------------------------


def test_unknown_answer_forgets_an_earlier_good_one(pki: Pki) -> None:
    with LoopbackServer() as server:
        device = pki.issue_device(ocsp_url=server.url)
        run = Checker(
            settings_for(
                pki, allowed=(server.url,), stale_if_error_seconds=3600, fail_mode=FailMode.CLOSED
            )
        )
        serve(server, device, pki.issuing_ca, next_update=NOW + dt.timedelta(seconds=30))
        expect(run(device), Verdict.ALLOW, Reason.GOOD)
        later = NOW + dt.timedelta(seconds=40)
        serve(server, device, pki.issuing_ca, status="unknown", this_update=later)
        expect(run(device, now=later), Verdict.DENY, Reason.UNKNOWN)
        server.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
        outage = run(device, now=later + dt.timedelta(seconds=1))
    expect(outage, Verdict.DENY, Reason.RESPONDER_UNAVAILABLE)


# -- 5. ResponderID byKey over the key bytes as the certificate encodes them --------------------


def _compressed_point_ca(root: Issued) -> Issued:
    """A CA (issued by ``root``) whose certificate encodes its EC key as a compressed point."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Compressed Point CA")])
    template = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    tbs, signature_algorithm, _signature = der_children(
        template.public_bytes(serialization.Encoding.DER)
    )
    fields = der_children(tbs)
    spki_algorithm, _bits = der_children(fields[6])
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    fields[6] = der_wrap(0x30, spki_algorithm + der_wrap(0x03, b"\x00" + point))
    new_tbs = der_wrap(0x30, b"".join(fields))
    root_key = root.key
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    signature = root_key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    der = der_wrap(0x30, new_tbs + signature_algorithm + der_wrap(0x03, b"\x00" + signature))
    cert = x509.load_der_x509_certificate(der)
    assert der_content(der_children(fields[6])[1]) == b"\x00" + point
    return Issued(cert, key)


def test_responder_key_hash_covers_the_encoded_key_bits(pki: Pki) -> None:
    ca = _compressed_point_ca(pki.root)
    point = ca.key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 - what RFC 6960 byKey is
    digest.update(point)
    assert responder_key_hash(ca.cert) == digest.finalize()


def test_openssl_responder_named_by_key_with_a_compressed_point_is_recognised(
    pki: Pki, configure: Configure, invoke: Invoker
) -> None:
    ca = _compressed_point_ca(pki.root)
    with OpensslResponder(ca=ca, signer=ca, key_id=True) as responder:
        device = pki.issue_device(issuer=ca, ocsp_url=responder.url)
        responder.set_good(device)
        configure(trusted=[ca], allowed=[responder.url])
        outcome = invoke(make_event(device))
    assert (outcome.answer, outcome.reason) == (ALLOW, "GOOD"), outcome


# -- 6. certificates are counted before they are parsed ---------------------------------------


@pytest.mark.parametrize("extra", [7, 8])
def test_a_response_packed_with_certificates_is_refused_unparsed(pki: Pki, extra: int) -> None:
    device = pki.issue_device()
    packing = [pki.issue_delegate().cert for _ in range(extra)]
    # The real delegate comes first, so only the count can make this fail.
    data = respond(device, pki.issuing_ca, signer=pki.delegate, certs=packing)
    result = verify(data, device, pki.issuing_ca)
    if extra + 1 <= MAX_RESPONSE_CERTIFICATES:
        assert accepted(result).signer == "delegate"
    else:
        found = rejected(result, Reason.MALFORMED_RESPONSE)
        assert f"{extra + 1} certificates" in found.detail


# -- pinned: correct today, and must stay so ---------------------------------------------------


def test_sha1_signed_device_certificate_is_untrusted(pki: Pki) -> None:
    """A device certificate genuinely signed by the trusted CA, but with sha1WithRSAEncryption
    (``cryptography`` refuses to verify it; builders refuse to make one, hence the surgery)."""
    device = pki.issue_device(issuer=pki.rsa_ca)
    tbs, _algorithm, _signature = der_children(device.der)
    fields = der_children(tbs)
    sha1_with_rsa = bytes.fromhex("300d06092a864886f70d0101050500")
    fields[2] = sha1_with_rsa
    new_tbs = der_wrap(0x30, b"".join(fields))
    key = pki.rsa_ca.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    forged = der_wrap(0x30, new_tbs + sha1_with_rsa + der_wrap(0x03, b"\x00" + signature))
    cert = x509.load_der_x509_certificate(forged)
    decision = find_issuer(cert, (pki.rsa_ca.cert,), NOW)
    assert not isinstance(decision, x509.Certificate)
    assert decision.reason is Reason.UNTRUSTED_ISSUER


def test_revocation_dated_in_the_future_still_denies(pki: Pki) -> None:
    device = pki.issue_device()
    cert_id = x509_ocsp.load_der_ocsp_response(respond(device, pki.issuing_ca))
    data = sign_response(
        CertIdParts(cert_id.issuer_name_hash, cert_id.issuer_key_hash, device.serial, SHA1),
        signer=pki.issuing_ca,
        status="revoked",
        this_update=NOW - dt.timedelta(minutes=1),
        next_update=NOW + dt.timedelta(minutes=5),
        revocation_time=NOW + dt.timedelta(days=1),
        produced_at=NOW,
    )
    answer = accepted(verify(data, device, pki.issuing_ca))
    assert answer.status is x509_ocsp.OCSPCertStatus.REVOKED


@pytest.mark.parametrize("scheme", ["ecdsa", "rsa-pkcs1", "rsa-pss"])
def test_no_single_bit_flip_of_a_signed_answer_is_accepted(pki: Pki, scheme: str) -> None:
    """Every byte, flipped in its lowest and highest bit. (Found in review: a signature BIT
    STRING re-encoded with an unused-bits count was accepted, harmless but malleable; the
    strict DER walk now refuses it.)"""
    ca = pki.issuing_ca if scheme == "ecdsa" else pki.rsa_ca
    device = pki.issue_device(issuer=ca)
    data = respond(device, ca)
    if scheme == "rsa-pss":
        data = resigned(data, key=ca.key, algorithm=pss(ca.key, "sha384"))
    accepted(verify(data, device, ca))
    survivors = [
        (index, flip)
        for index in range(len(data))
        for flip in (0x01, 0x80)
        if not isinstance(
            verify(data[:index] + bytes([data[index] ^ flip]) + data[index + 1 :], device, ca),
            Rejection,
        )
    ]
    assert survivors == []
