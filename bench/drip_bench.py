"""Decision latency of a healthy CA's devices while hostile responders drip (issue 10's attack).

One warm pre-auth handler trusts two CAs: ``other_ca``, whose responder (a raw TCP peer on
127.0.0.1) drips its status line one byte every 50 ms and never finishes, and ``issuing_ca``,
whose own loopback responder answers at once (good for one device, revoked for another). Eight
threads keep eight hostile invocations in flight, each one lasting until its deadline; meanwhile
the healthy devices are decided one after the other. The same is measured without the attack,
in the same run, so the two can be compared as a ratio. The cache is off: every decision asks
its responder. Prints p50/p99 and writes ``<output>/drip.json``.

    python bench/drip_bench.py [--decisions 300] [--hostile 8] [--pause 0.02]
        [--quick] [--output bench/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import io
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "lambda_src"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

pki_mod: Any = importlib.import_module("tests.lambdas.support.pki")
forge: Any = importlib.import_module("tests.lambdas.support.forge")
loopback: Any = importlib.import_module("tests.lambdas.support.loopback")
hostile: Any = importlib.import_module("tests.lambdas.support.hostile")
harness: Any = importlib.import_module("tests.lambdas.support.harness")
preauth: Any = importlib.import_module("preauth_handler")


def _summary(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": round(cuts[49], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(max(samples), 3),
    }


class _PerThreadStdout(io.TextIOBase):
    """``sys.stdout`` for the run: each thread writes to a buffer of its own (the handler writes
    its decision line there), so concurrent invocations never mix their lines."""

    def __init__(self) -> None:
        self._local = threading.local()

    def buffer_of_thread(self) -> io.StringIO:
        if not hasattr(self._local, "buffer"):
            self._local.buffer = io.StringIO()
        buffer: io.StringIO = self._local.buffer
        return buffer

    def write(self, text: str) -> int:
        return self.buffer_of_thread().write(text)


STDOUT = _PerThreadStdout()


def _decide(event: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """(wall ms, decision log line) of one in-process invocation in this thread."""
    buffer = STDOUT.buffer_of_thread()
    buffer.seek(0)
    buffer.truncate()
    started = time.perf_counter()
    preauth.handler(event, None)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, json.loads(buffer.getvalue().strip().splitlines()[-1])


def _healthy_round(
    devices: list[tuple[Any, str]], count: int, *, pause: float = 0.0, peer: Any = None
) -> tuple[list[float], list[int]]:
    """Decide ``count`` healthy devices ``pause`` seconds apart; their latencies, and how many
    hostile connections were open at each (when ``peer`` is given)."""
    samples, open_during = [], []
    for n in range(count):
        if peer is not None:
            open_during.append(sum(1 for c in peer.connections if c.closed_at is None))
        device, expected = devices[n % len(devices)]
        elapsed, line = _decide(harness.make_event(device, connection_id=f"healthy-{n}"))
        if line["reason"] != expected:
            msg = f"healthy device decided {line['reason']}, expected {expected}: {line}"
            raise SystemExit(msg)
        samples.append(elapsed)
        time.sleep(pause)
    return samples, open_during


def _attack(pki: Any, peer: Any, count: int, stop: threading.Event) -> tuple[list, list]:
    """Start ``count`` threads that keep one hostile invocation each in flight until ``stop``;
    returns the threads and the list their decision lines go to."""
    lines: list[dict[str, Any]] = []

    def attack(worker: int) -> None:
        n = 0
        while not stop.is_set():
            device = pki.issue_device(issuer=pki.other_ca, ocsp_url=peer.url)
            event = harness.make_event(device, connection_id=f"hostile-{worker}-{n}")
            lines.append(_decide(event)[1])
            n += 1

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    until = time.monotonic() + 5
    while time.monotonic() < until:
        if sum(1 for c in peer.connections if c.closed_at is None) >= count:
            break
        time.sleep(0.01)
    return threads, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--hostile", type=int, default=8)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between decisions")
    parser.add_argument("--quick", action="store_true", help="fewer decisions (a smoke run)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.quick:
        args.decisions = min(args.decisions, 60)

    pki = pki_mod.build_pki()
    revoked: set[int] = set()

    def answer(request: Any) -> bytes:
        status = "revoked" if request.serial in revoked else "good"
        return bytes(forge.build_answer(request, signer=pki.issuing_ca, status=status))

    stop = threading.Event()
    real_stdout, sys.stdout = sys.stdout, STDOUT
    with (
        loopback.LoopbackServer(forge.answer_with(answer)) as healthy,
        hostile.HostilePeer(hostile.drip_status_line()) as peer,
    ):
        good = pki.issue_device(ocsp_url=healthy.url)
        bad = pki.issue_device(ocsp_url=healthy.url)
        revoked.add(bad.serial)
        os.environ.update(
            harness.settings_env(
                trusted=[pki.issuing_ca, pki.other_ca],
                allowed=[healthy.url, peer.url],
                extra={"OCSP_CACHE_MAX_SECONDS": 0, "OCSP_FAIL_MODE": "open"},
            )
        )
        preauth.reset()
        devices = [(good, "GOOD"), (bad, "REVOKED")]
        _healthy_round(devices, 20)  # warm: settings, cache, client, keep-alive connection
        # paced over several seconds, so that hostile invocations end and start meanwhile
        quiet, _ = _healthy_round(devices, args.decisions, pause=args.pause)
        threads, hostile_lines = _attack(pki, peer, args.hostile, stop)
        attacked, open_during = _healthy_round(devices, args.decisions, pause=args.pause, peer=peer)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        preauth.reset()
    sys.stdout = real_stdout

    hostile_ms = [float(line["latencyMs"]) for line in hostile_lines]
    results: dict[str, Any] = {
        "benchmark": "healthy CA's decisions while hostile responders drip their status line",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "settings": {
            "OCSP_DEADLINE_SECONDS": 3,
            "OCSP_TIMEOUT_SECONDS": 2,
            "OCSP_FAIL_MODE": "open",
            "hostile_in_flight": args.hostile,
            "pause_between_healthy_decisions_s": args.pause,
        },
        "results": {
            "healthy, no attack": _summary(quiet),
            f"healthy, {args.hostile} dripping connections open": _summary(attacked),
            "hostile decisions (each ends at its deadline)": _summary(hostile_ms),
        },
        "dripping_connections_open_per_healthy_decision": {
            "min": min(open_during),
            "median": statistics.median(open_during),
        },
        "hostile_reasons": sorted({line["reason"] for line in hostile_lines}),
    }
    ratio = (
        results["results"][f"healthy, {args.hostile} dripping connections open"]["p50_ms"]
        / (results["results"]["healthy, no attack"]["p50_ms"])
    )
    results["p50_ratio_attacked_to_quiet"] = round(ratio, 2)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "drip.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'case':52} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, row in results["results"].items():
        print(f"{name:52} {row['n']:>5} {row['p50_ms']:>9} {row['p99_ms']:>9} {row['max_ms']:>9}")
    print(
        f"dripping connections open during the healthy decisions: "
        f"min {min(open_during)}, median {statistics.median(open_during)}; "
        f"hostile reasons {results['hostile_reasons']}; p50 ratio {ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
