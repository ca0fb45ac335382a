"""Fixtures of the CLI tests: one local fleet per module for ``probe``; ``check`` needs only
the PKI and its responder (``files``); ``enroll`` and ``revoke`` talk to the AWS API emulator
(``aws``: moto's server on loopback, see ``aws_support``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.aws_support import MotoServer, apply_sdk_environment
from tests.local.support import Fleet, LocalPkiFiles, local_fleet, local_pki_files


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with local_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPkiFiles]:
    with local_pki_files(tmp_path_factory.mktemp("pki")) as made:
        yield made


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """The SDK pointed at the emulator (dummy credentials, nothing read from this machine);
    every resource is forgotten after the test."""
    apply_sdk_environment(monkeypatch, moto_server.url)
    try:
        yield moto_server
    finally:
        moto_server.reset()
