"""Helpers shared by the construct tests: app factory, cfn-lint, template access."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
ASSET_HASH = re.compile(r"[0-9a-f]{64}")
#: Regions the templates are linted for (the library targets commercial partitions).
LINT_REGIONS = ["us-east-1", "eu-west-1"]


def cdk_json_context() -> dict[str, Any]:
    """The feature flags of ``cdk.json`` (a bare ``App()`` in a test would ignore them)."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def new_app(*, bundle: bool = False, **context: Any) -> cdk.App:
    """An App with cdk.json's context; asset bundling is skipped unless ``bundle`` is true."""
    ctx: dict[str, Any] = {**cdk_json_context(), **context}
    if not bundle:
        ctx["aws:cdk:bundling-stacks"] = []
    return cdk.App(context=ctx)


def cfn_lint_errors(template: Mapping[str, Any]) -> list[str]:
    """cfn-lint's errors (not warnings or informational findings) for a synthesized template."""
    matches = lint(
        json.dumps(template),
        regions=LINT_REGIONS,
        config=ManualArgs(regions=LINT_REGIONS),
    )
    return [
        f"{m.rule.id} {m.message} ({'/'.join(str(p) for p in m.path)})"
        for m in matches
        if m.rule.severity == "error"
    ]


def logical_id_of(stack: cdk.Stack, construct: object) -> str:
    """The logical id of ``construct``, which must be a CloudFormation element (e.g. a
    construct's ``node.default_child``)."""
    assert isinstance(construct, cdk.CfnElement), construct
    return stack.get_logical_id(construct)
