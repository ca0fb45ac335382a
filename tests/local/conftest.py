"""Fixtures of the local-endpoint tests: one local fleet per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.local.support import Fleet, local_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with local_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running
