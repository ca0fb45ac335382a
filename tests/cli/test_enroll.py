"""``ocsp-iot enroll`` against an AWS API emulator: moto's server on 127.0.0.1, reached over
real HTTP by the real SDK (boto3), through the command's own entry point (``cli.main``; one
test runs the installed console script).

moto is an emulator: what it does not reproduce is listed in ``tests/cli/aws_support.py``. The
ones that shape these tests: its certificates carry no AIA / OCSP URL (so every device here
gets the NO_RESPONDER_URL warning; the local-CA tests in ``test_enroll_local.py`` show a device
that connects), ``EndEntityClientAuthCertificate/V1`` certificates have no extensions, every
CA reports ``SHORT_LIVED_CERTIFICATE`` (so the default validity asked for is 7 days) and
``Validity`` is ignored, issuing works from a CA that is not ACTIVE (the command checks first),
and IAM denials come back as XML 403s.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ocsp_iot.cli import ExitCode, main
from ocsp_iot.device import key_matches
from ocsp_iot.enroll import colon_serial, iot_certificate_id
from tests.cli.aws_support import (
    ACCOUNT,
    REGION,
    MotoServer,
    ScriptedAws,
    ca_certificate,
    client,
    iam_user_without_permissions,
    make_ca,
    make_policy,
    outputs_file,
    register_ca_with_iot,
)

DOMAIN = "devices.example.com"


@pytest.fixture
def stack(aws: MotoServer, tmp_path: Path) -> dict[str, Any]:
    """A deployed "stack" in the emulator: an ACTIVE CA, the device policy, its outputs file."""
    ca = make_ca()
    policy = make_policy("OcspIotReference-DevicePolicy")
    outputs = outputs_file(
        tmp_path / "outputs.json",
        IssuingCaArn=ca,
        DevicePolicyName=policy,
        DeviceTopicPrefix="devices",
        DomainName=DOMAIN,
    )
    return {"ca": ca, "policy": policy, "outputs": outputs, "out": tmp_path / "fleet"}


def enroll(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["enroll", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def enroll_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = enroll(capsys, *args, "--json")
    data: dict[str, Any] = json.loads(out)
    assert data["exitCode"] == code
    return code, data


def _things() -> list[str]:
    return sorted(t["thingName"] for t in client("iot").list_things()["things"])


def _iot_certificates() -> list[dict[str, Any]]:
    return list(client("iot").list_certificates()["certificates"])


def _std(stack: dict[str, Any]) -> list[str]:
    return ["--outputs", str(stack["outputs"]), "--out", str(stack["out"])]


def test_a_device_is_issued_registered_active_and_attached(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = enroll(capsys, "sensor-0001", *_std(stack))
    assert code == ExitCode.OK, out + err
    folder = stack["out"] / "sensor-0001"

    # the folder: key 0600 (and the folder 0700), certificate and chain as delimited PEM
    assert stat.S_IMODE((folder / "device.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    key = serialization.load_pem_private_key((folder / "device.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    cert_pem = (folder / "device.pem").read_text()
    assert cert_pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert cert_pem.endswith("-----END CERTIFICATE-----\n")
    (cert,) = x509.load_pem_x509_certificates(cert_pem.encode())
    assert cert.subject.rfc4514_string() == "CN=sensor-0001"
    assert key_matches(cert, key)
    (issuer,) = x509.load_pem_x509_certificates((folder / "chain.pem").read_bytes())
    assert issuer == ca_certificate(stack["ca"])
    cert.verify_directly_issued_by(issuer)

    # the registry: registered (no CA: SNI_ONLY), ACTIVE, thing, policy, attachment
    certificate_id = iot_certificate_id(cert)
    iot = client("iot")
    described = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
    assert described["status"] == "ACTIVE"
    assert x509.load_pem_x509_certificate(described["certificatePem"].encode()) == cert
    assert _things() == ["sensor-0001"]
    arn = f"arn:aws:iot:{REGION}:{ACCOUNT}:cert/{certificate_id}"
    assert iot.list_thing_principals(thingName="sensor-0001")["principals"] == [arn]
    assert [p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]] == [
        stack["policy"]
    ]

    # device.json: what revoke needs later
    info = json.loads((folder / "device.json").read_text())
    assert info["certificateAuthorityArn"] == stack["ca"]
    assert info["certificateArn"].startswith(stack["ca"] + "/certificate/")
    assert info["serial"] == colon_serial(cert.serial_number)
    assert info["iot"] == {
        "region": REGION,
        "thingName": "sensor-0001",
        "certificateId": certificate_id,
        "certificateArn": arn,
        "mode": "SNI_ONLY",
        "policyName": stack["policy"],
    }

    # what it printed: the steps, the emulator's missing AIA, the exact command
    assert out.startswith(f"enrolled: sensor-0001 ({folder})\n")
    assert "  ocsp:        none (the certificate has no AIA OCSP URL)\n" in out
    assert (
        "  warning: the certificate names no OCSP responder (no AIA OCSP URL): the pre-auth "
        "Lambda denies it with NO_RESPONDER_URL unless the domain sets responder_url\n"
    ) in out
    assert f"registered certificate {certificate_id} with AWS IoT without a CA (SNI_ONLY)" in out
    assert out.endswith(
        "  connect:\n"
        f"    mosquitto_pub -h {DOMAIN} -p 8883 --cafile {certifi.where()} "
        f"--cert {folder}/device.pem --key {folder}/device.key -i sensor-0001 "
        "-t devices/sensor-0001/hello -m 'hello from sensor-0001' -q 1 -d\n"
    )
    assert err == ""


def test_enrolling_again_changes_nothing(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert enroll(capsys, "sensor-0002", *_std(stack))[0] == 0
    folder = stack["out"] / "sensor-0002"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    certificates = _iot_certificates()

    code, data = enroll_json(capsys, "sensor-0002", *_std(stack))
    assert code == 0
    (device,) = data["devices"]
    assert device["status"] == "unchanged"
    assert all(a.startswith("already: ") for a in device["actions"]), device["actions"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert _iot_certificates() == certificates
    assert _things() == ["sensor-0002"]


def test_a_run_that_stopped_after_issuing_is_completed_with_the_same_certificate(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a folder left by a run that issued the certificate and stopped (no registry entry)
    assert enroll(capsys, "sensor-0003", *_std(stack), "--no-policy")[0] == 0
    folder = stack["out"] / "sensor-0003"
    cert = x509.load_pem_x509_certificate((folder / "device.pem").read_bytes())
    iot = client("iot")
    arn = iot.list_thing_principals(thingName="sensor-0003")["principals"][0]
    iot.detach_thing_principal(thingName="sensor-0003", principal=arn)
    iot.update_certificate(certificateId=iot_certificate_id(cert), newStatus="INACTIVE")
    iot.delete_thing(thingName="sensor-0003")

    # WHEN it runs again THEN it finishes with that certificate, no new one
    code, data = enroll_json(capsys, "sensor-0003", *_std(stack))
    assert code == 0
    (device,) = data["devices"]
    assert device["status"] == "completed"
    assert x509.load_pem_x509_certificate((folder / "device.pem").read_bytes()) == cert
    assert len(_iot_certificates()) == 1
    described = iot.describe_certificate(certificateId=iot_certificate_id(cert))
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert iot.list_thing_principals(thingName="sensor-0003")["principals"] == [arn]
    assert f"set certificate {iot_certificate_id(cert)} ACTIVE" in device["actions"]


def test_a_name_taken_by_another_certificate_is_refused_and_nothing_changes(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert enroll(capsys, "sensor-0004", *_std(stack))[0] == 0
    certificates = _iot_certificates()
    elsewhere = tmp_path / "elsewhere"
    code, out, err = enroll(
        capsys, "sensor-0004", "--outputs", str(stack["outputs"]), "--out", str(elsewhere)
    )
    assert code == ExitCode.REFUSED
    assert out == ""
    assert err.startswith("ocsp-iot: error: thing sensor-0004 already exists with 1 certificate")
    assert f"there is no device folder {elsewhere / 'sensor-0004'}: nothing changed" in err
    assert err.count("\n") == 1
    assert not elsewhere.exists()
    assert _iot_certificates() == certificates


def test_the_devices_own_csr_keeps_its_key(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "made-on-device")]))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "device.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    code, data = enroll_json(capsys, "sensor-0005", *_std(stack), "--csr", str(path))
    assert code == 0, data
    folder = stack["out"] / "sensor-0005"
    assert not (folder / "device.key").exists()
    cert = x509.load_pem_x509_certificate((folder / "device.pem").read_bytes())
    assert key_matches(cert, key)
    assert "--key DEVICE.key" in data["devices"][0]["connect"]


def test_an_rsa_key_on_request(stack: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert enroll(capsys, "sensor-0006", *_std(stack), "--key-algorithm", "RSA_2048")[0] == 0
    key = serialization.load_pem_private_key(
        (stack["out"] / "sensor-0006" / "device.key").read_bytes(), None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


def test_under_the_ca_the_stack_registered_with_iot(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ca_id = register_ca_with_iot(stack["ca"])
    outputs = outputs_file(
        tmp_path / "registered.json",
        IssuingCaArn=stack["ca"],
        DevicePolicyName=stack["policy"],
        DomainName=DOMAIN,
        IotCaCertificateId=ca_id,
    )
    code, data = enroll_json(
        capsys, "sensor-0007", "--outputs", str(outputs), "--out", str(stack["out"])
    )
    assert code == 0, data
    (device,) = data["devices"]
    assert device["device"]["iot"]["mode"] == f"CA {ca_id}"
    assert any(f"under the registered CA {ca_id}" in a for a in device["actions"])
    by_ca = client("iot").list_certificates_by_ca(caCertificateId=ca_id)["certificates"]
    assert [c["certificateId"] for c in by_ca] == [device["device"]["iot"]["certificateId"]]


def test_dry_run_reads_and_changes_nothing(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = enroll(capsys, "sensor-0008", *_std(stack), "--dry-run")
    assert code == 0
    assert out.startswith(f"would enroll: sensor-0008 ({stack['out'] / 'sensor-0008'})\n")
    for line in (
        "would make a key (EC_prime256v1) and a CSR for CN=sensor-0008",
        "would have AWS Private CA issue a clientAuth certificate valid 7 days",
        "would register the certificate with AWS IoT without a CA (SNI_ONLY), ACTIVE",
        "would create thing sensor-0008",
        f"would attach policy {stack['policy']} to the certificate",
        "would attach the certificate to thing sensor-0008",
        "dry run: nothing was changed (only read-only calls were made)",
    ):
        assert line in out
    assert not stack["out"].exists()
    assert _things() == []
    assert _iot_certificates() == []


def test_a_batch_with_a_progress_bar(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    names = tmp_path / "names.csv"
    names.write_text("name\nbatch-1\n\n# a comment\nbatch-2,ignored column\nbatch-3\n")
    assert enroll(capsys, "batch-2", *_std(stack))[0] == 0  # one exists already
    code, out, err = enroll(capsys, "--batch", str(names), *_std(stack))
    assert code == 0, out + err
    assert _things() == ["batch-1", "batch-2", "batch-3"]
    assert err.splitlines() == [
        "ocsp-iot: enroll [######..............] 1/3 batch-1: enrolled",
        "ocsp-iot: enroll [#############.......] 2/3 batch-2: unchanged",
        "ocsp-iot: enroll [####################] 3/3 batch-3: enrolled",
    ]
    assert out.rstrip().endswith("summary: 2 enrolled, 1 unchanged")


def test_a_batch_stops_at_the_first_failure_and_says_what_is_left(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client("iot").create_thing(thingName="taken")
    arn = client("iot").register_certificate_without_ca(
        certificatePem=ca_certificate(stack["ca"])
        .public_bytes(serialization.Encoding.PEM)
        .decode(),
        status="ACTIVE",
    )["certificateArn"]
    client("iot").attach_thing_principal(thingName="taken", principal=arn)
    names = tmp_path / "names.csv"
    names.write_text("first\ntaken\nlast\n")
    code, data = enroll_json(capsys, "--batch", str(names), *_std(stack))
    assert code == ExitCode.REFUSED
    assert [d["name"] for d in data["devices"]] == ["first"]
    assert data["error"]["name"] == "taken"
    assert data["notAttempted"] == ["last"]
    assert _things() == ["first", "taken"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ok\nnot a name!\n", "line 2 must be an IoT thing name"),
        ("a\nb\na\n", "names appear twice: a"),
        ("name\n", "no names"),
    ],
)
def test_fails_on_a_bad_batch_before_doing_anything(
    stack: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str,
    message: str,
) -> None:
    names = tmp_path / "names.csv"
    names.write_text(content)
    code, _, err = enroll(capsys, "--batch", str(names), *_std(stack))
    assert code == ExitCode.INPUT_ERROR
    assert message in err
    assert _things() == []


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, err = enroll(capsys, *args)
    assert out == ""
    assert err.startswith("ocsp-iot: error: ")
    assert err.count("\n") == 1, err  # one line, never a traceback
    return code, err


def test_fails_when_the_ca_is_not_active(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    pending = make_ca(activate=False, name="Pending CA")
    code, err = _error(capsys, "x1", "--ca-arn", pending, "--policy", stack["policy"])
    assert code == ExitCode.CA_NOT_ACTIVE
    assert f"the certificate authority {pending} is PENDING_CERTIFICATE, not ACTIVE" in err
    client("acm-pca").update_certificate_authority(
        CertificateAuthorityArn=stack["ca"], Status="DISABLED"
    )
    code, err = _error(capsys, "x1", *_std(stack))
    assert code == ExitCode.CA_NOT_ACTIVE
    assert "is DISABLED, not ACTIVE" in err
    assert _things() == []
    assert not stack["out"].exists()


def test_fails_when_the_ca_is_not_found_or_in_another_region(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    other_region = stack["ca"].replace(f":{REGION}:", ":eu-west-1:")
    code, err = _error(capsys, "x2", "--ca-arn", other_region, "--policy", stack["policy"])
    assert code == ExitCode.NOT_FOUND
    assert (
        f"DescribeCertificateAuthority {other_region}: not found (ResourceNotFoundException" in err
    )
    assert "no such CA in eu-west-1, account 123456789012" in err
    unknown = stack["ca"][:-4] + "0000"
    assert _error(capsys, "x2", "--ca-arn", unknown, "--policy", stack["policy"])[0] == 7


def test_fails_when_the_policy_does_not_exist(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _error(capsys, "x3", "--ca-arn", stack["ca"], "--policy", "NoSuchPolicy")
    assert code == ExitCode.NOT_FOUND
    assert "GetPolicy NoSuchPolicy: not found" in err
    assert not stack["out"].exists()


def test_fails_when_not_permitted(
    stack: dict[str, Any],
    aws: MotoServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with iam_user_without_permissions(aws) as keys:
        for name, value in keys.items():
            monkeypatch.setenv(name, value)
        code, err = _error(capsys, "x4", *_std(stack))
    assert code == ExitCode.NOT_PERMITTED
    assert (
        f"DescribeCertificateAuthority {stack['ca']}: not permitted (AccessDenied: User: "
        f"arn:aws:iam::{ACCOUNT}:user/operator is not authorized to perform: "
        "acm-pca:DescribeCertificateAuthority)"
    ) in err


def test_fails_without_credentials(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, err = _error(capsys, "x5", *_std(stack))
    assert code == ExitCode.NOT_PERMITTED
    assert "no AWS credentials found" in err


def test_fails_when_throttled(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedAws(status=400, code="ThrottlingException", message="Rate exceeded") as scripted:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ACM_PCA", scripted.url)
        code, err = _error(capsys, "x6", *_std(stack))
    assert code == ExitCode.THROTTLED
    assert "throttled by AWS even after retries (ThrottlingException: Rate exceeded)" in err
    # the SDK retried (AWS_MAX_ATTEMPTS=2) before giving up
    assert scripted.requests == ["ACMPrivateCA.DescribeCertificateAuthority"] * 2


def test_fails_when_aws_cannot_be_reached(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedAws(status=500, code="x", message="x") as closed:
        url = closed.url
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACM_PCA", url)  # nothing listens there any more
    code, err = _error(capsys, "x7", *_std(stack))
    assert code == ExitCode.UNREACHABLE
    assert "could not reach AWS (EndpointConnectionError" in err


def test_fails_on_a_validity_a_short_lived_ca_cannot_issue(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # moto reports every CA as SHORT_LIVED_CERTIFICATE (it ignores UsageMode)
    code, err = _error(capsys, "x8", *_std(stack), "--validity-days", "30")
    assert code == ExitCode.INPUT_ERROR
    assert "--validity-days must be at most 7 for this CA (it is in SHORT_LIVED_CERTIFICATE" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name"], "NAME must be an IoT thing name"),
        (["ok", "--policy", "p"], "which CA issues? give --ca-arn ARN, --local-ca DIR"),
        (
            ["ok", "--ca-arn", "arn:aws:acm:us-east-1:1:certificate/x", "--policy", "p"],
            "--ca-arn must be an AWS Private CA ARN",
        ),
        (
            ["ok", "--ca-arn", "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/ab"],
            "which IoT policy do devices get?",
        ),
        (
            ["ok", "--outputs", "/nonexistent/outputs.json"],
            "--outputs /nonexistent/outputs.json: no such file",
        ),
        (
            ["ok", "--csr", "/nonexistent.csr", "--local-ca", "/nonexistent"],
            "--csr /nonexistent.csr: no such file",
        ),
    ],
)
def test_fails_on_bad_arguments(
    aws: MotoServer, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, err = _error(capsys, *args)
    assert code == ExitCode.INPUT_ERROR
    assert message in err


def test_the_installed_command_enrolls_against_the_emulator(
    stack: dict[str, Any],
) -> None:
    script = Path(sys.executable).parent / "ocsp-iot"
    done = subprocess.run(
        [str(script), "enroll", "sub-process", *_std(stack), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["devices"][0]["status"] == "enrolled"
    assert _things() == ["sub-process"]


def test_a_missing_boto3_is_one_clear_error(stack: dict[str, Any]) -> None:
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None\n"
        "from ocsp_iot.cli import main\n"
        f"sys.exit(main(['enroll', 'x', '--outputs', {str(stack['outputs'])!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr == (
        "ocsp-iot: error: ocsp-iot enroll needs boto3, which is not installed: "
        "pip install 'ocsp-iot-constructs[cli]'\n"
    )


def test_check_takes_the_folder_and_reports_the_lambdas_denial(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # moto's certificates have no AIA: the pre-auth Lambda, with the environment the construct
    # deploys for a Private CA (its region's responder allowed), denies before any request
    assert enroll(capsys, "checked", *_std(stack))[0] == 0
    code = main(["check", str(stack["out"] / "checked"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert (code, data["verdict"], data["reason"]) == (ExitCode.REFUSED, "DENY", "NO_RESPONDER_URL")
    assert data["responder"] == {
        "url": None,
        "source": "the certificate has no AIA OCSP URL; allowed as deployed for AWS Private "
        f"CA: http://ocsp.acm-pca.{REGION}.amazonaws.com",
    }
    assert data["answer"] == {"asked": False, "why": "the certificate names no OCSP responder"}
    assert data["trust"].endswith("chain.pem (the CA that issued it)")
