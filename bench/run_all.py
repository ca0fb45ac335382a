"""``make bench``: run every ``bench/*_bench.py`` with ``--output bench/results``, then render
``bench/results/results.md`` and ``bench/results/chart.png`` (``report.py``). Exit non-zero if a
benchmark fails. A run's output is not tracked; ``bench/reference/`` holds the committed
reference results, replaced deliberately (``python bench/run_all.py --reference``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REFERENCE = HERE / "reference"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument(
        "--reference", action="store_true", help="also copy the results to bench/reference/"
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    for stale in RESULTS.iterdir():
        if stale.is_file():
            stale.unlink()
    failed: list[str] = []
    started = time.monotonic()
    scripts = sorted(HERE.glob("*_bench.py"))
    for script in scripts:
        print(f"== {script.name}", flush=True)
        command = [sys.executable, str(script), "--output", str(RESULTS)]
        if args.quick:
            command.append("--quick")
        if subprocess.run(command, cwd=HERE.parent, check=False).returncode != 0:
            failed.append(script.name)
    if not failed:
        done = subprocess.run([sys.executable, str(HERE / "report.py"), str(RESULTS)], check=False)
        if done.returncode != 0:
            failed.append("report.py")
    elapsed = time.monotonic() - started
    print(f"\nbench: {elapsed:.0f} s, results in {RESULTS.relative_to(HERE.parent)}/")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    if args.reference:
        REFERENCE.mkdir(exist_ok=True)
        for result in sorted(RESULTS.iterdir()):
            if result.suffix in {".md", ".png", ".json"}:
                shutil.copy2(result, REFERENCE / result.name)
        print(f"copied to {REFERENCE.relative_to(HERE.parent)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
