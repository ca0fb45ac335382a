"""``ocsp-iot enroll --local-ca``: the same enroll code path (key and CSR made here, PEM files,
the AIA check, the printed command), issuing from a local CA folder instead of AWS Private CA,
and the device it wrote connecting through the local IoT Core look-alike: real ``mosquitto_pub``
/ ``mosquitto_sub``, the real pre-auth handler asking a real ``openssl ocsp`` responder, a real
mosquitto behind it. ``check`` and ``probe`` take the folder as it is."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from ocsp_iot.cli import ExitCode, main
from ocsp_iot.local.broker import Mosquitto, mosquitto_client
from ocsp_iot.local.endpoint import LocalEndpoint, Outcome, Recorder
from ocsp_iot.local.pki import LocalPki
from ocsp_iot.local.responder import OpensslResponder
from tests.local.support import (
    CLIENT_TIMEOUT,
    SERVER_NAME,
    local_responder,
    responder_staple_source,
)
from tests.local.test_endpoint import REFUSED_EXIT_CODES


@dataclass
class LocalStack:
    pki: LocalPki
    ca_folder: Path
    responder: OpensslResponder
    broker: Mosquitto
    endpoint: LocalEndpoint
    records: Recorder
    out: Path


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("local-enroll")
    pki = LocalPki.create(name="Enroll")
    records = Recorder()
    with local_responder(pki) as responder:
        server = pki.issue_server(SERVER_NAME, ocsp_url=responder.url)
        responder.set_good(server.certificate)
        ca_folder = pki.write_ca_folder(folder / "ca", ocsp_url=responder.url)
        with Mosquitto() as broker:
            endpoint = LocalEndpoint(
                server_name=SERVER_NAME,
                certificate=server.certificate,
                chain=[pki.issuing_ca.certificate],
                private_key=server.key,
                broker=broker.address,
                preauth_env={
                    "TRUSTED_CA_PEM": pki.issuing_ca.pem.decode("ascii"),
                    "OCSP_ALLOWED_URLS": responder.url,
                },
                staple_source=responder_staple_source(responder),
                on_connection=records,
                handshake_timeout=5.0,
            )
            with endpoint:
                yield LocalStack(
                    pki, ca_folder, responder, broker, endpoint, records, folder / "devices"
                )


def _enroll(local: LocalStack, capsys: pytest.CaptureFixture[str], name: str) -> dict[str, Any]:
    code = main(
        [
            "enroll",
            name,
            "--local-ca",
            str(local.ca_folder),
            "--domain",
            SERVER_NAME,
            "--out",
            str(local.out),
            "--json",
        ]
    )
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK, data
    (device,) = data["devices"]
    assert isinstance(device, dict)
    return device


def _mark_good(local: LocalStack, folder: Path) -> x509.Certificate:
    cert = x509.load_pem_x509_certificate((folder / "device.pem").read_bytes())
    local.responder.set_good(cert)  # the responder's index learns the new certificate
    return cert


def _through_the_endpoint(local: LocalStack, command: list[str]) -> list[str]:
    """The printed command, reaching the endpoint's port through its SOCKS5 shim (the domain
    name stays the SNI, as for IoT Core)."""
    return [
        mosquitto_client(command[0]),
        *command[1:],
        "--proxy",
        f"socks5h://127.0.0.1:{local.endpoint.port}",
    ]


def test_an_enrolled_device_connects_with_the_printed_command(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    device = _enroll(local, capsys, "local-sensor-1")
    folder = Path(device["folder"])
    assert device["status"] == "enrolled"
    assert device["warnings"] == []  # AIA present, clientAuth: nothing the Lambda refuses
    assert device["certificate"]["ocspUrl"] == local.responder.url
    assert device["certificate"]["chain"] == [
        local.pki.issuing_ca.certificate.subject.rfc4514_string(),
        local.pki.root.certificate.subject.rfc4514_string(),
    ]
    command = shlex.split(device["connect"])
    assert command[:7] == [
        "mosquitto_pub",
        "-h",
        SERVER_NAME,
        "-p",
        "8883",
        "--cafile",
        str(local.ca_folder / "root.pem"),
    ]
    assert command[command.index("-i") + 1] == "local-sensor-1"
    topic = command[command.index("-t") + 1]
    assert topic == "devices/local-sensor-1/hello"
    _mark_good(local, folder)

    listener = _enroll(local, capsys, "local-listener")
    _mark_good(local, Path(listener["folder"]))
    listen = shlex.split(listener["connect"])
    sub_args = listen[: listen.index("-t")]
    sub_args[0] = "mosquitto_sub"
    before = len(local.records)
    sub = subprocess.Popen(
        [*_through_the_endpoint(local, sub_args), "-t", topic, "-C", "1", "-W", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _eventually(lambda: "local-listener" in local.broker.connected_clients())
        published = subprocess.run(
            _through_the_endpoint(local, command),
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
        out, err = sub.communicate(timeout=CLIENT_TIMEOUT)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(timeout=10)
    assert published.returncode == 0, published.stderr
    assert "CONNACK (0)" in published.stdout + published.stderr  # -d prints the exchange
    assert sub.returncode == 0, err
    assert out.strip() == "hello from local-sensor-1"
    records = local.records.since(before)
    assert {(r.outcome, r.reason) for r in records} == {(Outcome.ALLOWED, "GOOD")}
    assert {r.chain_subjects for r in records} == {
        ("CN=local-sensor-1",),
        ("CN=local-listener",),
    }


def _check(folder: Path) -> tuple[int, dict[str, Any]]:
    """``ocsp-iot check FOLDER`` (no --ca: the folder's issuer) in its own process: in this
    one the endpoint owns the pre-auth handler."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ocsp-iot"), "check", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, data


def _eventually(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_check_and_probe_take_the_enrolled_folder(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    device = _enroll(local, capsys, "local-sensor-2")
    folder = Path(device["folder"])
    _mark_good(local, folder)
    code, data = _check(folder)
    assert code == ExitCode.OK, data
    assert (data["verdict"], data["reason"]) == ("ALLOW", "GOOD")
    assert data["responder"]["source"] == "the certificate's AIA"
    code = main(
        [
            "probe",
            f"127.0.0.1:{local.endpoint.port}",
            "--servername",
            SERVER_NAME,
            "--cert",
            str(folder),
            "--ca",
            str(local.ca_folder / "root.pem"),
            "--mqtt",
            "--client-id",
            "local-sensor-2",
            "--json",
        ]
    )
    probe = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK, probe
    assert probe["accepted"] is True


def test_a_revoked_enrolled_device_is_refused(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    device = _enroll(local, capsys, "local-sensor-3")
    folder = Path(device["folder"])
    cert = x509.load_pem_x509_certificate((folder / "device.pem").read_bytes())
    local.responder.set_revoked(cert)
    code, data = _check(folder)
    assert (code, data["reason"]) == (ExitCode.REFUSED, "REVOKED")
    before = len(local.records)
    done = subprocess.run(
        _through_the_endpoint(local, shlex.split(device["connect"])),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    assert done.returncode in REFUSED_EXIT_CODES, (done.returncode, done.stderr)
    (record,) = local.records.wait(before)
    assert (record.outcome, record.reason) == (Outcome.DENIED, "REVOKED")
    assert "local-sensor-3" not in local.broker.connected_clients()


def test_enrolling_a_local_device_again_changes_nothing(
    local: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _enroll(local, capsys, f"again-{uuid.uuid4().hex[:6]}")
    folder = Path(first["folder"])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    second = _enroll(local, capsys, folder.name)
    assert second["status"] == "unchanged"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_fails_on_a_folder_that_is_not_a_local_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["enroll", "x", "--local-ca", str(tmp_path)])
    assert code == ExitCode.INPUT_ERROR
    assert capsys.readouterr().err == (
        f"ocsp-iot: error: local root CA {tmp_path / 'root.pem'}: no such file\n"
    )
