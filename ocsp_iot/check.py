"""``ocsp-iot check``: the decision the pre-auth Lambda would make right now, and why.

The real ``preauth_handler.handler`` is invoked with an environment built from the arguments
(``TRUSTED_CA_PEM`` from ``--ca``, ``OCSP_ALLOWED_URLS`` from the responder URL,
``OCSP_RESPONDER_URL`` from ``--responder``, anything else from ``--env``) and an event built as
IoT Core would from what the device sends. Its reason comes from its own decision line. The
responder's answer is then fetched once more (with ``requests``) and summarised with the
Lambda's own core: status, thisUpdate, nextUpdate, who signed, whether it verified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from ocsp_iot import _lambda
from ocsp_iot._progress import progress
from ocsp_iot.device import (
    Device,
    aia_ocsp_url,
    issued_by,
    load_device,
    read_certificates,
    read_device_info,
)
from ocsp_iot.errors import InputError

_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
#: The serverName the event carries (the handler does not judge it).
DEFAULT_SERVER_NAME = "iot.example.com"
OCSP_REQUEST_TYPE = "application/ocsp-request"
#: The most of a responder's answer the summary reads (like the handler's default cap).
MAX_ANSWER_BYTES = 65_536


@dataclass(frozen=True)
class CheckReport:
    """Everything ``check`` found; ``allowed`` and ``reason`` are the handler's."""

    allowed: bool
    reason: str | None
    detail: str
    record: Mapping[str, Any] | None
    device: Mapping[str, Any]
    responder_url: str | None
    responder_source: str
    answer: Mapping[str, Any]
    trust_source: str = "--ca"

    def as_json(self) -> dict[str, Any]:
        return {
            "command": "check",
            "allowed": self.allowed,
            "verdict": "ALLOW" if self.allowed else "DENY",
            "reason": self.reason,
            "detail": self.detail,
            "cacheHit": None if self.record is None else self.record.get("cacheHit"),
            "device": dict(self.device),
            "responder": {"url": self.responder_url, "source": self.responder_source},
            "trust": self.trust_source,
            "answer": dict(self.answer),
        }

    def as_text(self) -> str:
        verdict = "ALLOW" if self.allowed else "DENY"
        lines = [
            f"decision:  {verdict} ({self.reason or 'no reason logged'})",
            f"detail:    {self.detail or '-'}",
            f"device:    {self.device['subject']}",
            f"           serial {self.device['serial']}, issued by {self.device['issuer']}",
            f"           valid {self.device['notBefore']} to {self.device['notAfter']}",
            f"responder: {self.responder_url or 'none'} ({self.responder_source})",
        ]
        lines += _answer_lines(self.answer)
        return "\n".join(lines)


def _answer_lines(answer: Mapping[str, Any]) -> list[str]:
    if not answer.get("asked"):
        return [f"answer:    not asked: {answer.get('why')}"]
    if "error" in answer:
        return [f"answer:    {answer['error']}"]
    status = str(answer.get("status", "?")).lower()
    if answer.get("verified"):
        check = f"verified, signed by the {answer['signer']} {answer.get('signerName')}"
    else:
        check = f"NOT verified: {answer.get('problem')}"
    lines = [
        f"answer:    {status} ({check})",
        f"           thisUpdate {answer.get('thisUpdate')}, nextUpdate "
        f"{answer.get('nextUpdate') or 'none'}",
    ]
    if answer.get("revocationTime"):
        lines.append(
            f"           revoked at {answer['revocationTime']}"
            + (f" ({answer['revocationReason']})" if answer.get("revocationReason") else "")
        )
    return lines


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _device_summary(device: Device) -> dict[str, Any]:
    cert = device.certificate
    return {
        "path": str(device.cert_path),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "notBefore": _time(cert.not_valid_before_utc),
        "notAfter": _time(cert.not_valid_after_utc),
        "chainSent": [c.subject.rfc4514_string() for c in device.chain],
        "certificateId": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    }


def parse_env_assignments(items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (``--env``) as a mapping."""
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--env takes NAME=VALUE, got {item!r}")
        env[name.strip()] = value
    return env


def _issuer_of(cert: x509.Certificate, cas: Sequence[x509.Certificate]) -> x509.Certificate | None:
    return next((ca for ca in cas if issued_by(cert, ca)), None)


def _signer_name(data: bytes, role: str, issuer: x509.Certificate) -> str:
    """The subject of whoever signed (the issuer, or the delegate the response includes)."""
    if role == "issuer":
        return issuer.subject.rfc4514_string()
    response = ocsp.load_der_ocsp_response(data)
    for cert in response.certificates:
        by_key = response.responder_key_hash
        if (by_key is not None and _lambda.responder_key_hash(cert) == by_key) or (
            response.responder_name == cert.subject
        ):
            return cert.subject.rfc4514_string()
    return "a delegated responder"


def _unverified_fields(data: bytes) -> dict[str, Any]:
    """What an answer that did not verify claims (for the user to see, never to trust)."""
    try:
        response = ocsp.load_der_ocsp_response(data)
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return {"responseStatus": response.response_status.name}
        single = next(iter(response.responses))
        return {
            "status": single.certificate_status.name,
            "thisUpdate": _time(single.this_update_utc),
            "nextUpdate": _time(single.next_update_utc),
            "responderName": None
            if response.responder_name is None
            else response.responder_name.rfc4514_string(),
            "responderKeyHash": None
            if response.responder_key_hash is None
            else response.responder_key_hash.hex(),
        }
    except Exception as exc:  # hostile or broken DER
        return {"parseError": type(exc).__name__}


def summarise_answer(
    data: bytes, *, device: x509.Certificate, issuer: x509.Certificate, now: dt.datetime
) -> dict[str, Any]:
    """Verify ``data`` (a DER OCSPResponse about ``device``) with the Lambda's core."""
    cert_id = _lambda.CertId.for_certificate(device, issuer, _lambda.HASHES[_lambda.HashName.SHA1])
    verified = _lambda.verify_response(
        data,
        cert_id=cert_id,
        issuer=issuer,
        now=now,
        nonce=None,
        max_age_without_next_update=dt.timedelta(minutes=5),
    )
    if isinstance(verified, _lambda.Answer):
        try:
            signer_name = _signer_name(data, verified.signer, issuer)
        except Exception:  # naming the signer is cosmetic
            signer_name = "?"
        return {
            "asked": True,
            "verified": True,
            "status": verified.status.name,
            "thisUpdate": _time(verified.this_update),
            "nextUpdate": _time(verified.next_update),
            "signer": verified.signer,
            "signerName": signer_name,
            "revocationTime": _time(verified.revocation_time),
            "revocationReason": verified.revocation_reason,
        }
    return {
        "asked": True,
        "verified": False,
        "problem": f"{verified.reason.value}: {verified.detail}",
        **_unverified_fields(data),
    }


def fetch_answer(url: str, request_der: bytes, *, timeout: float) -> bytes:
    """POST an OCSP request with ``requests``; the body, or ``OSError`` saying why not."""
    try:
        with requests.post(
            url,
            data=request_der,
            headers={"Content-Type": OCSP_REQUEST_TYPE, "Accept": "application/ocsp-response"},
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            if response.status_code != 200:
                msg = f"the responder answered HTTP {response.status_code}"
                raise OSError(msg)
            body = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=False)
    except requests.RequestException as exc:
        msg = f"could not reach the responder: {type(exc).__name__}"
        raise OSError(msg) from exc
    if len(body) > MAX_ANSWER_BYTES:
        msg = f"the answer is larger than {MAX_ANSWER_BYTES} bytes"
        raise OSError(msg)
    return bytes(body)


def run_check(
    *,
    device_path: Path,
    ca_path: Path | None,
    responder: str | None = None,
    env_items: Sequence[str] = (),
    server_name: str = DEFAULT_SERVER_NAME,
    timeout: float = 5.0,
) -> CheckReport:
    """Run the check; ``InputError`` for anything wrong with the arguments."""
    device = load_device(device_path)
    if ca_path is not None:
        cas = read_certificates(ca_path, what="CA certificate")
        trust_source = f"--ca {ca_path}"
    else:
        cas, trust_source = _folder_trust(device_path, device)
    if responder is not None:
        try:
            url = _lambda.normalize_url(responder)
        except ValueError as exc:
            raise InputError(f"--responder {responder!r}: {exc}") from exc
        source = "--responder"
    else:
        aia = aia_ocsp_url(device.certificate)
        if aia is None:
            url, source = _no_responder(device_path, device)
        else:
            try:
                url = _lambda.normalize_url(aia)
            except ValueError as exc:
                raise InputError(f"the certificate's OCSP URL {aia!r} is unusable: {exc}") from exc
            source = "the certificate's AIA"
    asked_url = None if _without_responder(device, responder) else url
    env = {
        "TRUSTED_CA_PEM": b"".join(c.public_bytes(serialization.Encoding.PEM) for c in cas).decode(
            "ascii"
        ),
        "OCSP_ALLOWED_URLS": url,
    }
    if responder is not None:
        env["OCSP_RESPONDER_URL"] = url
    env.update(parse_env_assignments(env_items))
    try:
        environment = _lambda.PreauthEnvironment(env)
        _lambda.check_preauth_environment(env)
    except ValueError as exc:
        raise InputError(f"--env: {exc}") from exc
    except _lambda.ConfigError as exc:
        raise InputError("the handler's settings are invalid: " + "; ".join(exc.problems)) from exc
    leaf = device.certificate
    event = {
        "connectionMetadata": {"id": f"ocsp-iot-check-{uuid.uuid4()}"},
        "principalId": hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        "serverName": server_name,
        "clientCertificateChain": [
            c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in device.presented
        ],
    }
    with progress(f"asking the pre-auth handler (responder {asked_url})"), environment:
        result = _lambda.call_preauth(event, _lambda.LambdaContext(function_name="ocsp-iot-check"))
    answer = (
        _summary(device, cas, url, timeout)
        if asked_url is not None
        else {"asked": False, "why": "the certificate names no OCSP responder"}
    )
    return CheckReport(
        allowed=result.allowed,
        reason=result.reason,
        detail=result.detail,
        record=result.record,
        device=_device_summary(device),
        responder_url=asked_url,
        responder_source=source,
        answer=answer,
        trust_source=trust_source,
    )


def _without_responder(device: Device, responder: str | None) -> bool:
    """No responder at all: no ``--responder`` and no AIA OCSP URL in the certificate."""
    return responder is None and aia_ocsp_url(device.certificate) is None


def _no_responder(device_path: Path, device: Device) -> tuple[str, str]:
    """A certificate without an AIA OCSP URL: the handler denies it (``NO_RESPONDER_URL``)
    before any request. For a folder ``enroll`` wrote from AWS Private CA, its environment is
    the one the construct deploys for that CA (its region's responder allowed), so ``check``
    can report that denial; for anything else the allow-list is unknown."""
    info = read_device_info(device_path) if device_path.is_dir() else None
    region = str((info or {}).get("region") or "")
    if (info or {}).get("issuer") == "aws-private-ca" and _REGION.fullmatch(region):
        allowed = f"http://ocsp.acm-pca.{region}.amazonaws.com"
        return allowed, (
            f"the certificate has no AIA OCSP URL; allowed as deployed for AWS Private CA: "
            f"{allowed}"
        )
    raise InputError(
        f"{device.cert_path}: the certificate names no OCSP responder (AIA); give --responder URL"
    )


def _folder_trust(device_path: Path, device: Device) -> tuple[list[x509.Certificate], str]:
    """Without ``--ca``, a device folder's own issuer (the first certificate of its chain.pem,
    as the CA returned it at enrollment) stands for the CA the pre-auth Lambda trusts."""
    if device_path.is_dir() and device.chain and issued_by(device.certificate, device.chain[0]):
        return [device.chain[0]], f"{device_path / 'chain.pem'} (the CA that issued it)"
    raise InputError(
        "give --ca CA.pem (the CA the pre-auth Lambda trusts); without it, DEVICE must be a "
        "device folder whose chain.pem starts with the device's issuer"
    )


def _summary(
    device: Device, cas: Sequence[x509.Certificate], url: str, timeout: float
) -> dict[str, Any]:
    issuer = _issuer_of(device.certificate, cas)
    if issuer is None:
        return {"asked": False, "why": "no certificate in --ca issued this device certificate"}
    cert_id = _lambda.CertId.for_certificate(
        device.certificate, issuer, _lambda.HASHES[_lambda.HashName.SHA1]
    )
    request_der = _lambda.build_request(cert_id, nonce=None)
    try:
        with progress(f"fetching the responder's answer from {url}"):
            data = fetch_answer(url, request_der, timeout=timeout)
    except OSError as exc:
        return {"asked": True, "error": str(exc)}
    return summarise_answer(
        data, device=device.certificate, issuer=issuer, now=dt.datetime.now(dt.UTC)
    )
