"""Render a benchmark run (``preauth.json``, and ``stapling.json``, ``drip.json``,
``endpoint.json``, ``importtime.json`` when present) as Markdown and a PNG chart, and check the
performance targets of the pre-auth check against it.

    python bench/report.py bench/results   # writes results.md and chart.png next to the JSON
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Targets (issue "Speed at the floor"): name, the ratio key or storm/cold computation, limit.


@dataclass(frozen=True)
class Target:
    label: str
    measured: float
    limit: float
    unit: str
    at_most: bool = True

    @property
    def met(self) -> bool:
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit

    def row(self) -> str:
        relation = "<=" if self.at_most else ">="
        verdict = "met" if self.met else "NOT met"
        return (
            f"| {self.label} | {self.measured:g} {self.unit} | {relation} {self.limit:g} "
            f"{self.unit} | {verdict} |"
        )


def _case(results: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in results["cases"] if c["case"] == name)
    return found


def targets(results: dict[str, Any]) -> list[Target]:
    ratios = results["ratios"]
    storm = results["storm"]
    bare = _case(results, "bare interpreter (python -I -S -B, one line written)")["p50_us"]
    cold = _case(results, "cold start: import + first decision, from the bundle")["p50_us"]
    return [
        Target("cache hit p50 / one DER certificate parse", ratios["hit / DER parse"], 20, "x"),
        Target(
            "naive check p50 / cache hit p50",
            ratios["naive check / hit"],
            40,
            "x",
            at_most=False,
        ),
        Target(
            "cache miss p50 - requests keep-alive round trip p50",
            ratios["miss - requests round trip (us)"],
            500,
            "us",
        ),
        Target(
            "pyhanko, fresh context / cache miss (p50)",
            ratios["pyhanko fresh / miss"],
            5,
            "x",
            at_most=False,
        ),
        Target(
            "pyhanko, reused context / cache miss (p50)",
            ratios["pyhanko reused / miss"],
            3,
            "x",
            at_most=False,
        ),
        Target(
            f"storm: responder requests for {storm['devices']} devices",
            storm["this project"]["responder_requests"],
            storm["devices"],
            "requests",
        ),
        Target(
            "cold start from the bundle - bare interpreter (p50)",
            round((cold - bare) / 1000, 1),
            150,
            "ms",
        ),
    ]


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# Pre-auth check: benchmark results",
        "",
        f"Measured {results['measured_at']} on Python {env['python']} ({env['machine']}, "
        f"{env['cpus']} CPUs, load average {env['load_average_1_5_15']}), cryptography "
        f"{env['cryptography']}; {results['rounds']} interleaved rounds, medians reported.",
        "",
        "| case | group | p50 (us) | p99 (us) | per second (one core) |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {c['case']} | {c['group']} | {c['p50_us']:,.1f} | {c['p99_us']:,.1f} | "
        f"{c['per_second']:,.0f} |"
        for c in results["cases"]
    ]
    lines += ["", "Ratios (each computed within a round, median over the rounds):", ""]
    lines += [f"- {name}: {value:g}" for name, value in results["ratios"].items()]
    storm = results["storm"]
    lines += [
        "",
        f"Reconnect storm: {storm['devices']} devices x {storm['connects'] // storm['devices']} "
        "connects, shuffled, one process:",
        "",
        "| checker | responder requests | wall (s) | p50 (us) | p99 (us) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in storm.items():
        if isinstance(row, dict):
            lines.append(
                f"| {name} | {row['responder_requests']:,} | {row['wall_s']:.2f} | "
                f"{row['p50_us']:,.1f} | {row['p99_us']:,.1f} |"
            )
    lines += ["", "Targets:", "", "| target | measured | limit | |", "|---|---:|---:|---|"]
    lines += [t.row() for t in targets(results)]
    extra = results.get("extra_sections", [])
    for section in extra:
        lines += ["", f"## {section['title']}", "", *section["lines"]]
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    """A horizontal bar chart of every case's p50 (log scale), grouped by colour."""
    import matplotlib  # noqa: PLC0415 - bench environment only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    cases = [c for c in results["cases"] if c["group"] != "cold"]
    colours = {"floor": "#8c8c8c", "project": "#1f77b4", "peer": "#d62728"}
    figure, axis = plt.subplots(figsize=(10, 0.45 * len(cases) + 1.5))
    names = [c["case"] for c in cases]
    values = [c["p50_us"] for c in cases]
    axis.barh(names, values, color=[colours.get(c["group"], "#444") for c in cases])
    axis.set_xscale("log")
    axis.invert_yaxis()
    axis.set_xlabel("p50 latency per operation (microseconds, log scale)")
    axis.set_title("Pre-auth OCSP check: floors (grey), this project (blue), peers (red)")
    for index, value in enumerate(values):
        axis.text(value, index, f" {value:,.1f}", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _rows(results: dict[str, Any]) -> list[str]:
    """``| case | n | p50 | p99 |`` rows of a ``{"results": {case: summary}}`` document."""
    rows = ["| case | n | p50 (ms) | p99 (ms) |", "|---|---:|---:|---:|"]
    rows += [
        f"| {name} | {row['n']} | {row['p50_ms']:g} | {row['p99_ms']:g} |"
        for name, row in results["results"].items()
    ]
    return rows


def other_sections(directory: Path) -> str:
    """The other benchmarks of the run, each as a short section (absent ones are left out)."""
    lines: list[str] = []
    stapling = directory / "stapling.json"
    if stapling.is_file():
        document = json.loads(stapling.read_text())
        lines += ["", "## Stapling handler (stapling_bench.py)", "", *_rows(document), ""]
        lines += [
            f"- staple, {name}: {size} bytes" for name, size in document["staple_bytes"].items()
        ]
    drip = directory / "drip.json"
    if drip.is_file():
        document = json.loads(drip.read_text())
        lines += ["", "## A healthy CA while responders drip (drip_bench.py)", "", *_rows(document)]
        lines += ["", f"p50 ratio attacked / quiet: {document['p50_ratio_attacked_to_quiet']}"]
    endpoint = directory / "endpoint.json"
    if endpoint.is_file():
        document = json.loads(endpoint.read_text())
        settings = document["settings"]
        lines += [
            "",
            "## The local endpoint under load (endpoint_bench.py)",
            "",
            f"{settings['devices']} devices ({settings['revoked']} revoked) connecting at once, "
            f"{settings['rounds']} rounds, then one at a time; clients: {settings['clients']}.",
            "",
            *_rows(document),
            "",
            f"- connections: {document['connections']}, accepted {document['accepted']}, "
            f"refused {document['refused']}, errors {len(document['errors'])}",
            f"- peak simultaneous handshakes per round: {document['peak_simultaneous_handshakes']}",
            f"- responder requests per round: {document['responder_requests_per_round']} "
            f"(plus {document['staple_requests']} for the staple)",
        ]
    importtime = directory / "importtime.json"
    if importtime.is_file():
        document = json.loads(importtime.read_text())
        lines += ["", "## Cold import from the source tree (importtime_bench.py)", ""]
        for tree, modules in document["median_cumulative_ms"].items():
            shown = ", ".join(f"{module} {ms:g} ms" for module, ms in modules.items())
            lines.append(f"- {tree}: {shown}")
    return "\n".join(lines) + ("\n" if lines else "")


def main(argv: list[str]) -> int:
    directory = Path(argv[1] if len(argv) > 1 else "bench/results")
    results = json.loads((directory / "preauth.json").read_text())
    (directory / "results.md").write_text(markdown(results) + other_sections(directory))
    chart(results, directory / "chart.png")
    print(markdown(results) + other_sections(directory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
