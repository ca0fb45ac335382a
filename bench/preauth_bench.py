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
from contextlib import ExitStack, contextmanager
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
from tests.lambdas.support.openssl import OpensslResponder  # noqa: E402
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
    """A stdout stand-in that keeps only the last line the handler wrote, and writes every
    line to ``/dev/null`` (one ``write`` system call, as the Lambda's stdout pipe costs)."""

    def __init__(self) -> None:
        self.last = ""
        self._null = os.open(os.devnull, os.O_WRONLY)

    def write(self, text: str) -> int:
        self.last = text
        return os.write(self._null, text.encode())

    def close(self) -> None:
        os.close(self._null)

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
        sink.close()


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


def configure_handler(ca: Issued, url: str, *, responder_url: str | None = None) -> None:
    for name in list(os.environ):
        if name.startswith("OCSP_"):
            del os.environ[name]
    os.environ["TRUSTED_CA_PEM"] = ca.pem.decode()
    os.environ["OCSP_ALLOWED_URLS"] = url
    if responder_url is not None:
        os.environ["OCSP_RESPONDER_URL"] = responder_url
    os.environ["OCSP_TIMEOUT_SECONDS"] = "2"
    os.environ["OCSP_DEADLINE_SECONDS"] = "3"
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
    preauth_handler.reset()


ALLOWED = {"isAuthenticated": True}


def miss_with(events: Iterator[dict[str, Any]]) -> Callable[[], None]:
    """One decision per call, each on the next (never seen) device's event."""

    def miss() -> None:
        preauth_handler.handler(next(events), None)

    return miss


def decide(event: dict[str, Any], sink: _LastLine) -> dict[str, Any]:
    answer = preauth_handler.handler(event, None)
    if answer != ALLOWED:
        msg = f"the handler denied a good device: {sink.last}"
        raise SystemExit(msg)
    record: dict[str, Any] = json.loads(sink.last)
    return record


# -- cold start ------------------------------------------------------------------------------


def build_host_bundle(directory: Path, *, bytecode: bool = True) -> Path:
    """The Lambda bundle exactly as the construct's local bundler builds it, for the running
    interpreter and machine (so that it can be imported here); ``bytecode=False``: as it is
    built on a host without an interpreter of the runtime's version (sources only)."""
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
        compiler=bytecode_compiler(version) if bytecode else None,
    )
    out = directory / ("bundle" if bytecode else "bundle-sources-only")
    build_bundle(spec, out)
    return out


_COLD_START = """
import json, sys
sys.path.insert(0, sys.argv[1])
import preauth_handler
answer = preauth_handler.handler(json.loads(sys.argv[2]), None)
assert answer == {"isAuthenticated": True}, answer
"""
#: The bare interpreter writes one line too, the way the handler writes its decision line.
_BARE = "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush()"


def _until_first_line(command: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds from starting ``command`` until its first line on stdout: for the handler, the
    decision's log line. The interpreter's exit is not counted (a Lambda environment lives on
    after its cold start)."""
    started = time.perf_counter()
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        line = child.stdout.readline()
        elapsed = time.perf_counter() - started
        child.stdout.read()
        if child.wait(timeout=60) != 0 or not line:
            msg = f"the cold start failed: {command[:4]} exited {child.returncode}"
            raise SystemExit(msg)
    return elapsed


def cold_start(
    bundles: tuple[Path, Path], event: dict[str, Any], env: dict[str, str], runs: int
) -> tuple[Case, Case, Case]:
    """Fresh interpreters (``-I -S -B``: isolated, no site-packages, no bytecode written, as on
    Lambda's read-only code folder): import + first decision from the bundle, and a bare
    interpreter, interleaved; each timed until its first line on stdout. ``bundles``: the
    bundle as shipped (with bytecode) and one without bytecode."""
    bare, full, sources_only = (
        Case("bare interpreter (python -I -S -B, one line written)", "cold"),
        Case("cold start: import + first decision, from the bundle", "cold"),
        Case("cold start, bundle without bytecode (for comparison)", "cold"),
    )
    python = [sys.executable, "-I", "-S", "-B"]
    child_env = {**env, "PATH": os.environ.get("PATH", "")}
    samples: dict[str, list[float]] = {case.name: [] for case in (bare, full, sources_only)}
    for _ in range(runs):
        samples[bare.name].append(_until_first_line([*python, "-c", _BARE]))
        for case, bundle in ((full, bundles[0]), (sources_only, bundles[1])):
            samples[case.name].append(
                _until_first_line(
                    [*python, "-c", _COLD_START, str(bundle), json.dumps(event)], child_env
                )
            )
    for case in (bare, full, sources_only):
        case.add_round(samples[case.name])
    return bare, full, sources_only


# -- the run ---------------------------------------------------------------------------------


def run(rounds: int, *, quick: bool) -> dict[str, Any]:  # noqa: PLR0915 - one linear script
    hits, misses, rtts, floors = (300, 40, 100, 1000) if quick else (2000, 200, 300, 5000)
    peer_checks = 10 if quick else 40
    storm_devices = 100 if quick else STORM_DEVICES
    openssl_misses = 10 if quick else 25
    devices_needed = max(
        storm_devices, rounds * (misses + openssl_misses) + peer_checks * rounds * 3 + 10
    )
    cases: dict[str, Case] = {}

    def case(name: str, group: str) -> Case:
        return cases.setdefault(name, Case(name, group))

    with InMemoryResponder() as responder, ExitStack() as stack:
        fixture = build_fixture(devices_needed, responder.url)
        # `openssl ocsp` signs each answer when asked (one process per request)
        openssl_responder = stack.enter_context(
            OpensslResponder(ca=fixture.ca, signer=fixture.ca, nmin=60)
        )
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

                # IoT Core's events are new objects every time: so are these (no string of
                # one call has its hash cached from an earlier call)
                text = json.dumps(event)
                copies = iter([json.loads(text) for _ in range(hits)])

                def hit(copies: Iterator[dict[str, Any]] = copies) -> None:
                    preauth_handler.handler(next(copies), None)

                case("this project: cache hit", "project").add_round(timed(hit, hits))
                assert json.loads(sink.last)["cacheHit"], sink.last
                fresh = [make_event(next(pool), connection_id=f"m{n}") for n in range(misses)]
                events = iter(fresh)

                case("this project: cache miss", "project").add_round(
                    timed(miss_with(events), misses)
                )
                record = json.loads(sink.last)
                assert record["reason"] == "GOOD" and not record["cacheHit"], record
            configure_handler(ca, responder.url, responder_url=openssl_responder.url)
            with captured_stdout() as sink:
                signed_now = [next(pool) for _ in range(openssl_misses)]
                for chosen in signed_now:
                    openssl_responder.set_good(chosen)
                fresh = [make_event(d, connection_id="openssl") for d in signed_now]
                events = iter(fresh)
                case("this project: cache miss, openssl ocsp responder", "project").add_round(
                    timed(miss_with(events), openssl_misses)
                )
                record = json.loads(sink.last)
                assert record["reason"] == "GOOD" and record["ResponderRequests"] == 1, record
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
            bundles = (
                build_host_bundle(Path(tmp)),
                build_host_bundle(Path(tmp), bytecode=False),
            )
            for cold_case in cold_start(bundles, event, env, 5 if quick else 15):
                cases[cold_case.name] = cold_case
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
    # a new event object per connect, as IoT Core sends them, made before the clock runs
    texts = {d.serial: json.dumps(make_event(d, connection_id="storm")) for d in chosen}
    copies = {
        serial: [json.loads(text) for _ in range(STORM_CONNECTS)] for serial, text in texts.items()
    }
    refused: list[str] = []
    with captured_stdout() as sink:

        def ours(device: Issued) -> None:
            if preauth_handler.handler(copies[device.serial].pop(), None) != ALLOWED:
                refused.append(sink.last)

        measure("this project", ours)
    if refused:
        msg = f"the handler denied a good device in the storm: {refused[0]}"
        raise SystemExit(msg)
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
