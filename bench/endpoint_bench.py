"""The local endpoint under load: 200 devices connecting at once, in repeated rounds.

One process runs the fleet: the local IoT Core look-alike (``ocsp_iot.local.endpoint``, the
real pre-auth handler deciding, the stapling handler stapling), a real ``openssl ocsp``
responder for the issuing CA (``ocsp_iot.local.responder``) and mosquitto. A second process is
the devices, so the clients' own TLS work is not counted in the endpoint's process: for each
round it opens 200 TCP connections (one per device, 20 of them revoked), holds them until all
are open (the endpoint is then in 200 handshakes at once: it counts from the accept), releases
every ClientHello at the same moment, sends MQTT CONNECT on each TLS session and waits for the
CONNACK (allowed) or the close (refused); allowed sessions stay open until the round is over.

Measured per round: the clients' connect latency (ClientHello to CONNACK, or to the close), and
inside it their TLS handshake alone (TLS 1.3: the client finishes before the server decides);
the endpoint's own timing of each connection: ``check_ms`` (handshake done to decision: what
the check adds, including the wait for the handler, whose invocations are serialized) and
``decision_ms`` (the handler alone); the peak number of simultaneous handshakes and connections
the endpoint saw; the responder requests (the first round misses the cache, one per device; the
others hit it). Then, for comparison without load, ``--alone`` devices connect one after the
other. Any error (a good device refused, a revoked one allowed, a timeout, a reset, a handshake
failure) fails the run. Writes ``<output>/endpoint.json``.

    python bench/endpoint_bench.py [--devices 200] [--revoked 20] [--rounds 5] [--alone 100]
        [--quick] [--output bench/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ocsp_iot._mqtt import DISCONNECT, connect_packet, parse_connack  # noqa: E402

SERVER_NAME = "iot.example.test"
#: Bounds on any wait (a loaded shared machine is slow; nothing here is a pass/fail on speed).
ROUND_TIMEOUT_SECONDS = 120.0


# -- the devices' process --------------------------------------------------------------------


def _connect(
    context: ssl.SSLContext,
    sock: socket.socket,
    client_id: str,
    accepted: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """One device: TLS on ``sock``, MQTT CONNECT, then the CONNACK (``accepted(outcome)`` is
    called while the session is still open) or the close."""
    outcome: dict[str, Any] = {}
    try:
        # no Nagle delay on the clients' small writes (Finished, then CONNECT): as MQTT clients
        # do, and so that the client's TCP stack is not what is measured
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        tls = context.wrap_socket(sock, server_hostname=SERVER_NAME)
        outcome["handshake_ms"] = (time.perf_counter() - started) * 1000
        tls.sendall(connect_packet(client_id))
        try:
            data = tls.recv(4)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
            data = b""
        outcome["connect_ms"] = (time.perf_counter() - started) * 1000
        if parse_connack(data) == 0:
            outcome["result"] = "accepted"
            accepted(outcome)
            tls.sendall(DISCONNECT)
        elif not data:
            outcome["result"] = "refused"
        else:
            outcome.update(result="error", error=f"unexpected bytes {data!r}")
        tls.close()
    except Exception as exc:  # every failure is counted, none is lost
        outcome.update(result="error", error=f"{type(exc).__name__}: {exc}")
        sock.close()
    return outcome


def _client_round(config: dict[str, Any], contexts: list[ssl.SSLContext], number: int) -> dict:
    devices = len(contexts)
    sockets = [
        socket.create_connection(("127.0.0.1", config["port"]), timeout=ROUND_TIMEOUT_SECONDS)
        for _ in range(devices)
    ]
    barrier = threading.Barrier(devices + 1)
    release = threading.Event()
    results: list[dict[str, Any] | None] = [None] * devices

    def device(index: int) -> None:
        def hold(outcome: dict[str, Any]) -> None:  # report, then stay connected
            results[index] = {"device": index, **outcome}
            release.wait(ROUND_TIMEOUT_SECONDS)

        try:
            barrier.wait(ROUND_TIMEOUT_SECONDS)
        except threading.BrokenBarrierError as exc:
            results[index] = {"device": index, "result": "error", "error": repr(exc)}
            return
        outcome = _connect(contexts[index], sockets[index], f"dev-{index}-{number}", hold)
        if outcome["result"] != "accepted":
            results[index] = {"device": index, **outcome}

    threads = [threading.Thread(target=device, args=(i,)) for i in range(devices)]
    for thread in threads:
        thread.start()
    # the fleet's process answers once the endpoint has accepted every connection
    print(json.dumps({"open": devices}), flush=True)
    sys.stdin.readline()
    barrier.wait(ROUND_TIMEOUT_SECONDS)  # every ClientHello at once
    deadline = time.monotonic() + ROUND_TIMEOUT_SECONDS
    while any(r is None for r in results) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(ROUND_TIMEOUT_SECONDS)
    missing = {"result": "error", "error": "no result"}
    done = [r or {"device": i, **missing} for i, r in enumerate(results)]
    return {"round": number, "connections": done}


def _client_one_at_a_time(
    config: dict[str, Any], contexts: list[ssl.SSLContext], count: int
) -> dict[str, Any]:
    """``count`` devices, each connecting only once the previous one is done (no load)."""
    done = []
    for index in range(count):
        sock = socket.create_connection(("127.0.0.1", config["port"]), timeout=30)
        outcome = _connect(contexts[index], sock, f"dev-{index}-alone", lambda _o: None)
        done.append({"device": index, **outcome})
    return {"round": "one at a time", "connections": done}


def client_main() -> int:
    """The devices: a config line on stdin, then one round per ``go`` line (``alone N``: N
    connections one after the other), a JSON line back for each."""
    config = json.loads(sys.stdin.readline())
    contexts = []
    for presented, key in config["devices"]:
        context = ssl.create_default_context(cafile=config["root"])
        context.load_cert_chain(presented, key)
        contexts.append(context)
    print(json.dumps({"ready": len(contexts)}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words == ["go"]:
            result = _client_round(config, contexts, int(time.time() * 1000))
        elif len(words) == 2 and words[0] == "alone":
            result = _client_one_at_a_time(config, contexts, int(words[1]))
        else:
            break
        print(json.dumps(result), flush=True)
    return 0


# -- the fleet's process ---------------------------------------------------------------------


def _summary(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"n": len(samples), "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": round(cuts[49], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(samples), 2),
    }


def _fleet_round(
    client: subprocess.Popen[str], endpoint: Any, recorder: Any, responder: Any, devices: int
) -> dict[str, Any]:
    endpoint.peaks(reset=True)
    before, requests_before = len(recorder), responder.request_count
    assert client.stdin is not None and client.stdout is not None
    client.stdin.write("go\n")
    client.stdin.flush()
    json.loads(client.stdout.readline())  # its connections are open
    deadline = time.monotonic() + ROUND_TIMEOUT_SECONDS
    while endpoint.open_connections() < devices and time.monotonic() < deadline:
        time.sleep(0.005)
    client.stdin.write("hello\n")  # now every ClientHello, at once
    client.stdin.flush()
    reply = json.loads(client.stdout.readline())
    records = recorder.wait(before, devices, timeout=ROUND_TIMEOUT_SECONDS)
    return {
        "client": reply["connections"],
        "records": records,
        "peaks": endpoint.peaks(),
        "responder_requests": responder.request_count - requests_before,
    }


def _fleet_alone(client: subprocess.Popen[str], recorder: Any, count: int) -> dict[str, Any]:
    before = len(recorder)
    assert client.stdin is not None and client.stdout is not None
    client.stdin.write(f"alone {count}\n")
    client.stdin.flush()
    reply = json.loads(client.stdout.readline())
    records = recorder.wait(before, count, timeout=ROUND_TIMEOUT_SECONDS)
    return {"client": reply["connections"], "records": records}


def _errors(
    rounds: list[dict[str, Any]], revoked: set[int], devices: int, *, alone: int
) -> list[str]:
    """Every connection that did not end as it must (the last entry is the one-at-a-time
    round of ``alone`` connections)."""
    errors: list[str] = []
    for number, played in enumerate(rounds, start=1):
        expected_count = alone if number == len(rounds) else devices
        for connection in played["client"]:
            index, result = connection["device"], connection["result"]
            expected = "refused" if index in revoked else "accepted"
            if result != expected:
                errors.append(
                    f"round {number}, device {index}: {result}, expected {expected} "
                    f"{connection.get('error', '')}".strip()
                )
        outcomes = [r.outcome.value for r in played["records"]]
        if len(outcomes) != expected_count:
            errors.append(f"round {number}: the endpoint reported {len(outcomes)} connections")
        odd = sorted({o for o in outcomes if o not in ("ALLOWED", "DENIED")})
        if odd:
            errors.append(f"round {number}: endpoint outcomes {odd}")
    return errors


def _write_devices(
    pki: Any, responder: Any, folder: Path, devices: int, revoked: set[int]
) -> list[list[str]]:
    """Issue the devices (the responder learns each one) and write what each presents."""
    paths = []
    for index in range(devices):
        issued = pki.issue_device(f"dev-{index}", ocsp_url=responder.url)
        if index in revoked:
            responder.set_revoked(issued.certificate)
        else:
            responder.set_good(issued.certificate)
        presented, key = folder / f"dev-{index}.pem", folder / f"dev-{index}.key"
        presented.write_bytes(issued.pem + pki.issuing_ca.pem)
        issued.write(folder / f"dev-{index}.cert.pem", key)
        paths.append([str(presented), str(key)])
    return paths


def fleet_main(args: argparse.Namespace) -> int:
    from ocsp_iot._lambda import StaplingFunction  # noqa: PLC0415
    from ocsp_iot.demo import preauth_env  # noqa: PLC0415
    from ocsp_iot.local.broker import Mosquitto  # noqa: PLC0415
    from ocsp_iot.local.endpoint import LocalEndpoint, Recorder  # noqa: PLC0415
    from ocsp_iot.local.pki import LocalPki  # noqa: PLC0415
    from ocsp_iot.local.responder import OpensslResponder  # noqa: PLC0415

    logging.getLogger("ocsp_iot.local").addHandler(logging.NullHandler())
    logging.getLogger("ocsp_iot.local").propagate = False
    pki = LocalPki.create(name="Bench")
    revoked = set(range(0, args.devices, max(1, args.devices // max(1, args.revoked))))
    revoked = set(sorted(revoked)[: args.revoked])
    with (
        tempfile.TemporaryDirectory(prefix="ocsp-iot-endpoint-bench-") as tmp,
        OpensslResponder(
            ca=pki.issuing_ca.certificate,
            signer=pki.issuing_ca.certificate,
            signer_key=pki.issuing_ca.key,
        ) as responder,
        Mosquitto() as broker,
    ):
        folder = Path(tmp)
        pki.root.write(folder / "root.pem")
        server = pki.issue_server(SERVER_NAME, ocsp_url=responder.url)
        responder.set_good(server.certificate)
        paths = _write_devices(pki, responder, folder, args.devices, revoked)
        issuing_pem = pki.issuing_ca.pem.decode("ascii")
        env = preauth_env(responder.url, issuing_pem, "closed")
        env["OCSP_CACHE_MAX_SECONDS"] = "3600"  # the construct's default, not the demo's
        stapler = StaplingFunction(
            {"OCSP_RESPONDER_URL": responder.url, "TRUSTED_CA_PEM": issuing_pem}
        )
        recorder = Recorder()
        endpoint = LocalEndpoint(
            server_name=SERVER_NAME,
            certificate=server.certificate,
            chain=[pki.issuing_ca.certificate],
            private_key=server.key,
            broker=broker.address,
            preauth_env=env,
            staple_source=stapler,
            on_connection=recorder,
            handshake_timeout=ROUND_TIMEOUT_SECONDS,
        )
        client = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            with endpoint:
                assert client.stdin is not None and client.stdout is not None
                config = {"port": endpoint.port, "root": str(folder / "root.pem"), "devices": paths}
                client.stdin.write(json.dumps(config) + "\n")
                client.stdin.flush()
                json.loads(client.stdout.readline())  # ready
                started = time.monotonic()
                rounds = [
                    _fleet_round(client, endpoint, recorder, responder, args.devices)
                    for _ in range(args.rounds)
                ]
                wall = time.monotonic() - started
                alone = _fleet_alone(client, recorder, args.alone)
                staple_requests = stapler.invocations
        finally:
            if client.stdin is not None:
                client.stdin.close()
            client.wait(30)
            stapler.close()
    results = _results(
        args, rounds, alone, revoked=revoked, wall=wall, staple_requests=staple_requests
    )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "endpoint.json").write_text(json.dumps(results, indent=2) + "\n")
    _print(results)
    if results["errors"]:
        print(f"{len(results['errors'])} errors: {results['errors'][:10]}")
        return 1
    return 0


def _results(
    args: argparse.Namespace,
    rounds: list[dict[str, Any]],
    alone: dict[str, Any],
    *,
    revoked: set[int],
    wall: float,
    staple_requests: int,
) -> dict[str, Any]:
    def client(kind: str, which: list[dict[str, Any]], result: str) -> list[float]:
        return [c[kind] for r in which for c in r["client"] if c["result"] == result and kind in c]

    def endpoint(kind: str, which: list[dict[str, Any]]) -> list[float]:
        return [getattr(rec, kind) for r in which for rec in r["records"] if getattr(rec, kind)]

    cold, warm = rounds[:1], rounds[1:]
    sections: dict[str, dict[str, float]] = {}
    phases = (
        (f"{args.devices} at once, first round (cache cold)", cold),
        (f"{args.devices} at once, later rounds (cache warm)", warm),
        ("one at a time (cache warm)", [alone]),
    )
    for label, which in phases:
        if not which:
            continue
        sections[f"{label}: client connect, allowed (ClientHello to CONNACK)"] = _summary(
            client("connect_ms", which, "accepted")
        )
        sections[f"{label}: client connect, refused (ClientHello to close)"] = _summary(
            client("connect_ms", which, "refused")
        )
        sections[f"{label}: client TLS handshake alone"] = _summary(
            client("handshake_ms", which, "accepted") + client("handshake_ms", which, "refused")
        )
        sections[f"{label}: endpoint check (handshake done to decision)"] = _summary(
            endpoint("check_ms", which)
        )
        sections[f"{label}: endpoint pre-auth handler alone"] = _summary(
            endpoint("decision_ms", which)
        )
    accepted = sum(1 for r in rounds for c in r["client"] if c["result"] == "accepted")
    refused = sum(1 for r in rounds for c in r["client"] if c["result"] == "refused")
    requests = [r["responder_requests"] for r in rounds]
    return {
        "benchmark": "local endpoint: concurrent device connections with repeats",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "devices": args.devices,
            "revoked": len(revoked),
            "rounds": args.rounds,
            "OCSP_CACHE_MAX_SECONDS": 3600,
            "OCSP_FAIL_MODE": "closed",
            "clients": "one separate process, a thread per device, Python ssl, TLS 1.3",
        },
        "connections": len(rounds) * args.devices,
        "accepted": accepted,
        "refused": refused,
        "errors": _errors([*rounds, alone], revoked, args.devices, alone=args.alone),
        "peak_simultaneous_handshakes": [r["peaks"]["handshakes"] for r in rounds],
        "peak_simultaneous_connections": [r["peaks"]["connections"] for r in rounds],
        "responder_requests_per_round": requests,
        "responder_requests_total": sum(requests),
        "staple_requests": staple_requests,
        "wall_s": round(wall, 2),
        "results": sections,
    }


def _print(results: dict[str, Any]) -> None:
    print(f"{'case':88} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, row in results["results"].items():
        print(f"{name:88} {row['n']:>5} {row['p50_ms']:>9} {row['p99_ms']:>9} {row['max_ms']:>9}")
    print(
        f"{results['connections']} connections in {results['wall_s']} s: {results['accepted']} "
        f"accepted, {results['refused']} refused, {len(results['errors'])} errors; peak "
        f"simultaneous handshakes per round {results['peak_simultaneous_handshakes']}; "
        f"responder requests per round {results['responder_requests_per_round']} "
        f"(devices: {results['settings']['devices']})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=200, help="connections at once")
    parser.add_argument("--revoked", type=int, default=20, help="of them revoked")
    parser.add_argument("--rounds", type=int, default=5, help="the first one misses the cache")
    parser.add_argument(
        "--alone", type=int, default=100, help="connections one at a time, after the rounds"
    )
    parser.add_argument("--quick", action="store_true", help="two rounds (a smoke run)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client_main()
    if args.quick:
        args.rounds = min(args.rounds, 2)
        args.alone = min(args.alone, 30)
    args.alone = min(args.alone, args.devices)
    return fleet_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
