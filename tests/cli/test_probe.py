"""``ocsp-iot probe`` against the local endpoint (real TLS, real mosquitto behind it) and
against ``openssl s_server``, including every error path."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocsp_iot.cli import ExitCode, run
from ocsp_iot.probe import parse_target
from tests.lambdas.support.loopback import RawListener
from tests.lambdas.support.openssl import openssl_binary
from tests.local.support import SERVER_NAME, Fleet


def _probe(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(["probe", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _target(fleet: Fleet) -> list[str]:
    return [f"127.0.0.1:{fleet.endpoint.port}", "--servername", SERVER_NAME]


def _as(fleet: Fleet, name: str) -> list[str]:
    return ["--cert", str(fleet.devices[name]), "--ca", str(fleet.root_pem)]


def test_a_good_device_is_accepted_and_the_staple_verifies(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _probe(capsys, *_target(fleet), *_as(fleet, "good"), "--require-staple")
    assert code == ExitCode.OK, out + err
    assert f"server cert: CN={SERVER_NAME},O=ocsp-iot local PKI" in out
    assert "  issuer:    CN=Test Issuing CA,O=ocsp-iot local PKI" in out
    assert f"  names:     {SERVER_NAME}" in out
    assert f"  verified:  yes, valid for {SERVER_NAME} (trust: {fleet.root_pem})" in out
    assert "staple:      good (verified, signed by the issuer), thisUpdate 20" in out
    assert "connection:  ACCEPTED, handshake completed and the server kept the connection" in out


def test_json_and_mqtt(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _probe(
        capsys, *_target(fleet), *_as(fleet, "good"), "--mqtt", "--client-id", "probe-1", "--json"
    )
    data: dict[str, Any] = json.loads(out)
    assert code == data["exitCode"] == 0
    assert data["accepted"] is True
    assert data["mqtt"] == {"clientId": "probe-1", "connackCode": 0}
    assert data["connection"] == "MQTT CONNACK 0 (accepted)"
    assert data["tls"]["version"] == "TLSv1.3"
    assert data["serverCertificate"]["subjectAltNames"] == [SERVER_NAME]
    assert data["chain"] == [
        f"CN={SERVER_NAME},O=ocsp-iot local PKI",
        "CN=Test Issuing CA,O=ocsp-iot local PKI",
    ]
    assert data["staple"]["status"] == "GOOD" and data["staple"]["verified"] is True
    assert data["verification"]["verified"] is True
    assert "probe-1" in fleet.broker.connected_clients()


@pytest.mark.parametrize("device", ["revoked", "rogue"])
def test_a_denied_device_is_refused(
    fleet: Fleet, capsys: pytest.CaptureFixture[str], device: str
) -> None:
    code, out, _ = _probe(capsys, *_target(fleet), *_as(fleet, device))
    assert code == ExitCode.REFUSED
    assert "connection:  REFUSED, the server closed the connection after the handshake" in out
    assert "staple:      good (verified" in out  # the staple is about the server, not the device


def test_a_denied_device_is_refused_over_mqtt(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _probe(capsys, *_target(fleet), *_as(fleet, "revoked"), "--mqtt")
    assert code == ExitCode.REFUSED
    assert "the server closed the connection instead of answering CONNECT" in out


def test_no_client_certificate_is_refused_after_the_tls13_handshake(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _probe(capsys, *_target(fleet), "--ca", str(fleet.root_pem))
    assert code == ExitCode.REFUSED
    assert "client cert: none" in out
    assert "REFUSED, the server ended the connection: tlsv13 alert certificate required" in out


def test_another_name_is_refused_in_the_handshake(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _probe(
        capsys,
        f"127.0.0.1:{fleet.endpoint.port}",
        "--servername",
        "other.example.test",
        *_as(fleet, "good"),
    )
    assert code == ExitCode.REFUSED
    assert "REFUSED, the handshake failed: tls alert handshake failure" in out
    assert "SNI other.example.test" in out


def test_an_ip_target_sends_no_sni_and_is_refused(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _probe(capsys, f"127.0.0.1:{fleet.endpoint.port}", *_as(fleet, "good"))
    assert code == ExitCode.REFUSED
    assert f"target:      127.0.0.1:{fleet.endpoint.port}, SNI none" in out
    assert "handshake failure" in out


def test_without_ca_the_public_roots_do_not_trust_a_local_server(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _probe(capsys, *_target(fleet), "--cert", str(fleet.devices["good"]))
    assert code == ExitCode.OK  # accepted all the same: trust is reported, not required
    assert "  verified:  NO, " in out and "(trust: public roots (certifi))" in out


@pytest.fixture
def s_server(fleet: Fleet, tmp_path: Path) -> Iterator[int]:
    """``openssl s_server`` with the endpoint's certificate, no staple, no client cert."""
    fleet.files.server.write(tmp_path / "server.pem", tmp_path / "server.key")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    proc = subprocess.Popen(
        [
            openssl_binary(),
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(tmp_path / "server.pem"),
            "-key",
            str(tmp_path / "server.key"),
            "-cert_chain",
            str(fleet.files.issuing_ca_pem),
            "-quiet",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdin is not None:
            proc.stdin.close()


def test_a_server_without_a_staple(
    fleet: Fleet, s_server: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [f"127.0.0.1:{s_server}", "--servername", SERVER_NAME, "--ca", str(fleet.root_pem)]
    code, out, _ = _probe(capsys, *argv)
    assert code == ExitCode.OK
    assert "staple:      none sent" in out
    code, out, _ = _probe(capsys, *argv, "--require-staple")
    assert code == ExitCode.REFUSED


def test_a_closed_port_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    code, out, err = _probe(capsys, f"127.0.0.1:{port}", "--servername", SERVER_NAME)
    assert code == ExitCode.UNREACHABLE
    assert out == ""
    assert err == f"ocsp-iot: error: 127.0.0.1:{port}: Connection refused\n"


def test_a_silent_server_is_unreachable_with_a_progress_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with RawListener() as silent:
        code, out, err = _probe(
            capsys, f"127.0.0.1:{silent.port}", "--servername", SERVER_NAME, "--timeout", "1.5"
        )
    assert code == ExitCode.UNREACHABLE
    assert "the server did not complete a TLS handshake in time" in out
    assert f"ocsp-iot: TLS handshake with 127.0.0.1:{silent.port} ..." in err


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _probe(capsys, *argv)
    assert code == ExitCode.INPUT_ERROR, out + err
    assert out == "" and err.startswith("ocsp-iot: error: ") and err.count("\n") == 1, err
    return err


def test_errors_for_bad_input(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    target = _target(fleet)
    good, revoked = fleet.devices["good"], fleet.devices["revoked"]
    assert "--key needs --cert" in _error(capsys, *target, "--key", str(good / "device.key"))
    err = _error(
        capsys, *target, "--cert", str(good / "device.pem"), "--key", str(revoked / "device.key")
    )
    assert "does not match the certificate" in err
    assert "no key for" in _error(capsys, *target, "--cert", str(good / "device.pem"))
    assert "no such file" in _error(capsys, *target, "--cert", str(good / "nothing.pem"))
    assert "not a private key" in _error(
        capsys, *target, "--cert", str(good / "device.pem"), "--key", str(good / "device.pem")
    )
    assert "port must be a number from 1 to 65535" in _error(capsys, "host:99999")
    assert "missing ']'" in _error(capsys, "[::1")


def test_an_unknown_host_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _probe(capsys, "no-such-host.invalid:8883")
    assert code == ExitCode.UNREACHABLE
    assert err.startswith("ocsp-iot: error: cannot resolve no-such-host.invalid")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("example.com", ("example.com", 8883)),
        ("example.com:443", ("example.com", 443)),
        ("[::1]", ("::1", 8883)),
        ("[::1]:9", ("::1", 9)),
        ("::1", ("::1", 8883)),
    ],
)
def test_targets(target: str, expected: tuple[str, int]) -> None:
    assert parse_target(target) == expected
