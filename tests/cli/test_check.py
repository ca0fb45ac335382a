"""``ocsp-iot check`` against a real ``openssl ocsp`` responder: the real pre-auth handler's
decision and reason, the answer summarised with the Lambda's core, and every error path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ocsp_iot import check as check_module
from ocsp_iot.cli import ExitCode, run
from ocsp_iot.device import write_device_folder
from tests.lambdas.support.loopback import RawListener
from tests.local.support import LocalPkiFiles


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = _check(capsys, *argv, "--json")
    data: dict[str, Any] = json.loads(out)
    assert data["exitCode"] == code
    return code, data


def test_a_good_device_is_allowed(files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _check(capsys, str(files.devices["good"]), "--ca", str(files.issuing_ca_pem))
    assert code == ExitCode.OK, out + err
    assert "decision:  ALLOW (GOOD)" in out
    assert f"responder: {files.responder.url} (the certificate's AIA)" in out
    assert "answer:    good (verified, signed by the issuer CN=Test Issuing CA" in out
    assert "nextUpdate 20" in out
    assert err == ""  # quick: no progress line


def test_the_json_answer_summarises_the_responder(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = _json(capsys, str(files.devices["good"]), "--ca", str(files.issuing_ca_pem))
    assert code == 0
    assert (data["verdict"], data["reason"], data["allowed"]) == ("ALLOW", "GOOD", True)
    answer = data["answer"]
    assert (answer["status"], answer["verified"], answer["signer"]) == ("GOOD", True, "issuer")
    assert answer["thisUpdate"] < answer["nextUpdate"]
    assert data["device"]["subject"] == "CN=good-thing,O=ocsp-iot local PKI"
    assert data["device"]["chainSent"] == ["CN=Test Issuing CA,O=ocsp-iot local PKI"]
    assert data["responder"] == {"url": files.responder.url, "source": "the certificate's AIA"}


def test_a_certificate_file_works_like_a_device_folder(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = files.devices["good"] / "device.pem"
    code, data = _json(capsys, str(pem), "--ca", str(files.issuing_ca_pem))
    assert (code, data["reason"], data["device"]["chainSent"]) == (0, "GOOD", [])


@pytest.mark.parametrize(
    ("device", "reason"),
    [("revoked", "REVOKED"), ("unknown", "UNKNOWN"), ("rogue", "UNTRUSTED_ISSUER")],
)
def test_a_device_the_lambda_would_deny(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str], device: str, reason: str
) -> None:
    code, data = _json(capsys, str(files.devices[device]), "--ca", str(files.issuing_ca_pem))
    assert (code, data["verdict"], data["reason"]) == (ExitCode.REFUSED, "DENY", reason)
    if device == "revoked":
        assert data["answer"]["status"] == "REVOKED"
        assert data["answer"]["revocationReason"] == "keyCompromise"
    if device == "rogue":  # same issuer name, other key: no CA of --ca issued it
        assert data["answer"] == {
            "asked": False,
            "why": "no certificate in --ca issued this device certificate",
        }


def test_the_text_of_a_revoked_device(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _check(capsys, str(files.devices["revoked"]), "--ca", str(files.issuing_ca_pem))
    assert code == 1
    assert "decision:  DENY (REVOKED)" in out
    assert "answer:    revoked (verified, signed by the issuer" in out
    assert "revoked at 20" in out and "(keyCompromise)" in out


def test_an_unreachable_responder_exits_3_and_says_so(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    with RawListener() as silent:  # accepts, never answers: the handler's timeout decides
        code, out, err = _check(
            capsys,
            str(files.devices["good"]),
            "--ca",
            str(files.issuing_ca_pem),
            "--responder",
            silent.url,
            "--env",
            "OCSP_TIMEOUT_SECONDS=1.5",
            "--timeout",
            "1.5",
        )
    assert code == ExitCode.UNREACHABLE
    assert "decision:  DENY (RESPONDER_UNAVAILABLE)" in out
    assert f"responder: {silent.url} (--responder)" in out
    assert "answer:    could not reach the responder: ReadTimeout" in out
    # each wait is longer than a second, so each printed a progress line
    assert f"ocsp-iot: asking the pre-auth handler (responder {silent.url}) ..." in err
    assert f"ocsp-iot: fetching the responder's answer from {silent.url} ..." in err


def test_the_fail_mode_comes_from_env(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    with RawListener() as silent:
        code, data = _json(
            capsys,
            str(files.devices["good"]),
            "--ca",
            str(files.issuing_ca_pem),
            "--responder",
            silent.url.replace("/ocsp", "/closed"),
            "--env",
            "OCSP_FAIL_MODE=open",
            "--env",
            "OCSP_TIMEOUT_SECONDS=0.5",
            "--timeout",
            "0.5",
        )
    assert (code, data["reason"]) == (ExitCode.OK, "FAIL_OPEN")


def test_the_environment_is_restored_afterwards(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCSP_FAIL_MODE", "open")
    monkeypatch.delenv("TRUSTED_CA_PEM", raising=False)
    code, data = _json(capsys, str(files.devices["revoked"]), "--ca", str(files.issuing_ca_pem))
    assert (code, data["reason"]) == (1, "REVOKED")
    assert os.environ["OCSP_FAIL_MODE"] == "open"
    assert "TRUSTED_CA_PEM" not in os.environ


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _check(capsys, *argv)
    assert code == ExitCode.INPUT_ERROR, out + err
    assert out == ""
    assert err.startswith("ocsp-iot: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_errors_for_bad_input(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ca = str(files.issuing_ca_pem)
    good = str(files.devices["good"])
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert "no such file" in _error(capsys, str(tmp_path / "missing.pem"), "--ca", ca)
    assert "not a PEM or DER certificate" in _error(capsys, str(text), "--ca", ca)
    assert "CA certificate" in _error(capsys, good, "--ca", str(tmp_path / "none.pem"))
    assert "not a PEM or DER certificate" in _error(capsys, good, "--ca", str(text))
    assert "has no device.pem" in _error(capsys, str(tmp_path), "--ca", ca)
    assert "scheme must be http or https" in _error(
        capsys, good, "--ca", ca, "--responder", "ftp://example.test/"
    )
    assert "--env takes NAME=VALUE" in _error(capsys, good, "--ca", ca, "--env", "OCSP_NONCE")
    assert "not a pre-auth handler setting: PATH" in _error(
        capsys, good, "--ca", ca, "--env", "PATH=/"
    )
    assert "OCSP_FAIL_MODE must be 'closed' or 'open', got 'maybe'" in _error(
        capsys, good, "--ca", ca, "--env", "OCSP_FAIL_MODE=maybe"
    )


def test_fails_for_a_device_without_an_ocsp_url(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plain = files.pki.issue_device("no-aia-thing")
    folder = write_device_folder(
        tmp_path / "no-aia", certificate=plain.certificate, chain=(), key=None
    )
    err = _error(capsys, str(folder), "--ca", str(files.issuing_ca_pem))
    assert "names no OCSP responder (AIA); give --responder URL" in err


def test_fails_for_a_key_that_is_not_the_devices(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "device.pem").write_bytes((files.devices["good"] / "device.pem").read_bytes())
    (folder / "device.key").write_bytes((files.devices["revoked"] / "device.key").read_bytes())
    err = _error(capsys, str(folder), "--ca", str(files.issuing_ca_pem))
    assert "does not match the certificate" in err


def test_an_error_in_json_mode_is_json(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _check(capsys, str(tmp_path / "x.pem"), "--ca", "ca.pem", "--json")
    assert code == ExitCode.INPUT_ERROR and err == ""
    assert json.loads(out) == {
        "error": f"device certificate {tmp_path / 'x.pem'}: no such file",
        "exitCode": 2,
    }


def test_an_unexpected_error_is_one_line_and_exit_4(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # fault injection: the top-level handler must turn any bug into one line
    def broken(**_kwargs: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(check_module, "run_check", broken)
    code, _, err = _check(capsys, str(files.devices["good"]), "--ca", str(files.issuing_ca_pem))
    assert code == ExitCode.INTERNAL_ERROR
    assert err == "ocsp-iot: error: internal error (KeyError: 'surprise'); please report it\n"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["check", "--ca", "ca.pem"])  # DEVICE is required
    assert exited.value.code == 2
    assert "the following arguments are required: DEVICE" in capsys.readouterr().err


def test_a_certificate_file_needs_ca(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    # --ca may be left out only for a device folder (its chain names the issuer)
    code = run(["check", str(files.devices["good"] / "device.pem")])
    assert code == ExitCode.INPUT_ERROR
    assert capsys.readouterr().err == (
        "ocsp-iot: error: give --ca CA.pem (the CA the pre-auth Lambda trusts); without it, "
        "DEVICE must be a device folder whose chain.pem starts with the device's issuer\n"
    )


def test_a_device_folder_is_checked_against_its_own_issuer_without_ca(
    files: LocalPkiFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = _json(capsys, str(files.devices["good"]))
    assert (code, data["reason"]) == (ExitCode.OK, "GOOD")
    assert data["trust"] == f"{files.devices['good'] / 'chain.pem'} (the CA that issued it)"
    # the rogue device's folder names the rogue CA: without --ca that is what is trusted, and
    # the trusted issuing CA still refuses it
    code, data = _json(capsys, str(files.devices["rogue"]), "--ca", str(files.issuing_ca_pem))
    assert (code, data["reason"]) == (ExitCode.REFUSED, "UNTRUSTED_ISSUER")
