"""Test configuration shared by every test module."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

# jsii must run on the project's Node LTS; set before anything imports aws_cdk.
_LOCAL_NODE = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "node"
if _LOCAL_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_LOCAL_NODE))

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from syrupy.assertion import SnapshotAssertion  # noqa: E402
from syrupy.extensions.json import JSONSnapshotExtension  # noqa: E402

from tests.support import ASSET_HASH  # noqa: E402

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
