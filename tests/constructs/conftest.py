"""Fixtures shared by the bundle tests (the real bundles take a few seconds to build)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.constructs.bundle_support import (
    closed_index_url,
    synth_domain_bundles,
    unreachable_index_environment,
)


@pytest.fixture(scope="session")
def synthesized_bundles() -> dict[str, Path]:
    """``{"arm64": <asset dir>, "x86_64": <asset dir>}`` from one synth with bundling on, the
    wheels downloaded from the package index of pip's configuration (PyPI)."""
    return synth_domain_bundles()


@pytest.fixture
def unreachable_index(monkeypatch: pytest.MonkeyPatch) -> str:
    """Point pip at a loopback port where nothing listens, with no other package source; the
    URL is returned."""
    url = closed_index_url()
    for name in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(name)
    for name, value in unreachable_index_environment(url).items():
        if name.startswith("PIP_"):
            monkeypatch.setenv(name, value)
    return url
