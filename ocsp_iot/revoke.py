"""``ocsp-iot revoke``: revoke a device certificate everywhere it counts.

1. AWS Private CA: ``RevokeCertificate`` with the RFC 5280 reason, the serial in the API's
   colon-separated hex form. Its OCSP answers can take up to 60 minutes to say ``revoked``.
2. The shared cache table (when one is named): the deny entry of ``shared_cache.keys``, so every
   pre-auth Lambda environment refuses the certificate at once. It expires when the certificate
   does (its notAfter; with only ``--serial``, the CA certificate's notAfter, the latest a
   certificate of that CA can be valid).
3. With ``--iot``: the AWS IoT registry certificate set to ``REVOKED``, so IoT's own X.509
   authentication refuses it too.

Each step is idempotent: an already revoked certificate (Private CA answers
``RequestAlreadyProcessedException``), an existing deny entry (a conditional write that never
overwrites) and an already ``REVOKED`` registry certificate are reported, not errors.
``--dry-run`` makes only read-only calls and says what it would do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ocsp_iot import _lambda
from ocsp_iot._aws import CaArn, Clients, aws_call, error_code
from ocsp_iot.device import Device, issued_by, load_device, read_device_info, split_pem_certificates
from ocsp_iot.enroll import ISSUER_LOCAL, colon_serial, iot_certificate_id
from ocsp_iot.errors import InputError
from ocsp_iot.stack import StackValues

#: RFC 5280 revocation reasons, as AWS Private CA's ``RevocationReason`` names them.
REASONS = (
    "UNSPECIFIED",
    "KEY_COMPROMISE",
    "CERTIFICATE_AUTHORITY_COMPROMISE",
    "AFFILIATION_CHANGED",
    "SUPERSEDED",
    "CESSATION_OF_OPERATION",
    "PRIVILEGE_WITHDRAWN",
    "A_A_COMPROMISE",
)
DEFAULT_REASON = "UNSPECIFIED"
#: Who wrote a deny entry (its ``source`` attribute).
SOURCE = "ocsp-iot revoke"


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RevokeReport:
    serial: int
    ca_arn: str
    reason: str
    dry_run: bool
    subject: str | None
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deny_entry: dict[str, Any] | None = None
    iot_certificate_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "command": "revoke",
            "dryRun": self.dry_run,
            "serial": colon_serial(self.serial),
            "subject": self.subject,
            "certificateAuthorityArn": self.ca_arn,
            "reason": self.reason,
            "actions": list(self.actions),
            "denyEntry": self.deny_entry,
            "iotCertificateId": self.iot_certificate_id,
            "notes": list(self.notes),
        }

    def as_text(self) -> str:
        who = f"{self.subject}, " if self.subject else ""
        lines = [
            f"{'would revoke' if self.dry_run else 'revoke'}: {who}serial "
            f"{colon_serial(self.serial)} ({self.reason})",
            f"  CA: {self.ca_arn}",
        ]
        lines += [f"  - {action}" for action in self.actions]
        lines += [f"  note: {note}" for note in self.notes]
        if self.dry_run:
            lines.append("dry run: nothing was changed (only read-only calls were made)")
        return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    serial: int
    ca: CaArn
    device: Device | None
    info: dict[str, Any]


def resolve_target(
    *, device_dir: Path | None, serial_text: str | None, stack: StackValues
) -> Target:
    """What to revoke: a device folder, or a serial number of a CA."""
    if (device_dir is None) == (serial_text is None):
        raise InputError("give a DEVICE_DIR or --serial HEX (with --ca-arn), not both")
    info: dict[str, Any] = {}
    device: Device | None = None
    if device_dir is not None:
        if not device_dir.is_dir():
            raise InputError(f"DEVICE_DIR {device_dir}: not a device folder")
        device = load_device(device_dir)
        info = read_device_info(device_dir) or {}
        if info.get("issuer") == ISSUER_LOCAL:
            raise InputError(
                f"{device_dir} was enrolled from a local CA: revoke works with AWS Private CA"
            )
        serial = device.certificate.serial_number
    else:
        try:
            serial = _lambda.parse_serial(str(serial_text))
        except ValueError as exc:
            raise InputError(f"--serial: {exc}") from exc
    arn = stack.ca_arn or info.get("certificateAuthorityArn")
    if not arn:
        raise InputError(
            "which CA issued it? give --ca-arn ARN or --outputs FILE"
            + (" (the device folder's device.json names none)" if device_dir else "")
        )
    return Target(serial=serial, ca=CaArn.parse(str(arn)), device=device, info=info)


def _ca_certificate(clients: Clients, ca: CaArn) -> x509.Certificate:
    with aws_call(
        f"GetCertificateAuthorityCertificate {ca.arn}",
        hint_not_found=f"no such CA in {ca.region}, account {ca.account}",
    ):
        got = clients.pca(ca.region).get_certificate_authority_certificate(
            CertificateAuthorityArn=ca.arn
        )
    (certificate, *_) = split_pem_certificates(
        str(got["Certificate"]), what=f"the certificate of {ca.arn}"
    )
    return certificate


def run_revoke(
    *,
    target: Target,
    clients: Clients,
    reason: str,
    table: str | None,
    iot: bool,
    region: str | None,
    dry_run: bool,
) -> RevokeReport:
    ca = target.ca
    device = target.device
    if iot and device is None:
        raise InputError(
            "--iot needs the device's certificate (a DEVICE_DIR): the IoT certificate ID is "
            "the SHA-256 of the certificate"
        )
    report = RevokeReport(
        serial=target.serial,
        ca_arn=ca.arn,
        reason=reason,
        dry_run=dry_run,
        subject=None if device is None else device.certificate.subject.rfc4514_string(),
    )
    ca_certificate = _ca_certificate(clients, ca)
    if device is not None and not issued_by(device.certificate, ca_certificate):
        raise InputError(
            f"the certificate in {device.cert_path} was not issued by {ca.arn}: nothing revoked"
        )
    _revoke_at_private_ca(clients, report, ca, dry_run=dry_run)
    if table is not None:
        _write_deny_entry(
            clients,
            report,
            table=table,
            region=region or ca.region,
            ca_certificate=ca_certificate,
            device=device,
            dry_run=dry_run,
        )
    else:
        report.notes.append(
            "no shared cache table named (--table NAME or --outputs FILE): until Private CA's "
            "OCSP answers say revoked (up to 60 minutes) and the pre-auth Lambda's cached "
            "answers expire, the device may still connect"
        )
    if iot and device is not None:
        iot_region = region or str((target.info.get("iot") or {}).get("region") or ca.region)
        _revoke_in_iot(clients, report, device, target.info, region=iot_region, dry_run=dry_run)
    report.notes.append(
        "AWS Private CA's OCSP answers can take up to 60 minutes to show the revocation"
    )
    return report


def _revoke_at_private_ca(
    clients: Clients, report: RevokeReport, ca: CaArn, *, dry_run: bool
) -> None:
    serial = colon_serial(report.serial)
    if dry_run:
        report.actions.append(
            f"would revoke serial {serial} at AWS Private CA (RevokeCertificate, {report.reason})"
        )
        return
    pca = clients.pca(ca.region)
    try:
        pca.revoke_certificate(
            CertificateAuthorityArn=ca.arn,
            CertificateSerial=serial,
            RevocationReason=report.reason,
        )
    except Exception as exc:
        if error_code(exc) != "RequestAlreadyProcessedException":
            with aws_call(f"RevokeCertificate {serial} at {ca.arn}"):
                raise
        report.actions.append("already: AWS Private CA has revoked this certificate")
        return
    report.actions.append(f"revoked at AWS Private CA ({report.reason})")


def _write_deny_entry(
    clients: Clients,
    report: RevokeReport,
    *,
    table: str,
    region: str,
    ca_certificate: x509.Certificate,
    device: Device | None,
    dry_run: bool,
) -> None:
    key_hash = _lambda.issuer_key_hash(ca_certificate, hashes.SHA1())  # noqa: S303 - CertID hash
    pk = _lambda.deny_key(key_hash, report.serial)
    if device is not None:
        expires_at, expires_why = (
            device.certificate.not_valid_after_utc,
            "the certificate's notAfter",
        )
    else:
        expires_at = ca_certificate.not_valid_after_utc
        expires_why = "the CA certificate's notAfter: the certificate itself was not given"
    now = int(dt.datetime.now(dt.UTC).timestamp())
    item = {
        _lambda.PARTITION_KEY: {"S": pk},
        "kind": {"S": "deny"},
        "reason": {"S": report.reason},
        "revokedAt": {"N": str(now)},
        "source": {"S": SOURCE},
        _lambda.TTL_ATTRIBUTE: {"N": str(int(expires_at.timestamp()))},
    }
    report.deny_entry = {
        "table": table,
        "pk": pk,
        "expires": _time(expires_at),
        "expiresFrom": expires_why,
    }
    ddb = clients.dynamodb(region)
    where = f"table {table} ({region})"
    if dry_run:
        with aws_call(f"GetItem {pk} from {where}", hint_not_found=f"no table {table} in {region}"):
            found = ddb.get_item(TableName=table, Key={_lambda.PARTITION_KEY: {"S": pk}})
        if "Item" in found:
            report.actions.append(f"already: the deny entry {pk} is in {where}")
        else:
            report.actions.append(
                f"would write the deny entry {pk} to {where}, expiring {_time(expires_at)} "
                f"({expires_why})"
            )
        return
    try:
        ddb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": _lambda.PARTITION_KEY},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            with aws_call(
                f"PutItem {pk} to {where}",
                hint_not_found=f"no table {table} in {region} (give the shared cache table)",
            ):
                raise
        old = getattr(exc, "response", {}).get("Item", {})
        since = old.get("revokedAt", {}).get("N")
        when = (
            f" (written {_time(dt.datetime.fromtimestamp(int(since), dt.UTC))})"
            if since and since.isdigit()
            else ""
        )
        report.actions.append(f"already: the deny entry {pk} is in {where}{when}")
        return
    report.actions.append(
        f"wrote the deny entry {pk} to {where}, expiring {_time(expires_at)} ({expires_why})"
    )


def _revoke_in_iot(
    clients: Clients,
    report: RevokeReport,
    device: Device,
    info: dict[str, Any],
    *,
    region: str,
    dry_run: bool,
) -> None:
    certificate_id = str(
        (info.get("iot") or {}).get("certificateId") or iot_certificate_id(device.certificate)
    )
    report.iot_certificate_id = certificate_id
    iot = clients.iot(region)
    with aws_call(
        f"DescribeCertificate {certificate_id}",
        hint_not_found=f"the certificate is not registered with AWS IoT in {region}",
    ):
        status = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"][
            "status"
        ]
    if status == "REVOKED":
        report.actions.append(f"already: AWS IoT certificate {certificate_id} is REVOKED")
        return
    if dry_run:
        report.actions.append(
            f"would set AWS IoT certificate {certificate_id} ({region}) from {status} to REVOKED"
        )
        return
    with aws_call(f"UpdateCertificate {certificate_id} REVOKED"):
        iot.update_certificate(certificateId=certificate_id, newStatus="REVOKED")
    report.actions.append(
        f"set AWS IoT certificate {certificate_id} ({region}) REVOKED (was {status})"
    )
