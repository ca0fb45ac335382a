"""Shared by the local-endpoint and CLI tests: a local fleet (PKI, real ``openssl ocsp``
responder, mosquitto, the endpoint) and real MQTT clients driving it.

The staple source is built from the test PKI for now (the responder answers the endpoint's
request directly); the stapling Lambda's ``stapling_handler.handler`` has the same contract.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

from ocsp_iot.device import CHAIN_FILE, DEVICE_CERT_FILE, KEY_FILE
from ocsp_iot.local.broker import Mosquitto
from ocsp_iot.local.endpoint import ConnectionRecord, LocalEndpoint
from ocsp_iot.local.pki import Issued, LocalPki
from ocsp_iot.local.staple import StapleSource
from tests.lambdas.support.openssl import OpensslResponder
from tests.lambdas.support.pki import Issued as TestIssued

SERVER_NAME = "iot.example.test"
#: Generous: the machine is shared; nothing here asserts speed.
CLIENT_TIMEOUT = 30


def as_test_issued(issued: Issued) -> TestIssued:
    """The Lambda tests' ``Issued`` (what ``OpensslResponder`` takes) for a local one."""
    return TestIssued(cert=issued.certificate, key=issued.key)


def mosquitto_client(name: str) -> str:
    """``mosquitto_pub``/``mosquitto_sub``: installed by the project, so missing is an error."""
    found = shutil.which(name)
    if found is None:
        msg = f"{name} is not on PATH; `make test` installs it (Debian package mosquitto-clients)"
        raise RuntimeError(msg)
    return found


def responder_staple_source(responder: OpensslResponder) -> StapleSource:
    """Answers the endpoint's staple request with the real ``openssl ocsp`` responder."""

    def source(request_b64: str) -> str:
        answer = responder.respond(base64.b64decode(request_b64))
        return base64.b64encode(answer or b"").decode("ascii")

    return source


class Recorder:
    """Collects the endpoint's ``ConnectionRecord`` s (``on_connection``), thread-safe."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._records: list[ConnectionRecord] = []

    def __call__(self, record: ConnectionRecord) -> None:
        with self._lock:
            self._records.append(record)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def since(self, index: int) -> list[ConnectionRecord]:
        with self._lock:
            return list(self._records[index:])

    def wait(self, index: int, count: int = 1, timeout: float = 20.0) -> list[ConnectionRecord]:
        """The records since ``index`` once there are ``count`` (the endpoint reports a
        refusal in the handshake right after sending its alert, so a client may finish
        first); whatever there is after ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self) - index < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.since(index)


@dataclass
class Fleet:
    """Everything a test connects to; ``devices[name]`` are device folders."""

    files: LocalPkiFiles
    broker: Mosquitto
    endpoint: LocalEndpoint
    records: Recorder

    @property
    def devices(self) -> dict[str, Path]:
        return self.files.devices

    @property
    def root_pem(self) -> Path:
        return self.files.root_pem

    @property
    def responder(self) -> OpensslResponder:
        return self.files.responder

    def presented(self, name: str) -> Path:
        """A PEM file with the device certificate followed by its chain (what it sends)."""
        folder = self.devices[name]
        path = folder / "presented.pem"
        if not path.exists():
            path.write_bytes(
                (folder / DEVICE_CERT_FILE).read_bytes() + (folder / CHAIN_FILE).read_bytes()
            )
        return path

    def key(self, name: str) -> Path:
        return self.devices[name] / KEY_FILE

    def tls_args(self, name: str, *, sni: str = SERVER_NAME) -> list[str]:
        """mosquitto client options to reach the endpoint as device ``name`` with SNI ``sni``
        (through the endpoint's SOCKS5 shim: libmosquitto sends its ``-h`` as SNI)."""
        return [
            "-h",
            sni,
            "-p",
            "8883",
            "--proxy",
            f"socks5h://127.0.0.1:{self.endpoint.port}",
            "--cafile",
            str(self.root_pem),
            "--cert",
            str(self.presented(name)),
            "--key",
            str(self.key(name)),
        ]

    def publish(
        self, name: str, *, topic: str, message: str, client_id: str, sni: str = SERVER_NAME
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                mosquitto_client("mosquitto_pub"),
                *self.tls_args(name, sni=sni),
                "-i",
                client_id,
                "-t",
                topic,
                "-m",
                message,
                "-q",
                "1",
                "-r",
            ],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )

    def subscribe(self, name: str, *, topic: str, client_id: str) -> subprocess.Popen[str]:
        """``mosquitto_sub`` for one message (``-C 1``), giving up after 20 s (``-W``)."""
        return subprocess.Popen(
            [
                mosquitto_client("mosquitto_sub"),
                *self.tls_args(name),
                "-i",
                client_id,
                "-t",
                topic,
                "-C",
                "1",
                "-W",
                "20",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@dataclass
class LocalPkiFiles:
    """The local PKI on disk with a real responder: ``devices[name]`` are device folders."""

    pki: LocalPki
    responder: OpensslResponder
    folder: Path
    server: Issued
    devices: dict[str, Path]

    @property
    def root_pem(self) -> Path:
        return self.folder / "root.pem"

    @property
    def issuing_ca_pem(self) -> Path:
        return self.folder / "issuing-ca.pem"

    def preauth_env(self) -> dict[str, str]:
        return {
            "TRUSTED_CA_PEM": self.pki.issuing_ca.pem.decode("ascii"),
            "OCSP_ALLOWED_URLS": self.responder.url,
        }


@contextlib.contextmanager
def local_pki_files(folder: Path) -> Iterator[LocalPkiFiles]:
    """The local PKI (root, issuing CA, rogue CA with the issuing CA's name), a real
    ``openssl ocsp`` responder for the issuing CA, the server certificate and five devices:
    ``good``, ``good2`` (good), ``revoked``, ``unknown`` (not in the responder's index) and
    ``rogue`` (issued by the rogue CA, sending the rogue CA as its chain)."""
    pki = LocalPki.create(name="Test")
    with OpensslResponder(
        ca=as_test_issued(pki.issuing_ca), signer=as_test_issued(pki.issuing_ca), nmin=60
    ) as responder:
        server = pki.issue_server(SERVER_NAME, ocsp_url=responder.url)
        responder.set_good(as_test_issued(server))
        folder.mkdir(parents=True, exist_ok=True)
        pki.root.write(folder / "root.pem")
        pki.issuing_ca.write(folder / "issuing-ca.pem")
        devices: dict[str, Path] = {}
        for name in ("good", "good2", "revoked", "unknown", "rogue"):
            issued = pki.issue_device(
                f"{name}-thing", ocsp_url=responder.url, rogue=name == "rogue"
            )
            if name in ("good", "good2", "rogue"):
                responder.set_good(as_test_issued(issued))
            elif name == "revoked":
                responder.set_revoked(as_test_issued(issued))
            pki.write_device(folder / name, issued)
            devices[name] = folder / name
        yield LocalPkiFiles(pki, responder, folder, server, devices)


@contextlib.contextmanager
def local_fleet(folder: Path, **endpoint_options: Any) -> Iterator[Fleet]:
    """``local_pki_files`` plus mosquitto and the endpoint (stapling from the responder)."""
    options: dict[str, Any] = {"handshake_timeout": 5.0, **endpoint_options}
    records = Recorder()
    with local_pki_files(folder) as files, Mosquitto() as broker:
        endpoint = LocalEndpoint(
            server_name=SERVER_NAME,
            certificate=files.server.certificate,
            chain=[files.pki.issuing_ca.certificate],
            private_key=files.server.key,
            broker=broker.address,
            preauth_env=files.preauth_env(),
            staple_source=responder_staple_source(files.responder),
            on_connection=records,
            **options,
        )
        with endpoint:
            yield Fleet(files, broker, endpoint, records)
