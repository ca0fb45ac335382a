"""The pre-auth check against the physical floor and against its peers, in one run.

One PKI, one in-memory loopback responder serving pre-produced answers (``responder.py``), and,
for every case, several interleaved rounds whose medians are reported; every ratio is computed
within a round and its median reported, so the machine's noise cancels as far as it can. The
load average is recorded with the results.

    python bench/preauth_bench.py [--rounds 5] [--quick] [--output bench/results]

Writes ``<output>/preauth.json`` and returns the results to ``run_all.py``, which renders the
Markdown table and the chart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "lambda_src"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import preauth_handler  # noqa: E402
import requests  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402

from bench.peers import PyhankoPeer, naive_check  # noqa: E402
from bench.responder import InMemoryResponder  # noqa: E402
from tests.lambdas.support.harness import make_event  # noqa: E402
from tests.lambdas.support.pki import Issued, Pki, build_pki  # noqa: E402

SHA1 = hashes.SHA1()  # noqa: S303 - the CertID hash RFC 5019 responders expect
#: Devices of the storm (each connects five times, in shuffled order).
STORM_DEVICES = 1000
STORM_CONNECTS = 5


# -- timing ----------------------------------------------------------------------------------


@dataclass
class Case:
    """One measured case: per-round samples (seconds per operation)."""

    name: str
    group: str
    rounds: list[list[float]] = field(default_factory=list)

    def add_round(self, samples: list[float]) -> None:
        self.rounds.append(samples)

    def p50(self) -> float:
        return statistics.median(statistics.median(r) for r in self.rounds)

    def p99(self) -> float:
        return statistics.median(_quantile(r, 0.99) for r in self.rounds)

    def per_second(self) -> float:
        return 1.0 / statistics.median(statistics.fmean(r) for r in self.rounds)

    def row(self) -> dict[str, Any]:
        return {
            "case": self.name,
            "group": self.group,
            "p50_us": round(self.p50() * 1e6, 2),
            "p99_us": round(self.p99() * 1e6, 2),
            "per_second": round(self.per_second(), 1),
            "samples": sum(len(r) for r in self.rounds),
        }


def _quantile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], Any], count: int) -> list[float]:
    """``count`` calls of ``fn``, each timed on its own (seconds)."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(count):
        started = clock()
        fn()
        samples.append((clock() - started) / 1e9)
    return samples


class _LastLine:
    """A stdout stand-in that keeps only the last line the handler wrote."""

    def __init__(self) -> None:
        self.last = ""

    def write(self, text: str) -> int:
        self.last = text
        return len(text)

    def flush(self) -> None:
        return


@contextmanager
def captured_stdout() -> Iterator[_LastLine]:
    sink, saved = _LastLine(), sys.stdout
    sys.stdout = sink
    try:
        yield sink
    finally:
        sys.stdout = saved


# -- the PKI and the answers -----------------------------------------------------------------


@dataclass
class Fixture:
    pki: Pki
    ca: Issued
    devices: list[Issued]
    answers: dict[int, bytes]


def _answer(device: Issued, ca: Issued, now: dt.datetime) -> bytes:
    return (
        ocsp.OCSPResponseBuilder()
        .add_response(
            device.cert,
            ca.cert,
            SHA1,
            ocsp.OCSPCertStatus.GOOD,
            now - dt.timedelta(minutes=1),
            now + dt.timedelta(hours=2),
            None,
            None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.cert)
        .sign(ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def build_fixture(device_count: int, url: str) -> Fixture:
    """The PKI and ``device_count`` EC P-256 devices of its issuing CA whose AIA names the
    responder at ``url``, and a pre-produced ``good`` answer for each."""
    pki = build_pki()
    ca = pki.issuing_ca
    devices = [pki.issue_device(issuer=ca, ocsp_url=url) for _ in range(device_count)]
    now = dt.datetime.now(dt.UTC)
    return Fixture(pki, ca, devices, {d.serial: _answer(d, ca, now) for d in devices})


# -- the project -----------------------------------------------------------------------------


def configure_handler(ca: Issued, url: str) -> None:
    for name in list(os.environ):
        if name.startswith("OCSP_"):
            del os.environ[name]
    os.environ["TRUSTED_CA_PEM"] = ca.pem.decode()
    os.environ["OCSP_ALLOWED_URLS"] = url
    os.environ["OCSP_TIMEOUT_SECONDS"] = "2"
    os.environ["OCSP_DEADLINE_SECONDS"] = "3"
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
    preauth_handler.reset()


def decide(event: dict[str, Any], sink: _LastLine) -> dict[str, Any]:
    answer = preauth_handler.handler(event, None)
    if answer != {"isAuthenticated": True}:
        msg = f"the handler denied a good device: {sink.last}"
        raise SystemExit(msg)
    record: dict[str, Any] = json.loads(sink.last)
    return record


# -- cold start ------------------------------------------------------------------------------


def build_host_bundle(directory: Path) -> Path:
    """The Lambda bundle exactly as the construct's local bundler builds it, for the running
    interpreter and machine (so that it can be imported here)."""
    from ocsp_iot_constructs._assets import lambda_requirements_file, lambda_source_dir  # noqa: PLC0415
    from ocsp_iot_constructs._bundling import (  # noqa: PLC0415
        BundlePlatform,
        BundleSpec,
        build_bundle,
        bytecode_compiler,
    )

    machine = {"x86_64": BundlePlatform.X86_64, "aarch64": BundlePlatform.ARM_64}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    spec = BundleSpec(
        source_dir=lambda_source_dir(),
        requirements_file=lambda_requirements_file(),
        platform=machine[platform.machine()],
        python_version=version,
        compiler=bytecode_compiler(version),
    )
    out = directory / "bundle"
    build_bundle(spec, out)
    return out


_COLD_START = """
import json, sys
sys.path.insert(0, sys.argv[1])
import preauth_handler
answer = preauth_handler.handler(json.loads(sys.argv[2]), None)
assert answer == {"isAuthenticated": True}, answer
"""


def cold_start(
    bundle: Path, event: dict[str, Any], env: dict[str, str], runs: int
) -> tuple[Case, Case]:
    """Fresh interpreters (``-I -S -B``: isolated, no site-packages, no bytecode written, as on
    Lambda's read-only code folder): import + first decision from the bundle, and a bare
    interpreter, interleaved."""
    bare, full = (
        Case("bare interpreter (python -I -S -B -c pass)", "cold"),
        Case("cold start: import + first decision, from the bundle", "cold"),
    )
    python = [sys.executable, "-I", "-S", "-B"]
    bare_samples, full_samples = [], []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*python, "-c", "pass"], check=True)
        bare_samples.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(
            [*python, "-c", _COLD_START, str(bundle), json.dumps(event)],
            env={**env, "PATH": os.environ.get("PATH", "")},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        full_samples.append(time.perf_counter() - started)
    bare.add_round(bare_samples)
    full.add_round(full_samples)
    return bare, full


# -- the run ---------------------------------------------------------------------------------


def run(rounds: int, *, quick: bool) -> dict[str, Any]:  # noqa: PLR0915 - one linear script
    hits, misses, rtts, floors = (300, 40, 100, 1000) if quick else (2000, 200, 300, 5000)
    peer_checks = 10 if quick else 40
    storm_devices = 100 if quick else STORM_DEVICES
    devices_needed = max(storm_devices, rounds * misses + peer_checks * rounds * 3 + 10)
    cases: dict[str, Case] = {}

    def case(name: str, group: str) -> Case:
        return cases.setdefault(name, Case(name, group))

    with InMemoryResponder() as responder:
        fixture = build_fixture(devices_needed, responder.url)
        responder.load(fixture.answers)
        ca, pki = fixture.ca, fixture.pki
        pool = iter(fixture.devices)
        device = next(pool)
        device_der = device.der
        ca_key = ca.cert.public_key()
        assert isinstance(ca_key, ec.EllipticCurvePublicKey)
        answer_der = fixture.answers[device.serial]
        request_der = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(device.cert, ca.cert, SHA1)
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        parsed_answer = ocsp.load_der_ocsp_response(answer_der)
        session = requests.Session()
        connection = http.client.HTTPConnection("127.0.0.1", responder.port, timeout=5)
        headers = {"Content-Type": "application/ocsp-request"}

        def http_client_post() -> None:
            connection.request("POST", "/ocsp", body=request_der, headers=headers)
            connection.getresponse().read()

        pyhanko = PyhankoPeer(pki.root.pem, ca.pem)
        for _round in range(rounds):
            # floors
            case("DER parse of one device certificate", "floor").add_round(
                timed(lambda: x509.load_der_x509_certificate(device_der), floors)
            )
            case("one ECDSA P-256 signature verify", "floor").add_round(
                timed(
                    lambda: ca_key.verify(
                        parsed_answer.signature,
                        parsed_answer.tbs_response_bytes,
                        ec.ECDSA(hashes.SHA256()),
                    ),
                    floors,
                )
            )

            def parse_and_verify() -> None:
                response = ocsp.load_der_ocsp_response(answer_der)
                ca_key.verify(
                    response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
                )

            case("OCSP response parse + verify", "floor").add_round(timed(parse_and_verify, floors))
            case("keep-alive POST round trip, requests", "floor").add_round(
                timed(
                    lambda: session.post(responder.url, data=request_der, headers=headers).content,
                    rtts,
                )
            )
            case("keep-alive POST round trip, http.client", "floor").add_round(
                timed(http_client_post, rtts)
            )
            # this project
            configure_handler(ca, responder.url)
            with captured_stdout() as sink:
                event = make_event(device, connection_id="bench-hit")
                first = decide(event, sink)
                assert not first["cacheHit"], first

                def hit(event: dict[str, Any] = event) -> None:
                    preauth_handler.handler(event, None)

                case("this project: cache hit", "project").add_round(timed(hit, hits))
                assert json.loads(sink.last)["cacheHit"], sink.last
                fresh = [make_event(next(pool), connection_id=f"m{n}") for n in range(misses)]
                events = iter(fresh)

                def miss(events: Iterator[dict[str, Any]] = events) -> None:
                    preauth_handler.handler(next(events), None)

                case("this project: cache miss", "project").add_round(timed(miss, misses))
                record = json.loads(sink.last)
                assert record["reason"] == "GOOD" and not record["cacheHit"], record
            # peers
            naive_devices = [next(pool) for _ in range(peer_checks)]
            naive_iter = iter(naive_devices)

            def naive(naive_iter: Iterator[Issued] = naive_iter) -> None:
                if not naive_check(next(naive_iter).cert, ca.cert):
                    msg = "the naive check refused a good device"
                    raise SystemExit(msg)

            case("naive check (no signature check, no cache)", "peer").add_round(
                timed(naive, peer_checks)
            )
            for reuse, label in ((False, "fresh context"), (True, "reused context")):
                subjects = [pyhanko.load(next(pool).pem) for _ in range(peer_checks)]
                subject_iter = iter(subjects)

                def validate(reuse: bool = reuse, subject_iter: Any = subject_iter) -> None:
                    if not pyhanko.check(next(subject_iter), reuse=reuse):
                        msg = "pyhanko refused a good device"
                        raise SystemExit(msg)

                case(f"pyhanko-certvalidator, {label} (miss)", "peer").add_round(
                    timed(validate, peer_checks)
                )
        session.close()
        connection.close()
        storm = reconnect_storm(fixture, responder, pyhanko, storm_devices)
        event = make_event(fixture.devices[-1], connection_id="cold")
        env = {
            "TRUSTED_CA_PEM": ca.pem.decode(),
            "OCSP_ALLOWED_URLS": responder.url,
            "OCSP_TIMEOUT_SECONDS": "2",
            "OCSP_DEADLINE_SECONDS": "3",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
        }
        with tempfile.TemporaryDirectory(prefix="ocsp-bench-bundle-") as tmp:
            bundle = build_host_bundle(Path(tmp))
            bare, cold = cold_start(bundle, event, env, 5 if quick else 15)
        cases[bare.name], cases[cold.name] = bare, cold
    return {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": _environment(),
        "rounds": rounds,
        "cases": [c.row() for c in cases.values()],
        "ratios": _ratios(cases),
        "storm": storm,
    }


def reconnect_storm(
    fixture: Fixture, responder: InMemoryResponder, pyhanko: PyhankoPeer, devices: int
) -> dict[str, Any]:
    """``devices`` devices x 5 connects, shuffled (seeded): responder requests counted at the
    responder, wall time and p99, for this project (one Lambda environment: one process, one
    cache) and the peers."""
    chosen = fixture.devices[:devices]
    order = [d for d in chosen for _ in range(STORM_CONNECTS)]
    random.Random(20261204).shuffle(order)  # noqa: S311 - a benchmark order, not a secret
    results: dict[str, Any] = {"devices": devices, "connects": len(order)}

    def measure(label: str, decide_one: Callable[[Issued], object]) -> None:
        responder.reset()
        samples = []
        started = time.perf_counter()
        for device in order:
            t0 = time.perf_counter_ns()
            decide_one(device)
            samples.append((time.perf_counter_ns() - t0) / 1e9)
        wall = time.perf_counter() - started
        results[label] = {
            "responder_requests": responder.request_count(),
            "wall_s": round(wall, 3),
            "p99_us": round(_quantile(samples, 0.99) * 1e6, 1),
            "p50_us": round(statistics.median(samples) * 1e6, 1),
        }

    configure_handler(fixture.ca, responder.url)
    events = {d.serial: make_event(d, connection_id="storm") for d in chosen}
    with captured_stdout() as sink:

        def ours(device: Issued) -> None:
            decide(events[device.serial], sink)

        measure("this project", ours)
    measure("naive check", lambda d: naive_check(d.cert, fixture.ca.cert))
    loaded = {d.serial: pyhanko.load(d.pem) for d in chosen}
    pyhanko._reused = None  # a storm starts with an empty reused context
    measure("pyhanko, reused context", lambda d: pyhanko.check(loaded[d.serial], reuse=True))
    measure("pyhanko, fresh context", lambda d: pyhanko.check(loaded[d.serial], reuse=False))
    return results


def _ratios(cases: dict[str, Case]) -> dict[str, float]:
    """Every ratio computed within each round, then the median over the rounds."""

    def per_round(numerator: str, denominator: str, *, minus: str | None = None) -> float:
        top, bottom = cases[numerator], cases[denominator]
        values = []
        for index in range(min(len(top.rounds), len(bottom.rounds))):
            a = statistics.median(top.rounds[index])
            b = statistics.median(bottom.rounds[index])
            if minus is not None:
                values.append((a - statistics.median(cases[minus].rounds[index])) * 1e6)
            else:
                values.append(a / b)
        return round(statistics.median(values), 2)

    hit, miss = "this project: cache hit", "this project: cache miss"
    return {
        "hit / DER parse": per_round(hit, "DER parse of one device certificate"),
        "naive check / hit": per_round("naive check (no signature check, no cache)", hit),
        "miss - requests round trip (us)": per_round(
            miss, miss, minus="keep-alive POST round trip, requests"
        ),
        "pyhanko fresh / miss": per_round("pyhanko-certvalidator, fresh context (miss)", miss),
        "pyhanko reused / miss": per_round("pyhanko-certvalidator, reused context (miss)", miss),
    }


def _environment() -> dict[str, Any]:
    import cryptography  # noqa: PLC0415

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cryptography": cryptography.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    results = run(args.rounds, quick=args.quick)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "preauth.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["ratios"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
