"""Starting and stopping the endpoint, and what it refuses to start with."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from ocsp_iot.local.endpoint import EndpointError, LocalEndpoint
from ocsp_iot.local.pki import LocalPki
from tests.local.support import CLIENT_TIMEOUT, SERVER_NAME, local_fleet


def test_stop_ends_live_sessions_and_restores_the_environment(tmp_path: Path) -> None:
    os.environ["OCSP_FAIL_MODE"] = "open"  # a value of the test process, not the endpoint's
    try:
        with local_fleet(tmp_path) as fleet:
            assert "OCSP_FAIL_MODE" not in os.environ  # replaced by the endpoint's environment
            assert os.environ["OCSP_ALLOWED_URLS"] == fleet.responder.url
            address = fleet.endpoint.address
            sub = fleet.subscribe("good", topic="t/stop", client_id="sub-until-stop")
            deadline_hit = _wait(lambda: "sub-until-stop" in fleet.broker.connected_clients())
            assert deadline_hit, fleet.broker.log_text()
            fleet.endpoint.stop()
            sub.communicate(timeout=CLIENT_TIMEOUT)
            assert sub.returncode != 0  # its connection ended without a message
            with pytest.raises(OSError):
                socket.create_connection(address, timeout=5)
        assert os.environ["OCSP_FAIL_MODE"] == "open"
        assert "OCSP_ALLOWED_URLS" not in os.environ
    finally:
        os.environ.pop("OCSP_FAIL_MODE", None)


def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki.create(name="Lifecycle")


def _endpoint(pki: LocalPki, **overrides: object) -> LocalEndpoint:
    server = pki.issue_server(SERVER_NAME)
    options: dict[str, object] = {
        "server_name": SERVER_NAME,
        "certificate": server.certificate,
        "chain": [pki.issuing_ca.certificate],
        "private_key": server.key,
        "broker": ("127.0.0.1", 1883),
        "preauth_env": {
            "TRUSTED_CA_PEM": pki.issuing_ca.pem.decode(),
            "OCSP_ALLOWED_URLS": "http://127.0.0.1:1/",
        },
        **overrides,
    }
    return LocalEndpoint(**options)  # type: ignore[arg-type]


def test_fails_when_the_handler_environment_is_invalid(pki: LocalPki) -> None:
    with pytest.raises(EndpointError, match=r"OCSP_ALLOWED_URLS must list.*OCSP_FAIL_MODE must"):
        _endpoint(
            pki,
            preauth_env={"TRUSTED_CA_PEM": pki.issuing_ca.pem.decode(), "OCSP_FAIL_MODE": "maybe"},
        )


def test_fails_when_the_environment_names_something_else(pki: LocalPki) -> None:
    with pytest.raises(EndpointError, match="not a pre-auth handler setting: HOME"):
        _endpoint(pki, preauth_env={"HOME": "/"})


def test_fails_when_asked_to_listen_beyond_loopback(pki: LocalPki) -> None:
    with pytest.raises(EndpointError, match="loopback"):
        _endpoint(pki, host="0.0.0.0")
    with pytest.raises(EndpointError, match="loopback"):
        _endpoint(pki, broker=("192.0.2.1", 1883))


def test_fails_when_the_key_is_not_the_certificates(pki: LocalPki) -> None:
    with pytest.raises(EndpointError, match="does not match"):
        _endpoint(pki, private_key=pki.root.key)


def test_fails_to_staple_without_the_issuer_in_the_chain(pki: LocalPki) -> None:
    with pytest.raises(EndpointError, match="issuer as the first chain entry"):
        _endpoint(pki, chain=[pki.root.certificate], staple_source=lambda _r: "")


def test_only_one_endpoint_owns_the_handler_at_a_time(pki: LocalPki) -> None:
    with _endpoint(pki), pytest.raises(RuntimeError, match="another user of the pre-auth handler"):
        _endpoint(pki).start()
