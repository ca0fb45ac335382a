"""The README's usage example runs as written, and its synthesized template lints clean."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, cdk_json_context, cfn_lint_errors

MARKER = "<!-- readme-example: a test runs this block (tests/test_readme.py) -->"


def _marked_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    pattern = re.escape(MARKER) + r"\s*```python\n(.*?)```"
    return re.findall(pattern, text, flags=re.DOTALL)


def test_readme_example_synthesizes_and_lints_clean(tmp_path: Path) -> None:
    # GIVEN the README's marked example, run as a user would run it (a fresh interpreter), with
    # cdk.json's feature flags and Lambda bundling skipped (the bundle has its own tests)
    (block,) = _marked_blocks()
    outdir = tmp_path / "cdk.out"
    env = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), "aws:cdk:bundling-stacks": []}),
    }

    # WHEN it runs
    result = subprocess.run(
        [sys.executable, "-c", block],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    # THEN it synthesizes the CA and the OCSP-checked domain, and cfn-lint finds no error
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((outdir / "Fleet.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::ACMPCA::CertificateAuthority",
        "AWS::ACMPCA::CertificateAuthorityActivation",
        "AWS::IoT::DomainConfiguration",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
    } <= types
    assert cfn_lint_errors(template) == []
