#!/usr/bin/env python3
"""Reference app: the library's constructs wired together.

Every account-specific value has a placeholder default so that ``cdk synth`` works without an AWS
account; override with ``-c key=value`` for a real deployment (see README, "Deploy").
"""

from __future__ import annotations

import os
from pathlib import Path

# jsii runs on the project's pinned Node LTS when it is installed (see package.json / Makefile).
_LOCAL_NODE = Path(__file__).resolve().parent / "node_modules" / ".bin" / "node"
if _LOCAL_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_LOCAL_NODE))

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: E402
from constructs import Construct  # noqa: E402

#: Context keys the reference stack reads, with their placeholder defaults.
CONTEXT_DEFAULTS: dict[str, str] = {
    "stackName": "OcspIotReference",
}


def context_value(scope: Construct, key: str) -> str:
    """Read a context value (``-c key=value``), falling back to its placeholder default."""
    value = scope.node.try_get_context(key)
    return str(value) if value is not None else CONTEXT_DEFAULTS[key]


class OcspIotReferenceStack(cdk.Stack):
    """The library's constructs, wired together with defaults that synthesize anywhere."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]


def build_app(app: cdk.App) -> OcspIotReferenceStack:
    """Add the reference stack to ``app`` and register cdk-nag's rule packs on it."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return OcspIotReferenceStack(
        app,
        context_value(app, "stackName"),
        description="ocsp-iot-constructs reference stack (OCSP-checked AWS IoT Core fleet)",
    )


def main() -> None:
    app = cdk.App()
    build_app(app)
    app.synth()


if __name__ == "__main__":
    main()
