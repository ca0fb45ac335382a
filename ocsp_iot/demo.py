"""``ocsp-iot demo`` (``make demo``): the whole fleet on 127.0.0.1, driven by real clients.

It builds a local PKI shaped like the deployed one (root, issuing CA whose certificates carry an
AIA OCSP URL, a server certificate for the endpoint name, devices: good ones, a revoked one, and
one from a rogue CA that has the issuing CA's name and issues the same device name), starts a
real ``openssl ocsp`` responder for the issuing CA, mosquitto, and the local IoT Core look-alike
endpoint (``ocsp_iot.local.endpoint``) with the pre-auth handler deciding and the stapling
handler stapling. Then it connects devices as a user would against IoT Core, one step after the
other (:data:`SCENARIO`), and compares what each client saw with what was expected:

- with ``mosquitto_sub`` / ``mosquitto_pub``: the good devices connect and the message arrives;
  the revoked and the rogue device are refused;
- with ``openssl s_client``: a device without SNI is refused, and ``-status`` shows the staple;
- with the responder stopped: a good device whose cached answer went stale is still allowed
  (stale-if-error), an unknown one is refused (fail closed); then, the endpoint restarted with
  ``OCSP_FAIL_MODE=open``, allowed (fail open), and so is the revoked device: the price of fail
  open.

Every process it starts is stopped at the end, also on failure, Ctrl-C or SIGTERM; everything
listens on 127.0.0.1 only; files go to a temporary folder (``--keep DIR`` keeps them).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ocsp_iot._progress import progress
from ocsp_iot.device import CHAIN_FILE, DEVICE_CERT_FILE, KEY_FILE
from ocsp_iot.errors import InputError, MissingExtraError, MissingProgramError
from ocsp_iot.local.broker import Mosquitto, mosquitto_binary, mosquitto_client
from ocsp_iot.local.pki import Issued, LocalPki
from ocsp_iot.local.responder import OpensslResponder, openssl_binary

if TYPE_CHECKING:
    from ocsp_iot.local.endpoint import ConnectionRecord, LocalEndpoint, Recorder

DEFAULT_SERVER_NAME = "iot.example.test"
#: The demo shortens the cache so that an answer goes stale within the run; stale-if-error then
#: keeps it usable this long while the responder is down.
CACHE_MAX_SECONDS = 2
STALE_IF_ERROR_SECONDS = 300
#: Upper bound on each client (the machine may be busy; nothing here measures speed).
CLIENT_TIMEOUT_SECONDS = 30.0
#: How long ``mosquitto_sub`` waits for the message.
SUBSCRIBE_WAIT_SECONDS = 15
MESSAGE = '{"temperature": 21.5}'
TOPIC = "devices/sensor-1/telemetry"
PRESENTED_FILE = "presented.pem"

_log = logging.getLogger("ocsp_iot.demo")


class Client(enum.StrEnum):
    """How a step connects."""

    SUBSCRIBE = "mosquitto_sub"
    PUBLISH = "mosquitto_pub"
    #: ``mosquitto_pub -h 127.0.0.1``: the SNI is an IP address, not the endpoint's name.
    BY_ADDRESS = "mosquitto_pub -h 127.0.0.1"
    NO_SNI = "openssl s_client -noservername"
    STAPLE = "openssl s_client -status"


class Expect(enum.StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    STAPLED_GOOD = "staple: good"


@dataclass(frozen=True)
class DemoDevice:
    """A device of the demo PKI: ``name`` is its folder and label, ``thing_name`` its CN and
    MQTT client id."""

    name: str
    thing_name: str
    revoked: bool = False
    rogue: bool = False


DEVICES: tuple[DemoDevice, ...] = (
    DemoDevice("sensor-1", "sensor-1"),
    DemoDevice("sensor-2", "sensor-2"),
    DemoDevice("sensor-3", "sensor-3", revoked=True),
    DemoDevice("sensor-4", "sensor-4"),
    # the rogue CA has the issuing CA's name; its device has sensor-1's
    DemoDevice("sensor-1 (rogue CA)", "sensor-1", rogue=True),
)


@dataclass(frozen=True)
class Step:
    """One client connection and what it must show.

    ``reason`` is the reason the endpoint must report (the pre-auth handler's, or ``SNI``);
    ``None``: not checked. Steps that need the responder down come after those that need it
    up; a change of ``fail_mode`` restarts the endpoint (its handler starts with an empty cache).
    """

    device: str
    client: Client
    expect: Expect
    reason: str | None
    why: str
    responder_up: bool = True
    fail_mode: str = "closed"


SCENARIO: tuple[Step, ...] = (
    Step("sensor-2", Client.SUBSCRIBE, Expect.ALLOWED, "GOOD", f"subscribes to {TOPIC}"),
    Step("sensor-1", Client.PUBLISH, Expect.ALLOWED, "GOOD", "publishes; sensor-2 receives it"),
    Step("sensor-3", Client.PUBLISH, Expect.REFUSED, "REVOKED", "revoked at the CA"),
    Step(
        "sensor-1 (rogue CA)",
        Client.PUBLISH,
        Expect.REFUSED,
        "UNTRUSTED_ISSUER",
        "a CA with the issuing CA's name, another key",
    ),
    Step("sensor-2", Client.NO_SNI, Expect.REFUSED, "SNI", "no SNI (IoT Core requires it)"),
    Step("sensor-2", Client.BY_ADDRESS, Expect.REFUSED, "SNI", "SNI is an IP address"),
    Step("sensor-2", Client.STAPLE, Expect.STAPLED_GOOD, None, "the endpoint's OCSP staple"),
    Step(
        "sensor-1",
        Client.PUBLISH,
        Expect.ALLOWED,
        "STALE_IF_ERROR",
        "its cached answer is stale, within stale-if-error",
        responder_up=False,
    ),
    Step(
        "sensor-4",
        Client.PUBLISH,
        Expect.REFUSED,
        "RESPONDER_UNAVAILABLE",
        "nothing cached: fail closed",
        responder_up=False,
    ),
    Step(
        "sensor-4",
        Client.PUBLISH,
        Expect.ALLOWED,
        "FAIL_OPEN",
        "nothing cached: fail open",
        responder_up=False,
        fail_mode="open",
    ),
    Step(
        "sensor-3",
        Client.PUBLISH,
        Expect.ALLOWED,
        "FAIL_OPEN",
        "revoked, yet let in: the price of fail open",
        responder_up=False,
        fail_mode="open",
    ),
)


@dataclass(frozen=True)
class Row:
    """What one step showed."""

    step: Step
    observed: str
    reason: str
    latency_ms: float | None
    detail: str
    command: tuple[str, ...]

    @property
    def matched(self) -> bool:
        if self.observed != self.step.expect.value:
            return False
        return self.step.reason is None or self.reason == self.step.reason

    def as_json(self) -> dict[str, Any]:
        return {
            "device": self.step.device,
            "client": self.step.client.value,
            "responder": "up" if self.step.responder_up else "down",
            "failMode": self.step.fail_mode,
            "expected": self.step.expect.value,
            "expectedReason": self.step.reason,
            "observed": self.observed,
            "reason": self.reason,
            "latencyMs": self.latency_ms,
            "why": self.step.why,
            "detail": self.detail,
            "command": list(self.command),
            "matched": self.matched,
        }


@dataclass
class DemoReport:
    server_name: str
    rows: list[Row] = field(default_factory=list)
    endpoint: str = ""
    responder_url: str = ""
    responder_requests: int = 0
    broker: str = ""
    kept: Path | None = None

    @property
    def mismatches(self) -> list[Row]:
        return [row for row in self.rows if not row.matched]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.mismatches

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "serverName": self.server_name,
            "endpoint": self.endpoint,
            "responder": {"url": self.responder_url, "requests": self.responder_requests},
            "broker": self.broker,
            "settings": {
                "OCSP_CACHE_MAX_SECONDS": CACHE_MAX_SECONDS,
                "OCSP_STALE_IF_ERROR_SECONDS": STALE_IF_ERROR_SECONDS,
            },
            "rows": [row.as_json() for row in self.rows],
            "matched": len(self.rows) - len(self.mismatches),
            "mismatched": len(self.mismatches),
            "keptIn": None if self.kept is None else str(self.kept),
        }

    def as_text(self) -> str:
        header = ("device", "client", "expected", "observed", "reason", "latency")
        cells = [
            (
                row.step.device,
                row.step.client.value,
                row.step.expect.value,
                row.observed,
                row.reason,
                "" if row.latency_ms is None else f"{row.latency_ms:.1f} ms",
            )
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        out = [
            f"ocsp-iot demo: endpoint {self.server_name} on {self.endpoint}, responder "
            f"{self.responder_url} (openssl ocsp), mosquitto on {self.broker}",
            "",
            "  " + line(header),
        ]
        phase: tuple[bool, str] | None = None
        for row, values in zip(self.rows, cells, strict=True):
            step = row.step
            current = (step.responder_up, step.fail_mode)
            if current != phase:
                restarted = phase is not None and phase[1] != step.fail_mode
                phase = current
                out.append(_phase_title(step, restarted=restarted))
            mark = "" if row.matched else f"   <- MISMATCH: expected {_expected(step)}"
            out.append("  " + line(values) + mark)
        out += [
            "",
            "latency: at the endpoint, from the TCP accept to its decision (TLS handshake and "
            "pre-auth handler)",
            f"responder requests: {self.responder_requests}",
        ]
        if self.kept is not None:
            out.append(f"files kept in {self.kept}")
        if self.ok:
            out.append(f"all {len(self.rows)} steps as expected")
        else:
            out.append(f"{len(self.mismatches)} of {len(self.rows)} steps NOT as expected")
        return "\n".join(out)


def _expected(step: Step) -> str:
    return step.expect.value + ("" if step.reason is None else f" ({step.reason})")


def _phase_title(step: Step, *, restarted: bool) -> str:
    responder = "responder up" if step.responder_up else "responder stopped"
    title = f"{responder}, OCSP_FAIL_MODE={step.fail_mode}"
    if restarted:
        title += " (endpoint restarted: the handler starts with an empty cache)"
    return title + ":"


# -- set-up ------------------------------------------------------------------------------------


def check_programs() -> None:
    """Every program the demo runs, or one error naming each missing one."""
    problems: list[str] = []
    for find in (
        openssl_binary,
        mosquitto_binary,
        lambda: mosquitto_client("mosquitto_pub"),
        lambda: mosquitto_client("mosquitto_sub"),
    ):
        try:
            find()
        except MissingProgramError as exc:
            problems.append(str(exc))
    if problems:
        raise MissingProgramError("; ".join(problems))


def check_scenario(steps: Sequence[Step]) -> None:
    """A scenario the runner can play: known devices, and the responder never back up."""
    known = {device.name for device in DEVICES}
    down = False
    for index, step in enumerate(steps, start=1):
        if step.device not in known:
            raise InputError(f"step {index}: no device {step.device!r} (known: {sorted(known)})")
        if step.fail_mode not in ("closed", "open"):
            raise InputError(f"step {index}: fail_mode must be closed or open")
        if down and step.responder_up:
            raise InputError(f"step {index}: the responder cannot come back once stopped")
        down = down or not step.responder_up


def _endpoint_module() -> Any:
    try:
        from ocsp_iot.local import endpoint  # noqa: PLC0415 - pyOpenSSL, optional extra
    except ImportError as exc:
        raise MissingExtraError(command="ocsp-iot demo", module="pyOpenSSL", extra="cli") from exc
    return endpoint


def _folder(keep: Path | None) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="ocsp-iot-demo-"))
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise InputError(f"--keep {keep}: must be a new or empty folder")
    keep.mkdir(parents=True, exist_ok=True)
    return keep


@dataclass(frozen=True)
class Files:
    """The demo's PKI on disk."""

    folder: Path
    pki: LocalPki
    server: Issued
    devices: Mapping[str, Path]

    @property
    def root_pem(self) -> Path:
        return self.folder / "root.pem"

    def presented(self, device: str) -> Path:
        return self.devices[device] / PRESENTED_FILE

    def key(self, device: str) -> Path:
        return self.devices[device] / KEY_FILE

    def certificate(self, device: str) -> Path:
        return self.devices[device] / DEVICE_CERT_FILE


def _make_files(
    folder: Path, pki: LocalPki, responder: OpensslResponder, server_name: str
) -> Files:
    server = pki.issue_server(server_name, ocsp_url=responder.url)
    responder.set_good(server.certificate)
    pki.root.write(folder / "root.pem")
    pki.issuing_ca.write(folder / "issuing-ca.pem")
    pki.rogue_ca.write(folder / "rogue-ca.pem")
    (folder / "server").mkdir()
    server.write(folder / "server" / "server.pem")
    devices: dict[str, Path] = {}
    for device in DEVICES:
        issued = pki.issue_device(device.thing_name, ocsp_url=responder.url, rogue=device.rogue)
        if device.revoked:
            responder.set_revoked(issued.certificate)
        elif not device.rogue:
            responder.set_good(issued.certificate)
        path = folder / "devices" / device.name.replace(" ", "-").replace("(", "").replace(")", "")
        pki.write_device(path, issued)
        (path / PRESENTED_FILE).write_bytes(
            (path / DEVICE_CERT_FILE).read_bytes() + (path / CHAIN_FILE).read_bytes()
        )
        devices[device.name] = path
    return Files(folder, pki, server, devices)


def preauth_env(responder_url: str, issuing_ca_pem: str, fail_mode: str) -> dict[str, str]:
    """What the construct would give the pre-auth Lambda (trusting the issuing CA, its
    responder allowed), with the demo's short cache and stale-if-error window."""
    return {
        "TRUSTED_CA_PEM": issuing_ca_pem,
        "OCSP_ALLOWED_URLS": responder_url,
        "OCSP_FAIL_MODE": fail_mode,
        "OCSP_CACHE_MAX_SECONDS": str(CACHE_MAX_SECONDS),
        "OCSP_STALE_IF_ERROR_SECONDS": str(STALE_IF_ERROR_SECONDS),
    }


def device_tls_args(
    *, port: int, server_name: str, root_pem: Path, presented: Path, key: Path
) -> list[str]:
    """mosquitto client options that reach the local endpoint on ``port`` as a device would
    reach IoT Core: ``-h`` is the endpoint's name (libmosquitto sends it as SNI), through the
    endpoint's SOCKS5 shim, so no DNS entry is needed."""
    return [
        "-h",
        server_name,
        "-p",
        "8883",
        "--proxy",
        f"socks5h://127.0.0.1:{port}",
        "--cafile",
        str(root_pem),
        "--cert",
        str(presented),
        "--key",
        str(key),
    ]


# -- running -----------------------------------------------------------------------------------

_STAPLE_STATUS = re.compile(r"OCSP Response Status: (\w+)")
_CERT_STATUS = re.compile(r"Cert Status: (\w+)")


def parse_s_client_status(output: str) -> tuple[str, str]:
    """What ``openssl s_client -status`` printed about the staple: the observed value
    (``staple: good``, ``no staple``, ...) and its ``OCSP Response Status`` and ``Cert Status``
    (``successful, good``)."""
    if "OCSP response: no response sent" in output:
        return "no staple", "OCSP response: no response sent"
    response = _STAPLE_STATUS.search(output)
    status = _CERT_STATUS.search(output)
    if response is None:
        return "no staple", "no 'OCSP response' in the output"
    if status is None:
        return f"staple: {response.group(1)}", response.group(1)
    return f"staple: {status.group(1)}", f"{response.group(1)}, {status.group(1)}"


@dataclass
class _Pending:
    """A ``mosquitto_sub`` waiting for the message, and its row so far."""

    index: int
    process: subprocess.Popen[str]
    record: ConnectionRecord | None
    command: tuple[str, ...]


class _Run:
    """The processes and the endpoint of one demo run; ``close`` stops everything."""

    def __init__(self, files: Files, responder: OpensslResponder, broker: Mosquitto) -> None:
        self.files = files
        self.responder = responder
        self.broker = broker
        self.last_decision = time.monotonic()
        self.endpoint: LocalEndpoint | None = None
        self.stapling: Any = None
        self.recorder: Recorder = _endpoint_module().Recorder()
        self.fail_mode: str | None = None
        self.children: list[subprocess.Popen[str]] = []
        self.pending: list[_Pending] = []

    # -- the endpoint ------------------------------------------------------------------------
    def use_endpoint(self, server_name: str, fail_mode: str) -> LocalEndpoint:
        if self.endpoint is not None and self.fail_mode == fail_mode:
            return self.endpoint
        self.stop_endpoint()
        from ocsp_iot._lambda import StaplingFunction  # noqa: PLC0415

        endpoint_module = _endpoint_module()
        issuing_pem = self.files.pki.issuing_ca.pem.decode("ascii")
        self.stapling = StaplingFunction(
            {"OCSP_RESPONDER_URL": self.responder.url, "TRUSTED_CA_PEM": issuing_pem}
        )
        endpoint: LocalEndpoint = endpoint_module.LocalEndpoint(
            server_name=server_name,
            certificate=self.files.server.certificate,
            chain=[self.files.pki.issuing_ca.certificate],
            private_key=self.files.server.key,
            broker=self.broker.address,
            preauth_env=preauth_env(self.responder.url, issuing_pem, fail_mode),
            staple_source=self.stapling,
            on_connection=self.recorder,
        )
        endpoint.start()
        self.endpoint, self.fail_mode = endpoint, fail_mode
        return endpoint

    def stop_endpoint(self) -> None:
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is not None:
            endpoint.stop()
        if self.stapling is not None:
            self.stapling.close()
            self.stapling = None

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
        self.stop_endpoint()

    # -- clients -----------------------------------------------------------------------------
    def _record(self, before: int) -> ConnectionRecord | None:
        records = self.recorder.wait(before, 1, timeout=CLIENT_TIMEOUT_SECONDS)
        return records[0] if records else None

    def _spawn(self, command: Sequence[str], *, stdin: int) -> subprocess.Popen[str]:
        """Start a client; ``close`` stops it if it is still running then."""
        process = subprocess.Popen(  # noqa: S603 - our clients, our arguments
            list(command),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.children.append(process)
        return process

    def _run(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        process = self._spawn(command, stdin=subprocess.PIPE)
        try:
            out, err = process.communicate("", timeout=CLIENT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=5)
        return subprocess.CompletedProcess(list(command), process.returncode, out, err)

    def mqtt_args(self, device: str, endpoint: LocalEndpoint) -> list[str]:
        thing = next(d.thing_name for d in DEVICES if d.name == device)
        return [
            *device_tls_args(
                port=endpoint.port,
                server_name=endpoint.server_name,
                root_pem=self.files.root_pem,
                presented=self.files.presented(device),
                key=self.files.key(device),
            ),
            "-i",
            thing,
        ]

    def play(self, step: Step, endpoint: LocalEndpoint, rows: list[Row]) -> None:
        before = len(self.recorder)
        if step.client is Client.SUBSCRIBE:
            self._subscribe(step, endpoint, rows, before)
            return
        if step.client in (Client.PUBLISH, Client.BY_ADDRESS):
            command = self._publish_command(step, endpoint)
            done = self._run(command)
            record = self._record(before)
            observed = Expect.ALLOWED.value if done.returncode == 0 else Expect.REFUSED.value
            rows.append(_row(step, observed, record, command, _last_line(done.stderr)))
            if step.client is Client.PUBLISH and done.returncode == 0:
                self.collect_subscribers(rows)
            return
        command = self._s_client_command(step, endpoint)
        done = self._run(command)
        record = self._record(before)
        if step.client is Client.STAPLE:
            observed, lines = parse_s_client_status(done.stdout)
            verified = "Verify return code: 0 (ok)" in done.stdout
            detail = f"server certificate {'verified' if verified else 'NOT verified'}"
            rows.append(replace(_row(step, observed, record, command, detail), reason=lines))
            return
        observed = Expect.ALLOWED.value if done.returncode == 0 else Expect.REFUSED.value
        alert = "alert handshake failure" if "alert handshake failure" in done.stderr else ""
        rows.append(_row(step, observed, record, command, alert))

    def _publish_command(self, step: Step, endpoint: LocalEndpoint) -> list[str]:
        args = self.mqtt_args(step.device, endpoint)
        if step.client is Client.BY_ADDRESS:  # straight to the port, by address
            args[0:6] = ["-h", "127.0.0.1", "-p", str(endpoint.port)]
        return [
            mosquitto_client("mosquitto_pub"),
            *args,
            "-t",
            TOPIC,
            "-m",
            MESSAGE,
            "-q",
            "1",
            "-r",
        ]

    def _s_client_command(self, step: Step, endpoint: LocalEndpoint) -> list[str]:
        name = ["-noservername"] if step.client is Client.NO_SNI else ["-servername"]
        if step.client is not Client.NO_SNI:
            name.append(endpoint.server_name)
        return [
            openssl_binary(),
            "s_client",
            "-connect",
            f"127.0.0.1:{endpoint.port}",
            *name,
            *(["-status"] if step.client is Client.STAPLE else []),
            "-CAfile",
            str(self.files.root_pem),
            "-cert",
            str(self.files.certificate(step.device)),
            "-key",
            str(self.files.key(step.device)),
        ]

    def _subscribe(self, step: Step, endpoint: LocalEndpoint, rows: list[Row], before: int) -> None:
        command = (
            mosquitto_client("mosquitto_sub"),
            *self.mqtt_args(step.device, endpoint),
            "-t",
            TOPIC,
            "-C",
            "1",
            "-W",
            str(SUBSCRIBE_WAIT_SECONDS),
        )
        process = self._spawn(command, stdin=subprocess.DEVNULL)
        record = self._record(before)
        rows.append(_row(step, "waiting", record, command, ""))
        self.pending.append(_Pending(len(rows) - 1, process, record, command))

    def collect_subscribers(self, rows: list[Row]) -> None:
        """Wait for every ``mosquitto_sub`` started so far and fill in its row."""
        for pending in self.pending:
            try:
                out, err = pending.process.communicate(timeout=CLIENT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                pending.process.kill()
                out, err = pending.process.communicate(timeout=5)
            step = rows[pending.index].step
            if pending.process.returncode == 0 and out.strip() == MESSAGE:
                observed, detail = Expect.ALLOWED.value, f"received {out.strip()}"
            elif pending.record is not None and pending.record.outcome.value == "ALLOWED":
                observed, detail = "allowed, no message", _last_line(err) or out.strip()
            else:
                observed, detail = Expect.REFUSED.value, _last_line(err)
            rows[pending.index] = _row(step, observed, pending.record, pending.command, detail)
        self.pending.clear()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _row(
    step: Step,
    observed: str,
    record: ConnectionRecord | None,
    command: Sequence[str],
    detail: str,
) -> Row:
    if record is None:
        return Row(
            step, observed, "no record", None, "the endpoint saw no connection", tuple(command)
        )
    latency = None
    if record.handshake_ms is not None:
        latency = round(record.handshake_ms + (record.check_ms or 0.0), 1)
    reason = record.reason or record.outcome.value
    parts = [p for p in (record.detail, detail) if p]
    return Row(step, observed, reason, latency, "; ".join(parts), tuple(command))


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C (so its processes are stopped), in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _endpoint_log(path: Path) -> Iterator[None]:
    """The endpoint's log lines go to ``path`` (not the terminal) while the demo runs."""
    logger = logging.getLogger("ocsp_iot.local")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _wait_until_stale(run: _Run) -> None:
    """After the responder stops: wait until every answer cached so far is past
    ``OCSP_CACHE_MAX_SECONDS`` (no longer fresh), so the next decisions face the outage."""
    wait = run.last_decision + CACHE_MAX_SECONDS + 0.5 - time.monotonic()
    if wait > 0:
        with progress(
            f"waiting {wait:.1f} s until the cached answers are older than "
            f"OCSP_CACHE_MAX_SECONDS={CACHE_MAX_SECONDS}"
        ):
            time.sleep(wait)


def run_demo(
    *,
    keep: Path | None = None,
    server_name: str = DEFAULT_SERVER_NAME,
    steps: Sequence[Step] = SCENARIO,
) -> DemoReport:
    """Play ``steps`` against a fresh local fleet; every process started is stopped on return,
    on any error and on ``KeyboardInterrupt`` (and SIGTERM, in the main thread)."""
    check_scenario(steps)
    check_programs()
    _endpoint_module()
    report = DemoReport(server_name=server_name)
    folder = _folder(keep)
    with contextlib.ExitStack() as stack:
        if keep is None:
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        else:
            report.kept = folder
        stack.enter_context(_terminate_as_interrupt())
        stack.enter_context(_endpoint_log(folder / "endpoint.log"))
        with progress("building the local PKI, starting openssl ocsp, mosquitto and the endpoint"):
            pki = LocalPki.create(name="Demo")
            responder = stack.enter_context(
                OpensslResponder(
                    ca=pki.issuing_ca.certificate,
                    signer=pki.issuing_ca.certificate,
                    signer_key=pki.issuing_ca.key,
                    folder=folder / "responder",
                )
            )
            files = _make_files(folder, pki, responder, server_name)
            broker = stack.enter_context(Mosquitto())
            run = _Run(files, responder, broker)
            stack.callback(run.close)
            endpoint = run.use_endpoint(server_name, steps[0].fail_mode if steps else "closed")
        report.responder_url, report.broker = responder.url, f"127.0.0.1:{broker.port}"
        report.endpoint = f"127.0.0.1:{endpoint.port}"
        for step in steps:
            if not step.responder_up and not responder.server.closed:
                run.collect_subscribers(report.rows)
                responder.stop()
                _wait_until_stale(run)
            endpoint = run.use_endpoint(server_name, step.fail_mode)
            with progress(f"{step.device}: {step.client.value}"):
                run.play(step, endpoint, report.rows)
            run.last_decision = time.monotonic()
        run.collect_subscribers(report.rows)
        report.responder_requests = responder.request_count
    return report


def demo_exit_code(report: DemoReport) -> int:
    """0 when every step showed what was expected, 1 otherwise."""
    return 0 if report.ok else 1


__all__ = [
    "DEVICES",
    "SCENARIO",
    "Client",
    "DemoDevice",
    "DemoReport",
    "Expect",
    "Row",
    "Step",
    "check_programs",
    "demo_exit_code",
    "device_tls_args",
    "parse_s_client_status",
    "preauth_env",
    "run_demo",
]
