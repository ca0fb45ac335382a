"""The local IoT Core look-alike, driven by real clients: mosquitto_pub/mosquitto_sub through
the endpoint to a real mosquitto, the real pre-auth handler asking a real ``openssl ocsp``
responder, staples seen by ``openssl s_client -status``."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ocsp_iot._mqtt import connect_packet, parse_connack
from ocsp_iot.local.endpoint import Outcome
from tests.lambdas.support.openssl import openssl_binary
from tests.local.support import CLIENT_TIMEOUT, SERVER_NAME, Fleet

#: What mosquitto clients exit with when the server ends the connection (lost, TLS error,
#: connection refused...): the code varies with the moment the client notices.
REFUSED_EXIT_CODES = {1, 5, 7, 8, 14}


def _topic() -> str:
    return f"test/{uuid.uuid4().hex[:12]}"


def _wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_the_good_devices_message_arrives(fleet: Fleet) -> None:
    topic = _topic()
    before = len(fleet.records)
    sub = fleet.subscribe("good2", topic=topic, client_id="sub-good2")
    published = fleet.publish("good", topic=topic, message="hello fleet", client_id="pub-good")
    out, err = sub.communicate(timeout=CLIENT_TIMEOUT)
    assert published.returncode == 0, published.stderr
    assert sub.returncode == 0, err
    assert out.strip() == "hello fleet"
    assert {"pub-good", "sub-good2"} <= set(fleet.broker.connected_clients())
    records = fleet.records.since(before)
    assert {r.outcome for r in records} == {Outcome.ALLOWED}
    assert {r.reason for r in records} == {"GOOD"}
    for r in records:  # timed: the handshake, and the check around the handler's own time
        assert r.handshake_ms is not None and r.handshake_ms > 0
        assert r.check_ms is not None and r.decision_ms is not None
        assert r.check_ms + 0.02 >= r.decision_ms > 0
    assert {r.server_name for r in records} == {SERVER_NAME}


@pytest.mark.parametrize(
    ("device", "reason"),
    [("revoked", "REVOKED"), ("rogue", "UNTRUSTED_ISSUER"), ("unknown", "UNKNOWN")],
)
def test_a_device_the_handler_denies_never_reaches_the_broker(
    fleet: Fleet, device: str, reason: str
) -> None:
    before, tcp_before = len(fleet.records), fleet.broker.connection_count()
    done = fleet.publish(device, topic=_topic(), message="x", client_id=f"pub-{device}")
    assert done.returncode in REFUSED_EXIT_CODES, (done.returncode, done.stderr)
    (record,) = fleet.records.wait(before)
    assert (record.outcome, record.reason) == (Outcome.DENIED, reason)
    assert fleet.broker.connection_count() == tcp_before
    assert f"pub-{device}" not in fleet.broker.connected_clients()


def test_the_rogue_device_sends_a_ca_with_the_trusted_name(fleet: Fleet) -> None:
    # the rogue CA has the issuing CA's subject: only the key tells them apart
    rogue = x509.load_pem_x509_certificates(fleet.presented("rogue").read_bytes())
    assert rogue[1].subject == fleet.files.pki.issuing_ca.certificate.subject
    assert rogue[1] != fleet.files.pki.issuing_ca.certificate


@pytest.mark.parametrize("sni", ["other.example.test", "127.0.0.1", "IOT.EXAMPLE.TEST.evil"])
def test_another_sni_is_refused_in_the_handshake(fleet: Fleet, sni: str) -> None:
    before, tcp_before = len(fleet.records), fleet.broker.connection_count()
    done = fleet.publish("good", topic=_topic(), message="x", client_id="pub-wrong-sni", sni=sni)
    assert done.returncode in REFUSED_EXIT_CODES, (done.returncode, done.stderr)
    (record,) = fleet.records.wait(before)
    assert record.outcome is Outcome.REFUSED_SNI
    assert record.decision_ms is None  # the handler was never asked
    assert fleet.broker.connection_count() == tcp_before


def test_sni_is_matched_without_regard_to_case(fleet: Fleet) -> None:
    done = fleet.publish(
        "good", topic=_topic(), message="x", client_id="pub-upper", sni="IoT.Example.Test"
    )
    assert done.returncode == 0, done.stderr


def _s_client(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            openssl_binary(),
            "s_client",
            "-connect",
            f"127.0.0.1:{fleet.endpoint.port}",
            "-CAfile",
            str(fleet.root_pem),
            *args,
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )


def test_a_client_without_sni_gets_a_handshake_failure_alert(fleet: Fleet) -> None:
    before, tcp_before = len(fleet.records), fleet.broker.connection_count()
    done = _s_client(
        fleet,
        "-noservername",
        "-cert",
        str(fleet.devices["good"] / "device.pem"),
        "-key",
        str(fleet.key("good")),
    )
    assert done.returncode != 0
    assert "alert handshake failure" in done.stderr
    (record,) = fleet.records.wait(before)
    assert (record.outcome, record.detail) == (Outcome.REFUSED_SNI, "the client sent no SNI")
    assert fleet.broker.connection_count() == tcp_before


def test_a_client_without_a_certificate_is_refused(fleet: Fleet) -> None:
    before, tcp_before = len(fleet.records), fleet.broker.connection_count()
    # TLS 1.2: the refusal is an alert inside the handshake (TLS 1.3 sends it after the
    # client's Finished, which s_client with nothing to send does not wait for)
    done = _s_client(fleet, "-servername", SERVER_NAME, "-tls1_2")
    assert done.returncode != 0
    assert "alert handshake failure" in done.stderr
    (record,) = fleet.records.wait(before)
    assert record.outcome is Outcome.NO_CLIENT_CERT
    assert fleet.broker.connection_count() == tcp_before


def test_the_staple_is_sent_when_asked_and_only_then(fleet: Fleet) -> None:
    args = ["-servername", SERVER_NAME, "-cert", str(fleet.devices["good"] / "device.pem")]
    args += ["-key", str(fleet.key("good"))]
    before = len(fleet.records)
    asked = _s_client(fleet, *args, "-status")
    assert "OCSP Response Status: successful" in asked.stdout
    assert "Cert Status: good" in asked.stdout
    assert "Verify return code: 0 (ok)" in asked.stdout
    not_asked = _s_client(fleet, *args)
    assert "OCSP response" not in not_asked.stdout
    first, second = fleet.records.wait(before, 2)
    assert (first.status_requested, first.stapled) == (True, True)
    assert (second.status_requested, second.stapled) == (False, False)


def test_the_event_carries_the_chain_exactly_as_sent(fleet: Fleet) -> None:
    before = len(fleet.records)
    # the chain file sends: device, then the issuing CA, then the root (out of the ordinary)
    folder = fleet.devices["good"]
    chain = folder / "issuing-then-root.pem"
    chain.write_bytes((folder / "chain.pem").read_bytes() + fleet.root_pem.read_bytes())
    done = _s_client(
        fleet,
        "-servername",
        SERVER_NAME,
        "-cert",
        str(folder / "device.pem"),
        "-cert_chain",
        str(chain),
        "-key",
        str(fleet.key("good")),
    )
    assert done.returncode == 0, done.stderr
    (record,) = fleet.records.wait(before)
    pki = fleet.files.pki
    assert record.chain_subjects == (
        "CN=good-thing,O=ocsp-iot local PKI",
        pki.issuing_ca.certificate.subject.rfc4514_string(),
        pki.root.certificate.subject.rfc4514_string(),
    )
    leaf = x509.load_pem_x509_certificate((folder / "device.pem").read_bytes())
    assert record.principal_id == _sha256_hex(leaf)
    assert record.outcome is Outcome.ALLOWED


def _sha256_hex(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def test_a_stalled_client_does_not_block_others_and_is_dropped(fleet: Fleet) -> None:
    before = len(fleet.records)
    stalled = [socket.create_connection(fleet.endpoint.address, timeout=30) for _ in range(20)]
    partial = socket.create_connection(fleet.endpoint.address, timeout=30)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, never finished
    try:
        done = fleet.publish("good", topic=_topic(), message="x", client_id="pub-while-stalled")
        assert done.returncode == 0, done.stderr
        # every stalled socket is still open while the good device was served
        for sock in stalled:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
        # ... and the endpoint drops them after its handshake timeout (5 s)
        for sock in [*stalled, partial]:
            sock.settimeout(30)
            assert sock.recv(1) == b""
    finally:
        for sock in [*stalled, partial]:
            sock.close()
    assert _wait_until(
        lambda: sum(r.outcome is Outcome.TIMEOUT for r in fleet.records.since(before)) == 21
    )


def _connect_mqtt(fleet: Fleet, name: str, results: list[str], release: threading.Event) -> None:
    """One device connection through the endpoint (Python's ssl), held open after its CONNACK
    until ``release``, so that all are open at once."""
    context = ssl.create_default_context(cafile=str(fleet.root_pem))
    context.load_cert_chain(str(fleet.presented(name)), str(fleet.key(name)))
    try:
        with (
            socket.create_connection(fleet.endpoint.address, timeout=60) as raw,
            context.wrap_socket(raw, server_hostname=SERVER_NAME) as tls,
        ):
            tls.sendall(connect_packet(f"load-{uuid.uuid4().hex[:10]}"))
            code = parse_connack(tls.recv(4))
            results.append("accepted" if code == 0 else f"refused:{code}")
            if code == 0:
                release.wait(120)
    except (OSError, ssl.SSLError) as exc:
        results.append(f"refused:{type(exc).__name__}")


@pytest.mark.slow
def test_two_hundred_concurrent_connections_with_repeats(fleet: Fleet) -> None:
    requests_before = fleet.responder.request_count
    before = len(fleet.records)
    fleet.endpoint.peaks(reset=True)
    for _ in range(2):  # the second round finds every answer in the handler's cache
        names = ["good"] * 95 + ["good2"] * 95 + ["revoked"] * 10
        results: list[str] = []
        release = threading.Event()
        threads = [
            threading.Thread(target=_connect_mqtt, args=(fleet, n, results, release)) for n in names
        ]
        for thread in threads:
            thread.start()
        try:
            expected = len(names)
            assert _wait_until(lambda r=results, n=expected: len(r) == n, timeout=180)
            assert fleet.endpoint.open_connections() == 190  # every good one at once
            assert fleet.endpoint.peaks()["connections"] >= 190
            assert 1 <= fleet.endpoint.peaks()["handshakes"] <= 200
        finally:
            release.set()
            for thread in threads:
                thread.join(60)
        assert results.count("accepted") == 190, sorted(set(results))
        assert results.count("refused:None") == 10  # closed without a CONNACK
    outcomes = [r.outcome for r in fleet.records.since(before)]
    assert outcomes.count(Outcome.ALLOWED) == 380
    assert outcomes.count(Outcome.DENIED) == 20
    # three devices' answers were asked for, each once, then cached
    assert fleet.responder.request_count - requests_before <= 3
