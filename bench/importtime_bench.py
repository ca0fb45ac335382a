"""Cold import cost of the pre-auth handler: ``python -X importtime -c "import preauth_handler"``.

Each run is a fresh interpreter (``-I``: no user site, no environment) with one ``lambda_src``
tree first on ``sys.path``; the figure is ``preauth_handler``'s cumulative import time, as
``-X importtime`` reports it. With ``--against REF`` the ``lambda_src`` of that git revision is
extracted too and the two trees are run alternately with the same interpreter, so the ratio
compares like with like on a busy machine. Prints the medians and writes
``<output>/importtime.json``.

    python bench/importtime_bench.py [--runs 15] [--against 05d5fdb] [--quick]
        [--output bench/results]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$")
#: Top-level modules whose cumulative cost is reported on their own.
WATCHED = (
    "preauth_handler",
    "requests",
    "urllib3",
    "charset_normalizer",
    "idna",
    "http.client",
    "ssl",
    "cryptography.x509",
    "certifi",
)


def _extract(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", ref, "lambda_src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "lambda_src"


def _one_run(source: Path) -> dict[str, int]:
    """Cumulative microseconds of each watched module (the outermost import of each)."""
    code = f"import sys; sys.path.insert(0, {str(source)!r}); import preauth_handler"
    result = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found: dict[str, int] = {}
    for line in result.stderr.splitlines():
        match = _LINE.match(line)
        if match and match.group(4) in WATCHED and match.group(4) not in found:
            found[match.group(4)] = int(match.group(2))
    return found


def _medians(samples: list[dict[str, int]]) -> dict[str, float]:
    return {
        name: statistics.median(s.get(name, 0) for s in samples) / 1000
        for name in WATCHED
        if any(name in s for s in samples)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--against", help="a git revision whose lambda_src to compare with")
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.quick:
        args.runs = min(args.runs, 5)
    trees = {"this tree": ROOT / "lambda_src"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            trees[args.against] = _extract(args.against, Path(tmp))
        samples: dict[str, list[dict[str, int]]] = {name: [] for name in trees}
        _one_run(trees["this tree"])  # warm the OS page cache
        for _ in range(args.runs):
            for name, source in trees.items():
                samples[name].append(_one_run(source))
    print(f"python {sys.version.split()[0]}, {args.runs} runs per tree, medians in ms")
    print(f"{'module (cumulative)':24}" + "".join(f"{name:>14}" for name in trees))
    medians = {name: _medians(s) for name, s in samples.items()}
    for module in WATCHED:
        if any(module in m for m in medians.values()):
            cells = "".join(
                f"{medians[name][module]:>14.1f}" if module in medians[name] else f"{'-':>14}"
                for name in trees
            )
            print(f"{module:24}{cells}")
    if args.against:
        mine = medians["this tree"]["preauth_handler"]
        theirs = medians[args.against]["preauth_handler"]
        print(f"preauth_handler: {mine:.1f} ms vs {theirs:.1f} ms ({mine / theirs:.2f}x)")
    args.output.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "cold import of preauth_handler from the source tree (-X importtime)",
        "python": sys.version.split()[0],
        "runs": args.runs,
        "median_cumulative_ms": {
            tree: {module: round(ms, 1) for module, ms in per_tree.items()}
            for tree, per_tree in medians.items()
        },
    }
    (args.output / "importtime.json").write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
