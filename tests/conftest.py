"""Test configuration shared by every test module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

# Before anything imports aws_cdk: app.py points jsii at the project's Node LTS (JSII_NODE).
import app  # noqa: F401
from tests.support import ASSET_HASH

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """A JSON snapshot; compare ``mask_hashes(template)`` so asset hashes never churn it."""
    return snapshot.with_defaults(extension_class=JSONSnapshotExtension)


@pytest.fixture
def mask_hashes() -> Callable[[Any], Any]:
    """Recursively replace 64-hex asset hashes anywhere in a template."""

    def mask(node: Any) -> Any:
        if isinstance(node, dict):
            return {ASSET_HASH.sub("<asset-hash>", k): mask(v) for k, v in node.items()}
        if isinstance(node, list):
            return [mask(v) for v in node]
        if isinstance(node, str):
            return ASSET_HASH.sub("<asset-hash>", node)
        return node

    return mask
