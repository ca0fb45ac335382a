"""The docs say what the code does: the architecture picture names only what exists, the README's
cdk-nag, JSII_NODE and skip-bundling advice works as written, acknowledgement ids have one
spelling and that spelling acknowledges, and the license and changelog are in place."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

import ocsp_iot_constructs
from ocsp_iot_constructs import CaHierarchy, OcspFailMode, OcspPrivateCa, UsageMode
from tests.constructs.bundle_support import closed_index_url, unreachable_index_environment
from tests.constructs.domain_support import make_domain, new_stack
from tests.support import ROOT, cdk_json_context, new_app

README = (ROOT / "README.md").read_text()
DOCS = {
    p.relative_to(ROOT).as_posix(): p.read_text()
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}

# --------------------------------------------------------------------------------------------
# The architecture picture (README.md, a Mermaid flowchart)
# --------------------------------------------------------------------------------------------

ARCHITECTURE_MARKER = "<!-- architecture: tests/test_docs.py checks the names in backticks -->"
_NODE = r'(?P<id>[A-Za-z][\w]*)\["(?P<label>[^"]*)"\]'
_STATEMENTS = {
    "node": re.compile(rf"^{_NODE}$"),
    "subgraph": re.compile(rf"^subgraph {_NODE}$"),
    "end": re.compile(r"^end$"),
    "edge": re.compile(
        r'^(?P<start>[A-Za-z]\w*) (?P<arrow>-->|-\.->)\|"(?P<label>[^"]*)"\| (?P<end>[A-Za-z]\w*)$'
    ),
}
_CODE_NAME = re.compile(r"`([^`]+)`")


@dataclass
class Flowchart:
    """The subset of Mermaid's flowchart syntax the README uses."""

    direction: str
    labels: dict[str, str] = field(default_factory=dict)  # node or subgraph id -> label
    parents: dict[str, str | None] = field(default_factory=dict)  # node id -> subgraph id
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # start, arrow, end, label

    @property
    def names(self) -> list[str]:
        texts = [*self.labels.values(), *(label for *_, label in self.edges)]
        return sorted({name for text in texts for name in _CODE_NAME.findall(text)})

    def has_edge(self, start: str, end: str) -> bool:
        return any(s == start and e == end for s, _, e, _ in self.edges)


def parse_flowchart(text: str) -> Flowchart:
    """Parse ``text``; a line outside the subset, an unbalanced ``end``, a node declared twice or
    an edge to an undeclared node raises ``ValueError``."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("%%")]
    header = re.fullmatch(r"flowchart (LR|RL|TB|TD|BT)", lines[0]) if lines else None
    if header is None:
        msg = f"the picture must start with 'flowchart <direction>', got {lines[:1]}"
        raise ValueError(msg)
    chart = Flowchart(direction=header.group(1))
    open_subgraphs: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        kind, match = next(
            ((k, m) for k, pattern in _STATEMENTS.items() if (m := pattern.match(line))),
            (None, None),
        )
        if kind is None or match is None:
            msg = f"line {number} is outside the Mermaid subset this test reads: {line!r}"
            raise ValueError(msg)
        if kind in ("node", "subgraph"):
            if match["id"] in chart.labels:
                msg = f"line {number}: {match['id']!r} is declared twice"
                raise ValueError(msg)
            chart.labels[match["id"]] = match["label"]
            chart.parents[match["id"]] = open_subgraphs[-1] if open_subgraphs else None
            if kind == "subgraph":
                open_subgraphs.append(match["id"])
        elif kind == "end":
            if not open_subgraphs:
                msg = f"line {number}: 'end' without a subgraph"
                raise ValueError(msg)
            open_subgraphs.pop()
        else:
            for endpoint in (match["start"], match["end"]):
                if endpoint not in chart.labels:
                    msg = f"line {number}: edge to undeclared node {endpoint!r}"
                    raise ValueError(msg)
            chart.edges.append((match["start"], match["arrow"], match["end"], match["label"]))
    if open_subgraphs:
        msg = f"subgraph(s) without 'end': {open_subgraphs}"
        raise ValueError(msg)
    return chart


def _defined_names(root: Path) -> tuple[set[str], set[str]]:
    """Classes and module-level functions (``module.function``) defined under ``root``."""
    classes: set[str] = set()
    functions: set[str] = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                classes.add(node.name)
            elif isinstance(node, ast.FunctionDef):
                functions.add(f"{module}.{node.name}")
    return classes, functions


def missing_names(names: list[str]) -> list[str]:
    """The names of the picture that are not in the code, each with why. The convention: a path
    (with ``/`` or ending in ``.py``) is a file of the repository; a CapitalizedName is a class of
    ``ocsp_iot_constructs`` or ``lambda_src``; ``module.function`` is a function of a
    ``lambda_src`` module (e.g. ``preauth_handler.handler``)."""
    construct_classes, _ = _defined_names(ROOT / "ocsp_iot_constructs")
    lambda_classes, lambda_functions = _defined_names(ROOT / "lambda_src")
    missing: list[str] = []
    for name in names:
        if "/" in name or name.endswith(".py"):
            if not (ROOT / name).is_file():
                missing.append(f"{name}: no such file")
        elif re.fullmatch(r"[A-Z][A-Za-z0-9]+", name):
            if name not in construct_classes | lambda_classes:
                missing.append(f"{name}: no such class")
        elif re.fullmatch(r"[a-z_]\w*(\.\w+)+", name):
            if name not in lambda_functions:
                missing.append(f"{name}: no such function in lambda_src")
        else:
            missing.append(f"{name}: not a file, class or module.function name")
    return missing


def _architecture() -> str:
    pattern = re.escape(ARCHITECTURE_MARKER) + r"\s*```mermaid\n(.*?)```"
    (block,) = re.findall(pattern, README, flags=re.DOTALL)
    return str(block)


def test_architecture_picture_parses_and_draws_the_three_paths() -> None:
    chart = parse_flowchart(_architecture())
    # the Private CA hierarchy: root -> issuing CA -> device and server certificates
    assert chart.has_edge("root", "issuing")
    assert chart.has_edge("issuing", "devcert")
    assert chart.has_edge("issuing", "servercert")
    assert chart.parents["root"] == chart.parents["issuing"] == chart.parents["responder"] == "pki"
    # the pre-auth path: device -> IoT Core custom domain -> pre-auth Lambda -> OCSP responder
    assert chart.has_edge("device", "domain")
    assert chart.parents["domain"] == "iot"
    assert chart.has_edge("domain", "preauth")
    assert chart.has_edge("preauth", "responder")
    assert chart.has_edge("preauth", "domain")
    # the stapling path: IoT Core -> stapling Lambda or the CA's responder -> staple to the device
    assert chart.has_edge("domain", "stapler")
    assert chart.has_edge("stapler", "responder")
    assert chart.has_edge("domain", "responder")
    assert chart.has_edge("domain", "device")


def test_every_name_in_the_architecture_picture_exists_in_the_code() -> None:
    names = parse_flowchart(_architecture()).names
    assert names, "the picture names no construct, class, handler or file in backticks"
    assert missing_names(names) == []


def test_the_picture_check_finds_names_that_do_not_exist() -> None:
    chart = parse_flowchart(
        'flowchart LR\n  a["`NoSuchConstruct` and `lambda_src/no_handler.py`"]\n'
        '  b["`preauth_handler.no_function`"]\n  a -->|"`no-name at all`"| b\n'
    )
    assert missing_names(chart.names) == [
        "NoSuchConstruct: no such class",
        "lambda_src/no_handler.py: no such file",
        "no-name at all: not a file, class or module.function name",
        "preauth_handler.no_function: no such function in lambda_src",
    ]
    assert missing_names(["preauth_handler.handler", "TrustedCa", "app.py"]) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('graph LR\n  a["x"]', "must start with 'flowchart"),
        ('flowchart LR\n  a["x"] --> b', "outside the Mermaid subset"),
        ('flowchart LR\n  a["x"]\n  a -->|"y"| b', "edge to undeclared node 'b'"),
        ('flowchart LR\n  subgraph s["S"]\n  a["x"]', "without 'end'"),
        ('flowchart LR\n  a["x"]\n  a["y"]', "declared twice"),
    ],
)
def test_fails_when_the_picture_leaves_the_subset(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_flowchart(text)


# --------------------------------------------------------------------------------------------
# README advice, run as written
# --------------------------------------------------------------------------------------------


def _readme_block(name: str) -> str:
    pattern = re.escape(f"<!-- readme-test: {name} -->") + r"\s*```python\n(.*?)```"
    (block,) = re.findall(pattern, README, flags=re.DOTALL)
    return str(block)


def _run_block(
    block: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,
        env={
            **(env if env is not None else os.environ),
            "CDK_OUTDIR": str(tmp_path / "cdk.out"),
            "CDK_CONTEXT_JSON": json.dumps(cdk_json_context()),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_readme_registers_cdk_nag_3_as_a_validation_plugin(tmp_path: Path) -> None:
    block = _readme_block("nag")
    # as written: the library's constructs pass both packs
    result = _run_block(block, tmp_path / "clean")
    assert result.returncode == 0, result.stderr[-3000:]
    # with a finding nobody acknowledged (an SNS topic that allows plain HTTP), synth fails:
    # the packs really run
    assert block.endswith("app.synth()\n")
    finding = (
        'cdk.aws_sns.Topic(cdk.Stack(app, "Plain"), "Topic", enforce_ssl=False)\napp.synth()\n'
    )
    result = _run_block(block.removesuffix("app.synth()\n") + finding, tmp_path / "finding")
    assert result.returncode != 0
    assert "AwsSolutions-SNS3" in result.stderr, result.stderr[-3000:]


def test_cdk_nag_as_an_aspect_dies_with_the_type_error_the_readme_quotes() -> None:
    app = new_app()
    sns.Topic(cdk.Stack(app, "S"), "T")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())  # type: ignore[arg-type]  # accepted ...
    with pytest.raises(RuntimeError) as failure:
        app.synth()  # ... and fatal here
    assert str(failure.value) == "TypeError: aspectApplication.aspect.visit is not a function"
    assert f"`RuntimeError: {failure.value}`" in README


def test_jsii_runs_on_the_node_that_jsii_node_names(tmp_path: Path) -> None:
    # GIVEN a "node" that records that it ran, then runs the project's Node LTS
    real_node = ROOT / "node_modules" / ".bin" / "node"
    assert real_node.exists(), "make setup installs the Node LTS into node_modules/"
    marker = tmp_path / "ran"
    wrapper = tmp_path / "node"
    wrapper.write_text(f'#!/bin/sh\necho "$@" > "{marker}"\nexec "{real_node}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    # WHEN a CDK app runs with JSII_NODE pointing at it
    result = subprocess.run(
        [sys.executable, "-c", "import aws_cdk as cdk; cdk.App().synth(); print('synth ok')"],
        cwd=tmp_path,
        env={**os.environ, "JSII_NODE": str(wrapper), "CDK_OUTDIR": str(tmp_path / "out")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # THEN jsii ran on it, and no end-of-life banner appeared
    assert result.returncode == 0, result.stderr[-3000:]
    assert "synth ok" in result.stdout
    assert "jsii-runtime" in marker.read_text()
    assert "end-of-life" not in result.stderr
    assert "export JSII_NODE=" in README


def test_readme_unit_test_skips_bundling_without_any_package_index(tmp_path: Path) -> None:
    # GIVEN no reachable package index and no wheelhouse: bundling would fail
    env = unreachable_index_environment(closed_index_url())
    env.pop("OCSP_IOT_WHEELHOUSE", None)
    env.pop("OCSP_IOT_LAMBDA_BUNDLE", None)
    result = _run_block(_readme_block("skip-bundling"), tmp_path, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pip installs" not in result.stderr
    assert "could not bundle" not in result.stderr


# --------------------------------------------------------------------------------------------
# Acknowledgement ids: one spelling, and it acknowledges
# --------------------------------------------------------------------------------------------

_WARNING_ID = re.compile(r"(\S*?)ocsp-iot:([A-Za-z]+)")


def test_docs_spell_every_warning_id_the_one_way_that_acknowledges() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "ocsp_iot_constructs").glob("*.py"))
    found: set[str] = set()
    for path, text in DOCS.items():
        for match in _WARNING_ID.finditer(text):
            assert match.group(1).endswith("Annotation::"), (path, match.group(0))
            found.add(match.group(2))
    assert {"failOpen", "shortLivedUsageMode"} <= found
    for warning_id in found:  # each documented warning exists in the code
        assert f'"{warning_id}"' in sources, warning_id


def _short_lived_ca(stack: cdk.Stack) -> Construct:
    return OcspPrivateCa(
        stack, "Ca", hierarchy=CaHierarchy.ROOT_ONLY, usage_mode=UsageMode.SHORT_LIVED_CERTIFICATE
    )


WARNINGS: dict[str, Any] = {
    "failOpen": lambda stack: make_domain(stack, fail_mode=OcspFailMode.OPEN),
    "preAuthTimeout": lambda stack: make_domain(stack, timeout=cdk.Duration.seconds(5)),
    "shortLivedUsageMode": _short_lived_ca,
}


def _warnings(stack: cdk.Stack) -> list[str]:
    assembly = stack.node.root.synth()  # type: ignore[attr-defined]
    return [
        str(m.entry.data)
        for artifact in assembly.stacks
        for m in artifact.messages
        if m.level == cdk.cx_api.SynthesisMessageLevel.WARNING
    ]


@pytest.mark.parametrize("warning_id", sorted(WARNINGS))
@pytest.mark.parametrize("on", ["construct", "stack"])
def test_the_documented_id_acknowledges_the_warning(warning_id: str, on: str) -> None:
    documented = f"Annotation::ocsp-iot:{warning_id}"
    assert f"`{documented}`" in "\n".join(DOCS.values())
    # the warning says that id ...
    stack = new_stack()
    WARNINGS[warning_id](stack)
    (warning,) = _warnings(stack)
    assert warning.endswith(f"[ack: {documented}]"), warning
    # ... and that id acknowledges it, on the construct or a scope above it
    stack = new_stack()
    construct = WARNINGS[warning_id](stack)
    cdk.Validations.of(construct if on == "construct" else stack).acknowledge(
        cdk.Acknowledgment(id=documented, reason="accepted for this test fleet")
    )
    assert _warnings(stack) == []


# --------------------------------------------------------------------------------------------
# License and changelog
# --------------------------------------------------------------------------------------------

#: SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_license_is_the_full_apache_2_0_text() -> None:
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"


def test_changelog_keeps_a_changelog_and_lists_every_public_construct() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n")
    assert "[Keep a Changelog](https://keepachangelog.com/" in changelog
    unreleased = changelog.split("## [Unreleased]", 1)[1].split("\n## ", 1)[0]
    sections = re.findall(r"^### (\w+)$", unreleased, flags=re.M)
    assert sections[:2] == ["Added", "Changed"], sections
    assert set(sections) <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    assert "**Breaking**" in unreleased
    constructs = [
        name
        for name in ocsp_iot_constructs.__all__
        if isinstance(getattr(ocsp_iot_constructs, name), type)
        and issubclass(getattr(ocsp_iot_constructs, name), Construct)
    ]
    assert {"OcspPrivateCa", "OcspValidatingDomain"} <= set(constructs)
    for name in constructs:
        assert f"`{name}`" in unreleased, f"CHANGELOG.md: add {name} to the Unreleased section"
