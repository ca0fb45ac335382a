"""The benchmark suite's shape (the figures themselves come from ``make bench``, never from a
test): every ``bench/*_bench.py`` takes ``--output`` and ``--quick`` as ``run_all.py`` calls it,
and the report renders the committed reference run, whose figures the docs quote."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
REFERENCE = BENCH / "reference"
SCRIPTS = sorted(BENCH.glob("*_bench.py"))


def test_there_are_benchmarks() -> None:
    names = {script.name for script in SCRIPTS}
    assert {"preauth_bench.py", "stapling_bench.py", "drip_bench.py"} <= names, names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_benchmark_takes_the_options_run_all_passes(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--output" in done.stdout and "--quick" in done.stdout, done.stdout


def test_the_reference_run_renders_and_its_targets_are_reported() -> None:
    results = json.loads((REFERENCE / "preauth.json").read_text())
    text = report.markdown(results) + report.other_sections(REFERENCE)
    rows = [line for line in text.splitlines() if line.endswith(("| met |", "| NOT met |"))]
    assert len(rows) == len(report.targets(results)) == 7
    # the committed results.md is what report.py renders from the committed JSON
    assert (REFERENCE / "results.md").read_text() == text
    assert (REFERENCE / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_performance_doc_quotes_the_reference_run() -> None:
    """docs/performance.md copies the reference table: each project row says what the JSON says."""
    results = json.loads((REFERENCE / "preauth.json").read_text())
    doc = (ROOT / "docs" / "performance.md").read_text()
    for case in results["cases"]:
        if case["group"] == "project":
            name = case["case"].replace("openssl ocsp", "`openssl ocsp`")
            row = re.search(rf"^\| (\*\*)?{re.escape(name)}(\*\*)? \| (\*\*)?([\d,.]+)", doc, re.M)
            assert row is not None, name
            assert float(row.group(4).replace(",", "")) == round(case["p50_us"], 1), name
