"""The reference app (app.py): synthesizes offline, lints clean, passes cdk-nag, is snapshotted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from syrupy.assertion import SnapshotAssertion

import app as reference_app
from tests.support import cfn_lint_errors, new_app


@pytest.fixture(scope="module")
def assembly() -> cdk.cx_api.CloudAssembly:
    # cdk-nag's AwsSolutions + Serverless packs are registered by build_app: an unacknowledged
    # finding makes synth() raise, so reaching the assertions is the nag gate.
    app = new_app()
    reference_app.build_app(app)
    return app.synth()


def _templates(assembly: cdk.cx_api.CloudAssembly) -> dict[str, dict[str, Any]]:
    return {
        stack.stack_name: json.loads(Path(stack.template_full_path).read_text())
        for stack in assembly.stacks
    }


def test_reference_app_synthesizes_with_placeholder_defaults(
    assembly: cdk.cx_api.CloudAssembly,
) -> None:
    templates = _templates(assembly)
    assert list(templates) == [reference_app.CONTEXT_DEFAULTS["stackName"]]


def test_every_template_passes_cfn_lint(assembly: cdk.cx_api.CloudAssembly) -> None:
    for name, template in _templates(assembly).items():
        assert cfn_lint_errors(template) == [], name


def _acknowledgements(assembly: cdk.cx_api.CloudAssembly) -> dict[str, dict[str, str]]:
    """Construct path -> {rule id: reason}, from each stack's metadata file."""
    acks: dict[str, dict[str, str]] = {}
    for path in Path(assembly.directory).glob("*.metadata.json"):
        for construct_path, entries in json.loads(path.read_text()).items():
            for entry in entries:
                if entry["type"] == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                    acks.setdefault(construct_path, {}).update(entry["data"])
    return acks


def test_nag_acknowledgements_name_the_finding_and_a_specific_reason(
    assembly: cdk.cx_api.CloudAssembly,
) -> None:
    acks = _acknowledgements(assembly)
    assert acks, "expected the reference stack to acknowledge some cdk-nag findings"
    for construct_path, rules in acks.items():
        for rule, reason in rules.items():
            # "<source>::<rule id>", e.g. "Serverless::Serverless-LambdaDLQ"
            source, _, rule_id = rule.partition("::")
            assert source and rule_id, rule
            # a specific reason, not a placeholder
            assert len(reason.split()) >= 6, (construct_path, rule, reason)


def test_context_overrides_replace_placeholders() -> None:
    app = new_app(stackName="MyFleet")
    stack = reference_app.build_app(app)
    assert stack.stack_name == "MyFleet"


def test_reference_stack_snapshot(
    assembly: cdk.cx_api.CloudAssembly, snapshot_json: SnapshotAssertion, mask_hashes: Any
) -> None:
    (template,) = _templates(assembly).values()
    assert mask_hashes(template) == snapshot_json
