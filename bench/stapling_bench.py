"""In-process latency of the stapling handler (cache hit / miss) and the size of typical staples.

Misses go over real HTTP to a responder on 127.0.0.1: OpenSSL's OCSP responder
(``tests/lambdas/support/openssl.py``; each request spawns ``openssl ocsp -reqin``, most of a
miss's cost, reported separately as the handler-logged ``ResponderLatency``) and, to show the
handler's own cost, a loopback server that returns a pre-signed answer. Misses are forced with
``OCSP_CACHE_MAX_SECONDS=0``. Prints tables and writes ``<output>/stapling.json``.

    python bench/stapling_bench.py [--hits 2000] [--misses 200] [--quick]
        [--output bench/results]
"""

from __future__ import annotations

import argparse
import base64
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
openssl: Any = importlib.import_module("tests.lambdas.support.openssl")
forge: Any = importlib.import_module("tests.lambdas.support.forge")
loopback: Any = importlib.import_module("tests.lambdas.support.loopback")
support: Any = importlib.import_module("tests.lambdas.support.stapling")
stapling: Any = importlib.import_module("stapling_handler")


def _call(event: str) -> tuple[float, str, dict[str, Any]]:
    """(wall ms, answer, log line) of one in-process invocation."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        answer = stapling.handler(event, None)
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


def _configure(ca: Any, url: str, *, authorized: Any = None, cache_seconds: int = 3600) -> None:
    for name in list(os.environ):
        if name.startswith("OCSP_") or name == "TRUSTED_CA_PEM":
            del os.environ[name]
    os.environ.update(
        support.stapling_env(
            responder_url=url,
            trusted=[ca],
            authorized=authorized,
            extra={"OCSP_TIMEOUT_SECONDS": 2, "OCSP_CACHE_MAX_SECONDS": cache_seconds},
        )
    )
    stapling.reset()


def _expect_staple(answer: str, line: dict[str, Any], *, hit: bool) -> None:
    if not answer or line["cacheHit"] is not hit:
        msg = f"expected a {'hit' if hit else 'miss'} with a staple, got {line}"
        raise SystemExit(msg)


def bench_hits(event: str, count: int) -> dict[str, float]:
    _ms, answer, line = _call(event)
    _expect_staple(answer, line, hit=False)
    samples = []
    for _ in range(count):
        ms, answer, line = _call(event)
        _expect_staple(answer, line, hit=True)
        samples.append(ms)
    return _summary(samples)


def bench_misses(event: str, count: int) -> tuple[dict[str, float], dict[str, float]]:
    handler_ms: list[float] = []
    responder_ms: list[float] = []
    for _ in range(count):
        ms, answer, line = _call(event)
        _expect_staple(answer, line, hit=False)
        handler_ms.append(ms)
        responder_ms.append(float(line["ResponderLatency"]))
    return _summary(handler_ms), _summary(responder_ms)


def staple_size(pki: Any, ca: Any, signer: Any, extra: list[str]) -> int:
    """Bytes of the DER staple the handler returns for an ``openssl ocsp`` answer."""
    with openssl.OpensslResponder(ca=ca, signer=signer, nmin=60, extra_args=extra) as responder:
        server = pki.issue_server("devices.example.com", issuer=ca)
        responder.set_good(server)
        _configure(ca, responder.url, authorized=signer if signer is not ca else None)
        _ms, answer, line = _call(support.event_for(server, ca))
    if not answer:
        msg = f"no staple: {line}"
        raise SystemExit(msg)
    return len(base64.b64decode(answer))


def _openssl_version() -> str:
    done = subprocess.run(
        [openssl.openssl_binary(), "version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--misses", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.hits, args.misses = min(args.hits, 300), min(args.misses, 30)

    pki = pki_mod.build_pki()
    results: dict[str, Any] = {}
    ca = pki.issuing_ca
    server = pki.issue_server("devices.example.com", issuer=ca)
    event = support.event_for(server, ca)

    with openssl.OpensslResponder(ca=ca, signer=ca, nmin=60) as responder:
        responder.set_good(server)
        _configure(ca, responder.url)
        results["hit (cached EC P-256 staple)"] = bench_hits(event, args.hits)
        _configure(ca, responder.url, cache_seconds=0)
        bench_misses(event, 5)  # warm up the HTTP session and openssl's page cache
        total, upstream = bench_misses(event, args.misses)
        results["miss (openssl ocsp responder, handler total)"] = total
        results["miss (openssl ocsp responder, ResponderLatency)"] = upstream

    request = forge.parse_request(support.ocsp_request(server, ca))
    body = forge.build_answer(request, signer=ca, next_update_offset=3600, include_signer=False)
    with loopback.LoopbackServer(loopback.fixed(loopback.Reply(body=body))) as fixed_server:
        _configure(ca, fixed_server.url, cache_seconds=0)
        bench_misses(event, 5)
        total, upstream = bench_misses(event, args.misses)
        results["miss (pre-signed loopback answer, handler total)"] = total
        results["miss (pre-signed loopback answer, ResponderLatency)"] = upstream

    sizes = {
        "CA-signed EC P-256, no certificate included": staple_size(
            pki, pki.issuing_ca, pki.issuing_ca, ["-resp_no_certs"]
        ),
        "CA-signed EC P-256, CA certificate included (openssl default)": staple_size(
            pki, pki.issuing_ca, pki.issuing_ca, []
        ),
        "CA-signed RSA-2048, no certificate included": staple_size(
            pki, pki.rsa_ca, pki.rsa_ca, ["-resp_no_certs"]
        ),
        "CA-signed RSA-2048, CA certificate included (openssl default)": staple_size(
            pki, pki.rsa_ca, pki.rsa_ca, []
        ),
        "delegate-signed EC P-256, delegate certificate included": staple_size(
            pki, pki.issuing_ca, pki.delegate, []
        ),
        "delegate-signed RSA-2048, delegate certificate included": staple_size(
            pki, pki.rsa_ca, pki.rsa_delegate, []
        ),
    }
    stapling.reset()

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
    print()
    for name, size in sizes.items():
        print(f"staple size, {name}: {size} bytes (base64: {4 * ((size + 2) // 3)})")
    document = {
        "benchmark": "stapling_handler in-process latency and staple sizes",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "openssl_cli": _openssl_version(),
            "cryptography": importlib.import_module("cryptography").__version__,
        },
        "notes": (
            "Misses (OCSP_CACHE_MAX_SECONDS=0) include one HTTP POST to 127.0.0.1 and the "
            "answer's verification; with the openssl responder also one `openssl ocsp -reqin` "
            "process spawn per request (see the ResponderLatency rows). Hits make no request. "
            "Staple sizes are DER bytes of answers `openssl ocsp` signs (SHA-256 signatures, "
            "ResponderID by name, nextUpdate set)."
        ),
        "results": results,
        "staple_bytes": sizes,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    written = args.output / "stapling.json"
    written.write_text(json.dumps(document, indent=2) + "\n")
    shown = written.relative_to(ROOT) if written.is_relative_to(ROOT) else written
    print(f"\nwrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
