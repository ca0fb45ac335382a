"""Shared by the local-endpoint and CLI tests: a local fleet (PKI, real ``openssl ocsp``
responder, mosquitto, the endpoint) and real MQTT clients driving it.

The responder is the package's ``OpensslResponder`` (``openssl ocsp`` behind a loopback
listener); the endpoint staples through the stapling Lambda's own handler
(``ocsp_iot._lambda.StaplingFunction``), as the demo does.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocsp_iot._lambda import StaplingFunction
from ocsp_iot.demo import device_tls_args
from ocsp_iot.device import CHAIN_FILE, DEVICE_CERT_FILE, KEY_FILE
from ocsp_iot.local.broker import Mosquitto, mosquitto_client
from ocsp_iot.local.endpoint import LocalEndpoint, Recorder
from ocsp_iot.local.pki import Issued, LocalPki
from ocsp_iot.local.responder import OpensslResponder
from ocsp_iot.local.staple import StapleSource

SERVER_NAME = "iot.example.test"
#: Generous: the machine is shared; nothing here asserts speed.
CLIENT_TIMEOUT = 30


def local_responder(pki: LocalPki, *, nmin: int = 60) -> OpensslResponder:
    """A real ``openssl ocsp`` responder for ``pki``'s issuing CA, signing as the CA."""
    return OpensslResponder(
        ca=pki.issuing_ca.certificate,
        signer=pki.issuing_ca.certificate,
        signer_key=pki.issuing_ca.key,
        nmin=nmin,
    )


def responder_staple_source(responder: OpensslResponder) -> StapleSource:
    """Answers the endpoint's staple request with the real ``openssl ocsp`` responder directly
    (no stapling handler in between)."""

    def source(request_b64: str) -> str:
        answer = responder.ocsp.respond(base64.b64decode(request_b64))
        return base64.b64encode(answer or b"").decode("ascii")

    return source


def stapling_function(pki: LocalPki, responder: OpensslResponder) -> StaplingFunction:
    """The stapling Lambda's handler, configured as the construct would for ``pki``."""
    return StaplingFunction(
        {
            "OCSP_RESPONDER_URL": responder.url,
            "TRUSTED_CA_PEM": pki.issuing_ca.pem.decode("ascii"),
        }
    )


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
        return device_tls_args(
            port=self.endpoint.port,
            server_name=sni,
            root_pem=self.root_pem,
            presented=self.presented(name),
            key=self.key(name),
        )

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
    with local_responder(pki) as responder:
        server = pki.issue_server(SERVER_NAME, ocsp_url=responder.url)
        responder.set_good(server.certificate)
        folder.mkdir(parents=True, exist_ok=True)
        pki.root.write(folder / "root.pem")
        pki.issuing_ca.write(folder / "issuing-ca.pem")
        devices: dict[str, Path] = {}
        for name in ("good", "good2", "revoked", "unknown", "rogue"):
            issued = pki.issue_device(
                f"{name}-thing", ocsp_url=responder.url, rogue=name == "rogue"
            )
            if name in ("good", "good2", "rogue"):
                responder.set_good(issued.certificate)
            elif name == "revoked":
                responder.set_revoked(issued.certificate)
            pki.write_device(folder / name, issued)
            devices[name] = folder / name
        yield LocalPkiFiles(pki, responder, folder, server, devices)


@contextlib.contextmanager
def local_fleet(folder: Path, **endpoint_options: Any) -> Iterator[Fleet]:
    """``local_pki_files`` plus mosquitto and the endpoint (stapling through the stapling
    handler, from the responder)."""
    options: dict[str, Any] = {"handshake_timeout": 5.0, **endpoint_options}
    records = Recorder()
    with local_pki_files(folder) as files, Mosquitto() as broker:
        stapler = stapling_function(files.pki, files.responder)
        endpoint = LocalEndpoint(
            server_name=SERVER_NAME,
            certificate=files.server.certificate,
            chain=[files.pki.issuing_ca.certificate],
            private_key=files.server.key,
            broker=broker.address,
            preauth_env=files.preauth_env(),
            staple_source=stapler,
            on_connection=records,
            **options,
        )
        try:
            with endpoint:
                yield Fleet(files, broker, endpoint, records)
        finally:
            stapler.close()
