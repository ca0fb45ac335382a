"""``ocsp-iot demo``: the whole scenario end to end, as ``make demo`` runs it (a real process,
real mosquitto clients, real TLS, a real ``openssl ocsp`` responder), and its error paths: a
missing program, a step that does not show what was expected, an interrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocsp_iot import demo
from ocsp_iot.cli import ExitCode, main
from ocsp_iot.demo import SCENARIO, Client, Expect, Step, run_demo
from ocsp_iot.errors import InputError
from ocsp_iot.local import broker

#: Generous bound on one demo run (a few seconds on an idle machine).
DEMO_TIMEOUT = 120


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str | None:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


class Descendants:
    """Every process below ``pid`` seen while it runs (polled), with its command line."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            queue = [self.pid]
            while queue:
                for child in _children_of(queue.pop()):
                    line = _cmdline(child)
                    if line:  # the latest: a child just forked still shows its parent's
                        self.seen[child] = line
                    queue.append(child)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def named(self, name: str) -> list[int]:
        return [pid for pid, line in self.seen.items() if Path(line.split()[0]).name == name]

    def still_running(self) -> list[str]:
        return [line for pid, line in self.seen.items() if _cmdline(pid) == line]


def _start_demo(*args: str, tmpdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.Popen(
        [sys.executable, "-m", "ocsp_iot", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One ``ocsp-iot demo --json --keep DIR`` run, with every process it started."""
    folder = tmp_path_factory.mktemp("demo")
    tmpdir = folder / "tmp"
    tmpdir.mkdir()
    process = _start_demo("--json", "--keep", str(folder / "kept"), tmpdir=tmpdir)
    watch = Descendants(process.pid)
    try:
        out, err = process.communicate(timeout=DEMO_TIMEOUT)
    finally:
        watch.stop()
    yield {
        "code": process.returncode,
        "json": json.loads(out),
        "stderr": err,
        "watch": watch,
        "kept": folder / "kept",
        "tmpdir": tmpdir,
    }


def _rows(run: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["device"], r["client"], r["failMode"]): r for r in run["json"]["rows"]}


def test_every_step_shows_what_was_expected(demo_run: dict[str, Any]) -> None:
    report = demo_run["json"]
    assert demo_run["code"] == 0, json.dumps(report, indent=2)
    assert report["ok"] is True and report["exitCode"] == 0
    assert report["mismatched"] == 0 and report["matched"] == len(SCENARIO)
    observed = [(r["device"], r["client"], r["observed"], r["reason"]) for r in report["rows"]]
    assert observed == [
        ("sensor-2", "mosquitto_sub", "allowed", "GOOD"),
        ("sensor-1", "mosquitto_pub", "allowed", "GOOD"),
        ("sensor-3", "mosquitto_pub", "refused", "REVOKED"),
        ("sensor-1 (rogue CA)", "mosquitto_pub", "refused", "UNTRUSTED_ISSUER"),
        ("sensor-2", "openssl s_client -noservername", "refused", "SNI"),
        ("sensor-2", "mosquitto_pub -h 127.0.0.1", "refused", "SNI"),
        ("sensor-2", "openssl s_client -status", "staple: good", "successful, good"),
        ("sensor-1", "mosquitto_pub", "allowed", "STALE_IF_ERROR"),
        ("sensor-4", "mosquitto_pub", "refused", "RESPONDER_UNAVAILABLE"),
        ("sensor-4", "mosquitto_pub", "allowed", "FAIL_OPEN"),
        ("sensor-3", "mosquitto_pub", "allowed", "FAIL_OPEN"),
    ]


def test_the_subscriber_receives_the_good_devices_message(demo_run: dict[str, Any]) -> None:
    subscriber = _rows(demo_run)[("sensor-2", "mosquitto_sub", "closed")]
    assert subscriber["detail"].endswith(f"received {demo.MESSAGE}")
    assert subscriber["command"][0].endswith("mosquitto_sub")
    assert "-C" in subscriber["command"]  # it exits after exactly one message


def test_refusals_come_from_the_endpoint_for_the_right_cause(demo_run: dict[str, Any]) -> None:
    rows = _rows(demo_run)
    assert rows[("sensor-2", "openssl s_client -noservername", "closed")]["detail"] == (
        "the client sent no SNI; alert handshake failure"
    )
    assert (
        "is not iot.example.test"
        in rows[("sensor-2", "mosquitto_pub -h 127.0.0.1", "closed")]["detail"]
    )
    assert rows[("sensor-3", "mosquitto_pub", "closed")]["detail"].startswith("revoked at ")
    staple = rows[("sensor-2", "openssl s_client -status", "closed")]
    assert staple["detail"].endswith("server certificate verified")
    # every connection was timed by the endpoint
    assert all(r["latencyMs"] is not None and r["latencyMs"] > 0 for r in demo_run["json"]["rows"])


def test_the_outage_rows_run_with_the_responder_stopped(demo_run: dict[str, Any]) -> None:
    report = demo_run["json"]
    down = [r for r in report["rows"] if r["responder"] == "down"]
    assert [(r["device"], r["failMode"]) for r in down] == [
        ("sensor-1", "closed"),
        ("sensor-4", "closed"),
        ("sensor-4", "open"),
        ("sensor-3", "open"),
    ]
    # requests only while it was up: the server certificate and the devices seen then, each
    # answer cached (sensor-2 twice at most: its answer may expire between its two connections)
    assert 4 <= report["responder"]["requests"] <= 6
    assert "waiting" in demo_run["stderr"]  # the stale wait took over a second: progress line


def test_every_process_it_started_is_gone(demo_run: dict[str, Any]) -> None:
    watch: Descendants = demo_run["watch"]
    # the long-lived ones are always caught by the polling (an openssl run may be too short)
    for name in ("mosquitto", "mosquitto_sub"):
        assert watch.named(name), f"no {name} seen: {sorted(watch.seen.values())}"
    assert watch.still_running() == []


def test_kept_files_and_nothing_else_left_behind(demo_run: dict[str, Any]) -> None:
    kept: Path = demo_run["kept"]
    assert demo_run["json"]["keptIn"] == str(kept)
    for name in ("root.pem", "issuing-ca.pem", "rogue-ca.pem", "server/server.pem"):
        assert (kept / name).is_file(), name
    assert (kept / "devices" / "sensor-1" / "device.key").stat().st_mode & 0o077 == 0
    assert "ALLOWED: GOOD" in (kept / "endpoint.log").read_text()
    assert list(demo_run["tmpdir"].iterdir()) == []  # mosquitto's and the responder's own


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_everything(tmp_path: Path, sig: signal.Signals) -> None:
    process = _start_demo(tmpdir=tmp_path)
    watch = Descendants(process.pid)
    try:
        deadline = time.monotonic() + DEMO_TIMEOUT
        while not watch.named("mosquitto_sub") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watch.named("mosquitto_sub"), process.communicate(timeout=DEMO_TIMEOUT)
        process.send_signal(sig)  # the demo alone, not its process group
        _out, err = process.communicate(timeout=DEMO_TIMEOUT)
    finally:
        watch.stop()
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert err.endswith("ocsp-iot: error: interrupted\n")
    assert "Traceback" not in err
    assert watch.named("mosquitto")
    assert watch.still_running() == []
    assert list(tmp_path.iterdir()) == []  # the temporary folders are removed too


@pytest.fixture
def without_mosquitto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with openssl and the mosquitto clients, but no broker (nor in the sbin folders)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("openssl", "mosquitto_pub", "mosquitto_sub"):
        found = shutil.which(name)
        assert found is not None
        (bin_dir / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(broker, "SBIN_FOLDERS", ())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    return work


def test_fails_when_mosquitto_is_missing_with_one_clear_error(
    without_mosquitto: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == ExitCode.MISSING_PROGRAM
    assert int(ExitCode.MISSING_PROGRAM) == 10
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "ocsp-iot: error: mosquitto is not installed: install the Debian packages mosquitto "
        "and mosquitto-clients (`make setup` does)\n"
    )
    assert list(without_mosquitto.iterdir()) == []  # nothing was made or started


def test_fails_naming_every_missing_program_as_json(
    without_mosquitto: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (without_mosquitto.parent / "bin" / "mosquitto_sub").unlink()
    assert main(["demo", "--json"]) == 10
    payload = json.loads(capsys.readouterr().out)
    assert payload == {
        "error": "mosquitto is not installed: install the Debian packages mosquitto and "
        "mosquitto-clients (`make setup` does); mosquitto_sub is not installed: install the "
        "Debian packages mosquitto and mosquitto-clients (`make setup` does)",
        "exitCode": 10,
    }


def test_fails_when_the_keep_folder_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "something").write_text("mine")
    assert main(["demo", "--keep", str(tmp_path)]) == ExitCode.INPUT_ERROR
    assert capsys.readouterr().err == (
        f"ocsp-iot: error: --keep {tmp_path}: must be a new or empty folder\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["something"]


def test_a_step_that_shows_something_else_is_a_mismatch(tmp_path: Path) -> None:
    steps = (
        Step("sensor-1", Client.PUBLISH, Expect.ALLOWED, "GOOD", "as expected"),
        # wrong on purpose: the revoked device is refused, not allowed
        Step("sensor-3", Client.PUBLISH, Expect.ALLOWED, "GOOD", "expects the wrong verdict"),
        # right verdict, wrong reason: it is refused as REVOKED
        Step("sensor-3", Client.PUBLISH, Expect.REFUSED, "UNKNOWN", "expects the wrong reason"),
    )
    report = run_demo(steps=steps, keep=tmp_path / "kept")
    assert not report.ok
    assert demo.demo_exit_code(report) == 1
    assert [(r.observed, r.reason, r.matched) for r in report.rows] == [
        ("allowed", "GOOD", True),
        ("refused", "REVOKED", False),
        ("refused", "REVOKED", False),
    ]
    text = report.as_text().splitlines()
    header = next(line for line in text if line.strip().startswith("device"))
    assert header.split() == ["device", "client", "expected", "observed", "reason", "latency"]
    assert text[-1] == "2 of 3 steps NOT as expected"
    assert "<- MISMATCH: expected allowed (GOOD)" in text[5]
    assert "<- MISMATCH: expected refused (UNKNOWN)" in text[6]
    assert "responder up, OCSP_FAIL_MODE=closed:" in text
    document = report.as_json()
    assert (document["ok"], document["matched"], document["mismatched"]) == (False, 1, 2)
    assert set(document["rows"][0]) == {
        "device",
        "client",
        "responder",
        "failMode",
        "expected",
        "expectedReason",
        "observed",
        "reason",
        "latencyMs",
        "why",
        "detail",
        "command",
        "matched",
    }


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ((Step("sensor-9", Client.PUBLISH, Expect.ALLOWED, "GOOD", ""),), "no device 'sensor-9'"),
        (
            (
                Step("sensor-1", Client.PUBLISH, Expect.ALLOWED, "GOOD", "", responder_up=False),
                Step("sensor-1", Client.PUBLISH, Expect.ALLOWED, "GOOD", ""),
            ),
            "step 2: the responder cannot come back once stopped",
        ),
        (
            (Step("sensor-1", Client.PUBLISH, Expect.ALLOWED, "GOOD", "", fail_mode="maybe"),),
            "step 1: fail_mode must be closed or open",
        ),
    ],
)
def test_fails_on_a_scenario_it_cannot_play(steps: tuple[Step, ...], problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        run_demo(steps=steps)


def test_reads_what_s_client_says_when_no_staple_came() -> None:
    assert demo.parse_s_client_status("CONNECTED(00000003)\nOCSP response: no response sent\n") == (
        "no staple",
        "OCSP response: no response sent",
    )
