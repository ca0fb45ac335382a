"""In-process latency of the pre-auth handler: cache hits and cache misses.

Misses go over real HTTP to OpenSSL's OCSP responder on 127.0.0.1 (``tests/lambdas/support/``;
each request spawns ``openssl ocsp -reqin``, which is most of a miss's cost and is reported
separately as the handler-logged ``ResponderLatency``). Prints a table and writes
``bench/results.json``.

    python bench/bench_preauth.py [--hits 2000] [--misses 200] [--output bench/results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "lambda_src"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

# Imported after the path set-up above.
pki_mod: Any = importlib.import_module("tests.lambdas.support.pki")
responders: Any = importlib.import_module("tests.lambdas.support.openssl")
harness: Any = importlib.import_module("tests.lambdas.support.harness")
preauth: Any = importlib.import_module("preauth_handler")


def _event(device: Any, n: int) -> Any:
    return harness.make_event(device, connection_id=f"bench-{n}", principal_id="bench")


def _call(event: dict[str, Any]) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """(wall ms, answer, decision log line) of one in-process invocation."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        answer = preauth.handler(event, None)
        elapsed = (time.perf_counter() - started) * 1000
    line = json.loads(sink.getvalue().strip().splitlines()[-1])
    return elapsed, answer, line


def _summary(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(max(samples), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
    }


def _configure(ca: Any, url: str) -> None:
    os.environ["TRUSTED_CA_PEM"] = ca.pem.decode()
    os.environ["OCSP_ALLOWED_URLS"] = url
    os.environ["OCSP_TIMEOUT_SECONDS"] = "2"
    os.environ["OCSP_DEADLINE_SECONDS"] = "4"
    preauth.reset()


def bench_hits(pki: Any, ca: Any, responder: Any, count: int) -> dict[str, float]:
    device = pki.issue_device(issuer=ca, ocsp_url=responder.url)
    responder.set_good(device)
    _configure(ca, responder.url)
    event = _event(device, 0)
    _ms, answer, line = _call(event)
    if answer != {"isAuthenticated": True} or line["cacheHit"]:
        msg = f"priming call did not allow from the responder: {line}"
        raise SystemExit(msg)
    before = responder.request_count
    samples = []
    for _ in range(count):
        ms, answer, line = _call(event)
        if not line["cacheHit"] or answer != {"isAuthenticated": True}:
            msg = f"expected a cache hit, got {line}"
            raise SystemExit(msg)
        samples.append(ms)
    if responder.request_count != before:
        msg = "cache hits reached the responder"
        raise SystemExit(msg)
    return _summary(samples)


def bench_misses(
    pki: Any, ca: Any, responder: Any, count: int
) -> tuple[dict[str, float], dict[str, float]]:
    devices = [pki.issue_device(issuer=ca, ocsp_url=responder.url) for _ in range(count)]
    for device in devices:
        responder.set_good(device)
    _configure(ca, responder.url)
    handler_ms: list[float] = []
    responder_ms: list[float] = []
    for n, device in enumerate(devices):
        ms, answer, line = _call(_event(device, n))
        if line["cacheHit"] or answer != {"isAuthenticated": True}:
            msg = f"expected an allowed miss, got {line}"
            raise SystemExit(msg)
        handler_ms.append(ms)
        responder_ms.append(float(line["ResponderLatency"]))
    return _summary(handler_ms), _summary(responder_ms)


#: (label, CA, signer, extra ``openssl ocsp`` arguments)
CASES: tuple[tuple[str, str, str, list[str]], ...] = (
    ("issuing_ca-signed", "issuing_ca", "issuing_ca", []),
    ("delegate-signed", "issuing_ca", "delegate", []),
    (
        "rsa_ca-signed RSASSA-PSS/SHA-256",
        "rsa_ca",
        "rsa_ca",
        [
            "-rmd",
            "sha256",
            "-rsigopt",
            "rsa_padding_mode:pss",
            "-rsigopt",
            "rsa_pss_saltlen:digest",
        ],
    ),
)


def _openssl_version() -> str:
    done = subprocess.run(
        [responders.openssl_binary(), "version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--misses", type=int, default=200)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args(argv)

    for name in list(os.environ):
        if name.startswith("OCSP_"):
            del os.environ[name]
    pki = pki_mod.build_pki()
    results: dict[str, Any] = {}
    for label, ca_name, signer_name, extra in CASES:
        ca, signer = getattr(pki, ca_name), getattr(pki, signer_name)
        with responders.OpensslResponder(
            ca=ca, signer=signer, nmin=60, extra_args=extra
        ) as responder:
            # Warm up imports, the HTTP session and openssl's page cache.
            bench_misses(pki, ca, responder, 5)
            hits = bench_hits(pki, ca, responder, args.hits)
            misses, upstream = bench_misses(pki, ca, responder, args.misses)
        results[f"hit ({label} answer cached)"] = hits
        results[f"miss ({label}, handler total)"] = misses
        results[f"miss ({label}, ResponderLatency)"] = upstream
    preauth.reset()

    width = max(len(k) for k in results)
    header = (
        f"{'case':<{width}}  {'n':>5}  {'p50 ms':>8}  {'p90 ms':>8}  {'p99 ms':>8}  {'max ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results.items():
        print(
            f"{name:<{width}}  {row['n']:>5}  {row['p50_ms']:>8.3f}  {row['p90_ms']:>8.3f}  "
            f"{row['p99_ms']:>8.3f}  {row['max_ms']:>8.3f}"
        )
    document = {
        "benchmark": "preauth_handler in-process latency",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "openssl_cli": _openssl_version(),
            "cryptography": importlib.import_module("cryptography").__version__,
        },
        "notes": (
            "Misses include one HTTP POST to 127.0.0.1 and one `openssl ocsp -reqin` process "
            "spawn per request (see ResponderLatency rows); hits make no request."
        ),
        "results": results,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"\nwrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
