"""Fixtures of the CLI tests: one local fleet per module for ``probe``; ``check`` needs only
the PKI and its responder (``files``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.local.support import Fleet, LocalPkiFiles, local_fleet, local_pki_files


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with local_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPkiFiles]:
    with local_pki_files(tmp_path_factory.mktemp("pki")) as made:
        yield made
