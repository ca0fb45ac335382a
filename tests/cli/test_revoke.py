"""``ocsp-iot revoke`` against an AWS API emulator: moto's server on 127.0.0.1 for AWS Private
CA, AWS IoT and DynamoDB (a real DynamoDB-protocol server: the deny entry is read back as the
pre-auth Lambda will read it), over real HTTP with the real SDK.

moto is an emulator (``tests/cli/aws_support.py`` lists what it does not reproduce). Here:
its revocation is only a record of the serial string (nothing answers OCSP, so "revoked at
AWS Private CA" is checked by what the API received, not by an OCSP answer), it never refuses
a second revocation with ``RequestAlreadyProcessedException`` (a scripted loopback server
answers that one), and it lets a REVOKED IoT certificate be set ACTIVE again.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from ocsp_core.certid import issuer_key_hash
from shared_cache.keys import deny_key

from ocsp_iot.cli import ExitCode, main
from ocsp_iot.enroll import colon_serial, iot_certificate_id
from tests.cli.aws_support import (
    MotoServer,
    ScriptedAws,
    ca_certificate,
    client,
    iam_user_without_permissions,
    make_ca,
    make_policy,
    make_table,
    outputs_file,
)


@pytest.fixture
def enrolled(aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """A device enrolled with ``ocsp-iot enroll`` and the stack's shared cache table."""
    ca = make_ca()
    policy = make_policy()
    table = make_table("OcspIotReference-SharedCache")
    outputs = outputs_file(
        tmp_path / "outputs.json",
        IssuingCaArn=ca,
        DevicePolicyName=policy,
        DomainName="devices.example.com",
        SharedCacheTableName=table,
    )
    assert main(["enroll", "sensor-0001", "--outputs", str(outputs), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    folder = tmp_path / "sensor-0001"
    cert = x509.load_pem_x509_certificate((folder / "device.pem").read_bytes())
    return {"ca": ca, "table": table, "outputs": outputs, "folder": folder, "cert": cert}


def revoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["revoke", *args, "--json"])
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["exitCode"] == code
    return code, data


def _items(table: str) -> list[dict[str, Any]]:
    return list(client("dynamodb").scan(TableName=table)["Items"])


def _iot_status(cert: x509.Certificate) -> str:
    described = client("iot").describe_certificate(certificateId=iot_certificate_id(cert))
    return str(described["certificateDescription"]["status"])


def test_a_device_folder_is_revoked_everywhere(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cert: x509.Certificate = enrolled["cert"]
    started = int(time.time())
    code, data = revoke(
        capsys,
        str(enrolled["folder"]),
        "--outputs",
        str(enrolled["outputs"]),
        "--reason",
        "KEY_COMPROMISE",
        "--iot",
    )
    assert code == ExitCode.OK, data

    # the deny entry, exactly as shared_cache.keys defines it
    key_hash = issuer_key_hash(ca_certificate(enrolled["ca"]), hashes.SHA1())  # noqa: S303
    pk = deny_key(key_hash, cert.serial_number)
    (item,) = _items(enrolled["table"])
    revoked_at = int(item.pop("revokedAt")["N"])
    assert started <= revoked_at <= int(time.time())
    assert item == {
        "pk": {"S": pk},
        "kind": {"S": "deny"},
        "reason": {"S": "KEY_COMPROMISE"},
        "source": {"S": "ocsp-iot revoke"},
        "expires": {"N": str(int(cert.not_valid_after_utc.timestamp()))},
    }
    assert data["denyEntry"] == {
        "table": enrolled["table"],
        "pk": pk,
        "expires": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expiresFrom": "the certificate's notAfter",
    }
    # the registry
    assert _iot_status(cert) == "REVOKED"
    assert data["iotCertificateId"] == iot_certificate_id(cert)
    assert data["serial"] == colon_serial(cert.serial_number)
    assert data["actions"] == [
        "revoked at AWS Private CA (KEY_COMPROMISE)",
        f"wrote the deny entry {pk} to table {enrolled['table']} (us-east-1), expiring "
        f"{data['denyEntry']['expires']} (the certificate's notAfter)",
        f"set AWS IoT certificate {iot_certificate_id(cert)} (us-east-1) REVOKED (was ACTIVE)",
    ]


def test_revoking_again_reports_what_is_already_done(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(enrolled["folder"]), "--outputs", str(enrolled["outputs"]), "--iot"]
    assert revoke(capsys, *args)[0] == 0
    (first,) = _items(enrolled["table"])
    code, data = revoke(capsys, *args, "--reason", "SUPERSEDED")
    assert code == ExitCode.OK
    assert data["actions"][1].startswith("already: the deny entry deny#")
    assert " (written 20" in data["actions"][1]
    assert data["actions"][2] == (
        f"already: AWS IoT certificate {iot_certificate_id(enrolled['cert'])} is REVOKED"
    )
    assert _items(enrolled["table"]) == [first]  # never overwritten (the first reason stays)


def test_private_ca_saying_already_revoked_is_reported(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto never answers RequestAlreadyProcessedException: a scripted server answers it to
    # RevokeCertificate (and hands out moto's CA certificate before that)
    pem = client("acm-pca").get_certificate_authority_certificate(
        CertificateAuthorityArn=enrolled["ca"]
    )["Certificate"]
    with ScriptedAws(
        status=400,
        code="RequestAlreadyProcessedException",
        message="Your request has already been completed.",
        answers={"ACMPrivateCA.GetCertificateAuthorityCertificate": {"Certificate": pem}},
    ) as scripted:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ACM_PCA", scripted.url)
        code, data = revoke(capsys, str(enrolled["folder"]))
    assert code == ExitCode.OK, data
    assert data["actions"][0] == "already: AWS Private CA has revoked this certificate"
    assert scripted.requests == [
        "ACMPrivateCA.GetCertificateAuthorityCertificate",
        "ACMPrivateCA.RevokeCertificate",
    ]


def test_a_throttled_revocation_is_one_clear_error(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = client("acm-pca").get_certificate_authority_certificate(
        CertificateAuthorityArn=enrolled["ca"]
    )["Certificate"]
    with ScriptedAws(
        status=400,
        code="ThrottlingException",
        message="Rate exceeded",
        answers={"ACMPrivateCA.GetCertificateAuthorityCertificate": {"Certificate": pem}},
    ) as scripted:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ACM_PCA", scripted.url)
        code, err = _error(capsys, str(enrolled["folder"]), "--outputs", str(enrolled["outputs"]))
    assert code == ExitCode.THROTTLED
    assert "RevokeCertificate" in err and "ThrottlingException: Rate exceeded" in err
    assert _items(enrolled["table"]) == []  # stopped before the deny entry


def test_a_serial_and_a_ca_are_enough(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cert: x509.Certificate = enrolled["cert"]
    serial = format(cert.serial_number, "X")  # as `openssl x509 -serial` prints it
    code, data = revoke(
        capsys,
        "--serial",
        serial,
        "--ca-arn",
        enrolled["ca"],
        "--table",
        enrolled["table"],
    )
    assert code == ExitCode.OK, data
    ca_cert = ca_certificate(enrolled["ca"])
    (item,) = _items(enrolled["table"])
    assert item["pk"]["S"] == deny_key(
        issuer_key_hash(ca_cert, hashes.SHA1()),  # noqa: S303
        cert.serial_number,
    )
    # without the certificate, the entry lasts as long as the CA's certificate can
    assert item["expires"]["N"] == str(int(ca_cert.not_valid_after_utc.timestamp()))
    assert data["denyEntry"]["expiresFrom"] == (
        "the CA certificate's notAfter: the certificate itself was not given"
    )
    assert _iot_status(cert) == "ACTIVE"  # no --iot


def test_dry_run_changes_nothing(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = revoke(
        capsys,
        str(enrolled["folder"]),
        "--outputs",
        str(enrolled["outputs"]),
        "--iot",
        "--dry-run",
    )
    assert code == ExitCode.OK
    assert [a.split(" ")[:2] for a in data["actions"]] == [
        ["would", "revoke"],
        ["would", "write"],
        ["would", "set"],
    ]
    assert _items(enrolled["table"]) == []
    assert _iot_status(enrolled["cert"]) == "ACTIVE"


def test_without_a_table_it_says_what_that_leaves_open(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = revoke(capsys, str(enrolled["folder"]))  # the CA ARN from device.json
    assert code == ExitCode.OK
    assert data["denyEntry"] is None
    assert data["notes"][0].startswith("no shared cache table named (--table NAME or --outputs")
    assert _items(enrolled["table"]) == []


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["revoke", *args])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ocsp-iot: error: ")
    assert captured.err.count("\n") == 1, captured.err
    return code, captured.err


def test_fails_when_the_table_does_not_exist(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _error(capsys, str(enrolled["folder"]), "--table", "NoSuchTable")
    assert code == ExitCode.NOT_FOUND
    assert "no table NoSuchTable in us-east-1" in err


def test_fails_when_the_ca_is_not_active(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    client("acm-pca").update_certificate_authority(
        CertificateAuthorityArn=enrolled["ca"], Status="DISABLED"
    )
    code, err = _error(capsys, str(enrolled["folder"]), "--outputs", str(enrolled["outputs"]))
    assert code == ExitCode.CA_NOT_ACTIVE
    assert "the certificate authority is not ACTIVE (InvalidStateException" in err
    assert _items(enrolled["table"]) == []  # stopped before the deny entry


def test_fails_when_the_folder_is_not_of_that_ca(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    other = make_ca(name="Other CA")
    code, err = _error(capsys, str(enrolled["folder"]), "--ca-arn", other)
    assert code == ExitCode.INPUT_ERROR
    assert f"was not issued by {other}: nothing revoked" in err


def test_fails_when_not_permitted(
    enrolled: dict[str, Any],
    aws: MotoServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with iam_user_without_permissions(aws) as keys:
        for name, value in keys.items():
            monkeypatch.setenv(name, value)
        code, err = _error(capsys, str(enrolled["folder"]))
    assert code == ExitCode.NOT_PERMITTED
    assert "acm-pca:GetCertificateAuthorityCertificate" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a DEVICE_DIR or --serial HEX (with --ca-arn), not both"),
        (["--serial", "zz", "--ca-arn", "x"], "--serial: a serial number is hex digits"),
        (["--serial", "01"], "which CA issued it? give --ca-arn ARN or --outputs FILE"),
        (
            [
                "--serial",
                "01",
                "--iot",
                "--ca-arn",
                "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/ab",
            ],
            "--iot needs the device's certificate (a DEVICE_DIR)",
        ),
    ],
)
def test_fails_on_bad_arguments(
    aws: MotoServer, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, err = _error(capsys, *args)
    assert code == ExitCode.INPUT_ERROR
    assert message in err


def test_the_deny_entry_expires_when_the_certificate_does(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert revoke(capsys, str(enrolled["folder"]), "--outputs", str(enrolled["outputs"]))[0] == 0
    (item,) = _items(enrolled["table"])
    expires = dt.datetime.fromtimestamp(int(item["expires"]["N"]), dt.UTC)
    assert expires == enrolled["cert"].not_valid_after_utc


def test_a_revoked_device_is_not_enrolled_again(
    enrolled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(enrolled["folder"]), "--outputs", str(enrolled["outputs"]), "--iot"]
    assert revoke(capsys, *args)[0] == 0
    code = main(
        [
            "enroll",
            "sensor-0001",
            "--outputs",
            str(enrolled["outputs"]),
            "--out",
            str(enrolled["folder"].parent),
        ]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.REFUSED
    assert "of sensor-0001 is REVOKED in the AWS IoT registry" in err
    assert _iot_status(enrolled["cert"]) == "REVOKED"
