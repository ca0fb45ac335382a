"""``ocsp-iot enroll``: a device from nothing to connected, in one command.

For each name it does what the published walkthrough does by hand:

1. makes an EC P-256 (or RSA-2048) key and a CSR on this machine (the key never leaves it; it
   is written first, mode 0600, so an issued certificate is never without its key), or takes
   the device's own CSR (``--csr``);
2. has the CA issue a clientAuth certificate: AWS Private CA (``IssueCertificate`` with the
   ``EndEntityClientAuthCertificate/V1`` template and the CA's signing algorithm, the
   ``certificate_issued`` waiter, ``GetCertificate``) or a local CA folder (``--local-ca``);
   both are an :class:`Issuer`, everything else is shared;
3. writes the certificate and its chain as correctly delimited PEM (``device.pem``,
   ``chain.pem``; the chain however Private CA delimited it) and ``device.json``;
4. checks the AIA OCSP URL (none: the pre-auth Lambda denies with ``NO_RESPONDER_URL`` unless
   the domain sets ``responder_url``) and that the pre-auth Lambda's device checks accept it;
5. registers it with AWS IoT Core, ``ACTIVE``: under the CA the stack registered
   (``RegisterCertificate``) or without a CA (``RegisterCertificateWithoutCA``, SNI_ONLY);
   creates the thing NAME, attaches the device policy to the certificate and the certificate
   to the thing;
6. prints the ``mosquitto_pub`` command that connects as the device.

It is idempotent: a name whose thing has the folder's certificate attached, with the policy,
is reported and nothing changes; a run that stopped half-way is completed from what the folder
holds (the same key, the same certificate); a thing holding another certificate is refused.
Before changing anything it checks what it can (CA ACTIVE, policy and registered CA exist).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ocsp_iot import _lambda
from ocsp_iot._aws import CaArn, Clients, aws_call, error_code
from ocsp_iot._progress import ProgressBar, progress
from ocsp_iot.device import (
    CHAIN_FILE,
    DEVICE_CERT_FILE,
    INFO_FILE,
    KEY_FILE,
    PrivateKey,
    aia_ocsp_url,
    load_device,
    make_device_folder,
    order_chain,
    read_device_info,
    read_private_key,
    split_pem_certificates,
    write_device_folder,
    write_device_info,
    write_private_key,
)
from ocsp_iot.errors import (
    CaNotActiveError,
    ConflictError,
    InputError,
    OcspIotError,
)
from ocsp_iot.stack import StackValues

KEY_ALGORITHMS = ("EC_prime256v1", "RSA_2048")
DEFAULT_KEY_ALGORITHM = "EC_prime256v1"
#: The Private CA template whose certificates carry the clientAuth extended key usage.
CLIENT_AUTH_TEMPLATE = "EndEntityClientAuthCertificate/V1"
DEFAULT_VALIDITY_DAYS = 365
#: A CA in SHORT_LIVED_CERTIFICATE mode issues certificates valid for at most this long.
SHORT_LIVED_MAX_DAYS = 7
MAX_VALIDITY_DAYS = 3650
#: IoT thing names (also the MQTT client id and the device folder's name).
THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
MAX_BATCH = 10_000
MQTT_PORT = 8883
#: Where the waiter looks for the issued certificate (Private CA issues in seconds).
WAITER_DELAY_SECONDS = 1
WAITER_MAX_ATTEMPTS = 60
ISSUER_AWS = "aws-private-ca"
ISSUER_LOCAL = "local-ca"


def check_thing_name(name: str, *, where: str = "NAME") -> str:
    if not THING_NAME.fullmatch(name):
        raise InputError(
            f"{where} must be an IoT thing name (1 to 128 letters, digits, ':', '_' or '-'; it "
            f"is also the MQTT client id and the folder name), got {name[:140]!r}"
        )
    return name


def read_batch(path: Path) -> list[str]:
    """Thing names from a CSV file: the first column of each row; a first row ``name`` (or
    ``thingName``) is a header; blank rows and rows starting with ``#`` are skipped."""
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise InputError(f"--batch {path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--batch {path}: cannot be read ({exc})") from exc
    names: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() in {"name", "thingname", "thing_name", "thing"}:
            continue
        names.append(check_thing_name(cells[0], where=f"--batch {path} line {number}"))
    if not names:
        raise InputError(f"--batch {path}: no names")
    if len(names) > MAX_BATCH:
        raise InputError(f"--batch {path}: {len(names)} names, at most {MAX_BATCH} per run")
    seen: set[str] = set()
    duplicates = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if duplicates:
        raise InputError(f"--batch {path}: names appear twice: {', '.join(duplicates[:10])}")
    return names


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def colon_serial(serial: int) -> str:
    """A serial as Private CA's API and ``openssl x509 -text`` write it: lower-case hex byte
    pairs separated by colons (``2b:3f:89``)."""
    text = _lambda.serial_hex(serial)
    text = text if len(text) % 2 == 0 else "0" + text
    return ":".join(text[i : i + 2] for i in range(0, len(text), 2))


def iot_certificate_id(certificate: x509.Certificate) -> str:
    """What AWS IoT calls the certificate ID: SHA-256 of the DER, lower-case hex."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


# ----------------------------------------------------------------------------------------------
# Keys and CSRs (always made here)
# ----------------------------------------------------------------------------------------------


def new_key(algorithm: str) -> PrivateKey:
    if algorithm == "RSA_2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(name: str, key: PrivateKey) -> x509.CertificateSigningRequest:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())


def read_csr(path: Path) -> x509.CertificateSigningRequest:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"--csr {path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"--csr {path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        csr = (
            x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
        )
    except ValueError as exc:
        raise InputError(f"--csr {path}: not a certificate signing request (PEM or DER)") from exc
    if not csr.is_signature_valid:
        raise InputError(f"--csr {path}: its signature does not verify (a damaged CSR)")
    return csr


# ----------------------------------------------------------------------------------------------
# Issuers: AWS Private CA, or a local CA folder
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    certificate_arn: str | None


class Issuer(Protocol):
    """Where device certificates come from."""

    kind: str
    #: How the text output names it.
    label: str

    def preflight(self, validity_days: int | None) -> int:
        """Check the CA can issue (without changing anything); the validity to ask for."""
        ...

    def issue(
        self, csr: x509.CertificateSigningRequest, *, name: str, validity_days: int
    ) -> IssuedCertificate: ...

    def describe(self) -> dict[str, Any]: ...


def normalise_chain(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], *, what: str
) -> list[x509.Certificate]:
    """The chain ordered from the leaf's issuer upwards; the issuer must be in it."""
    ordered = order_chain(leaf, chain)
    if chain and not ordered:
        raise OcspIotError(f"{what}: the chain does not hold the certificate's issuer")
    return ordered


class PrivateCaIssuer:
    """AWS Private CA through boto3."""

    kind = ISSUER_AWS
    label = "AWS Private CA"

    def __init__(self, clients: Clients, ca: CaArn) -> None:
        self.clients = clients
        self.ca = ca
        self.signing_algorithm = ""
        self.usage_mode = ""
        self.status = ""

    def _pca(self) -> Any:
        return self.clients.pca(self.ca.region)

    def preflight(self, validity_days: int | None) -> int:
        doing = f"DescribeCertificateAuthority {self.ca.arn}"
        with aws_call(
            doing,
            hint_not_found=f"no such CA in {self.ca.region}, account {self.ca.account} "
            "(check the ARN, its region and your credentials' account)",
        ):
            described = self._pca().describe_certificate_authority(
                CertificateAuthorityArn=self.ca.arn
            )["CertificateAuthority"]
        self.status = str(described.get("Status", ""))
        if self.status != "ACTIVE":
            raise CaNotActiveError(
                f"the certificate authority {self.ca.arn} is {self.status or 'in an unknown state'}"
                ", not ACTIVE: it cannot issue certificates"
            )
        config = described.get("CertificateAuthorityConfiguration", {})
        self.signing_algorithm = str(config.get("SigningAlgorithm", ""))
        self.usage_mode = str(described.get("UsageMode", "GENERAL_PURPOSE"))
        if self.usage_mode == "SHORT_LIVED_CERTIFICATE":
            if validity_days is not None and validity_days > SHORT_LIVED_MAX_DAYS:
                raise InputError(
                    f"--validity-days must be at most {SHORT_LIVED_MAX_DAYS} for this CA (it is "
                    f"in SHORT_LIVED_CERTIFICATE mode), got {validity_days}"
                )
            return validity_days or SHORT_LIVED_MAX_DAYS
        return validity_days or DEFAULT_VALIDITY_DAYS

    def issue(
        self, csr: x509.CertificateSigningRequest, *, name: str, validity_days: int
    ) -> IssuedCertificate:
        pca = self._pca()
        public = csr.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # The same key asks for the same certificate: a retried run within Private CA's
        # idempotency window (5 minutes) gets the certificate the first one was issued.
        token = hashlib.sha256(name.encode() + b"\0" + public).hexdigest()[:36]
        with aws_call(f"IssueCertificate from {self.ca.arn}"):
            arn = pca.issue_certificate(
                CertificateAuthorityArn=self.ca.arn,
                Csr=csr.public_bytes(serialization.Encoding.PEM),
                SigningAlgorithm=self.signing_algorithm,
                TemplateArn=self.ca.template_arn(CLIENT_AUTH_TEMPLATE),
                Validity={"Value": validity_days, "Type": "DAYS"},
                IdempotencyToken=token,
            )["CertificateArn"]
        with (
            progress(f"waiting for AWS Private CA to issue {arn}"),
            aws_call(f"waiting for {arn} to be issued"),
        ):
            pca.get_waiter("certificate_issued").wait(
                CertificateAuthorityArn=self.ca.arn,
                CertificateArn=arn,
                WaiterConfig={"Delay": WAITER_DELAY_SECONDS, "MaxAttempts": WAITER_MAX_ATTEMPTS},
            )
        with aws_call(f"GetCertificate {arn}"):
            got = pca.get_certificate(CertificateAuthorityArn=self.ca.arn, CertificateArn=arn)
        leaf_list = split_pem_certificates(str(got["Certificate"]), what=f"certificate {arn}")
        if len(leaf_list) != 1:
            raise OcspIotError(f"GetCertificate {arn}: expected one certificate")
        (leaf,) = leaf_list
        chain = split_pem_certificates(
            str(got.get("CertificateChain", "")), what=f"certificate chain of {arn}"
        )
        return IssuedCertificate(
            certificate=leaf,
            chain=normalise_chain(leaf, chain, what=f"certificate chain of {arn}"),
            certificate_arn=arn,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "certificateAuthorityArn": self.ca.arn,
            "region": self.ca.region,
            "template": CLIENT_AUTH_TEMPLATE,
            "signingAlgorithm": self.signing_algorithm,
            "usageMode": self.usage_mode,
        }


class LocalCaIssuer:
    """A local CA folder (``ocsp_iot.local.pki``): the same flow without an AWS account."""

    kind = ISSUER_LOCAL

    def __init__(self, folder: Path) -> None:
        from ocsp_iot.local.pki import LocalCa  # noqa: PLC0415 - only for --local-ca

        self.ca = LocalCa.load(folder)
        self.label = f"the local CA in {folder}"

    def preflight(self, validity_days: int | None) -> int:
        now = dt.datetime.now(dt.UTC)
        if (
            not self.ca.certificate.not_valid_before_utc
            <= now
            <= (self.ca.certificate.not_valid_after_utc)
        ):
            raise CaNotActiveError(f"the local CA in {self.ca.folder} is not valid now")
        return validity_days or DEFAULT_VALIDITY_DAYS

    def issue(
        self, csr: x509.CertificateSigningRequest, *, name: str, validity_days: int
    ) -> IssuedCertificate:
        del name
        certificate = self.ca.sign(csr, validity=dt.timedelta(days=validity_days))
        return IssuedCertificate(
            certificate=certificate, chain=list(self.ca.chain), certificate_arn=None
        )

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "folder": str(self.ca.folder), "ocspUrl": self.ca.ocsp_url}


# ----------------------------------------------------------------------------------------------
# The IoT registry
# ----------------------------------------------------------------------------------------------


@dataclass
class Registration:
    certificate_id: str
    certificate_arn: str
    mode: str
    status: str


class IotRegistry:
    """AWS IoT Core's registry for one region."""

    def __init__(
        self, clients: Clients, *, region: str, policy_name: str | None, ca_id: str | None
    ) -> None:
        self.iot = clients.iot(region)
        self.region = region
        self.policy_name = policy_name
        self.ca_id = ca_id
        self.ca_pem: str | None = None

    def preflight(self) -> None:
        if self.policy_name is not None:
            with aws_call(
                f"GetPolicy {self.policy_name}",
                hint_not_found=f"no IoT policy of that name in {self.region} (deployed with the "
                "stack's device policy? give --policy NAME or --outputs FILE)",
            ):
                self.iot.get_policy(policyName=self.policy_name)
        if self.ca_id is not None:
            with aws_call(
                f"DescribeCACertificate {self.ca_id}",
                hint_not_found=f"no CA certificate with that ID registered in {self.region}",
            ):
                described = self.iot.describe_ca_certificate(certificateId=self.ca_id)
            description = described["certificateDescription"]
            if description.get("status") != "ACTIVE":
                raise CaNotActiveError(
                    f"the CA certificate {self.ca_id} registered with AWS IoT is "
                    f"{description.get('status')}, not ACTIVE: certificates under it cannot "
                    "connect"
                )
            self.ca_pem = str(description["certificatePem"])

    def thing_principals(self, name: str) -> list[str] | None:
        """The certificates attached to thing ``name``; ``None``: no such thing."""
        try:
            self.iot.describe_thing(thingName=name)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            with aws_call(f"DescribeThing {name}"):
                raise
        with aws_call(f"ListThingPrincipals {name}"):
            principals = self.iot.list_thing_principals(thingName=name).get("principals", [])
        return [str(p) for p in principals]

    def describe_certificate(self, certificate_id: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.iot.describe_certificate(certificateId=certificate_id)[
                    "certificateDescription"
                ]
            )
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            with aws_call(f"DescribeCertificate {certificate_id}"):
                raise
        return None  # pragma: no cover - aws_call re-raised

    def principal_for(self, principals: Sequence[str], certificate: x509.Certificate) -> str | None:
        """Which of ``principals`` is ``certificate`` (by ID, else by the registered PEM)."""
        wanted = iot_certificate_id(certificate)
        for principal in principals:
            if principal.endswith(f":cert/{wanted}"):
                return principal
        for principal in principals:
            if ":cert/" not in principal:
                continue
            described = self.describe_certificate(principal.rsplit("/", 1)[1])
            pem = (described or {}).get("certificatePem")
            if pem and split_pem_certificates(str(pem), what=principal) == [certificate]:
                return principal
        return None

    def registration(self, certificate: x509.Certificate) -> Registration | None:
        described = self.describe_certificate(iot_certificate_id(certificate))
        if described is None:
            return None
        return Registration(
            certificate_id=str(described["certificateId"]),
            certificate_arn=str(described["certificateArn"]),
            mode=str(described.get("certificateMode") or self._mode()),
            status=str(described.get("status")),
        )

    def _mode(self) -> str:
        return "DEFAULT (under the registered CA)" if self.ca_pem else "SNI_ONLY"

    def register(self, certificate: x509.Certificate) -> Registration:
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        try:
            if self.ca_pem is not None:
                answer = self.iot.register_certificate(
                    certificatePem=pem, caCertificatePem=self.ca_pem, status="ACTIVE"
                )
            else:
                answer = self.iot.register_certificate_without_ca(
                    certificatePem=pem, status="ACTIVE"
                )
        except Exception as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                with aws_call(
                    "RegisterCertificate" if self.ca_pem else "RegisterCertificateWithoutCA"
                ):
                    raise
            response = getattr(exc, "response", {})
            certificate_id = str(response.get("resourceId") or iot_certificate_id(certificate))
            described = self.describe_certificate(certificate_id) or {}
            return Registration(
                certificate_id=certificate_id,
                certificate_arn=str(response.get("resourceArn") or described.get("certificateArn")),
                mode=self._mode(),
                status=str(described.get("status", "ACTIVE")),
            )
        return Registration(
            certificate_id=str(answer["certificateId"]),
            certificate_arn=str(answer["certificateArn"]),
            mode=self._mode(),
            status="ACTIVE",
        )

    def activate(self, registration: Registration) -> None:
        with aws_call(f"UpdateCertificate {registration.certificate_id} ACTIVE"):
            self.iot.update_certificate(
                certificateId=registration.certificate_id, newStatus="ACTIVE"
            )
        registration.status = "ACTIVE"

    def create_thing(self, name: str) -> None:
        with aws_call(f"CreateThing {name}"):
            self.iot.create_thing(thingName=name)

    def attached_policies(self, certificate_arn: str) -> list[str]:
        with aws_call(f"ListAttachedPolicies {certificate_arn}"):
            policies = self.iot.list_attached_policies(target=certificate_arn).get("policies", [])
        return [str(p.get("policyName")) for p in policies]

    def attach_policy(self, certificate_arn: str) -> None:
        assert self.policy_name is not None  # noqa: S101 - callers check
        with aws_call(f"AttachPolicy {self.policy_name}"):
            self.iot.attach_policy(policyName=self.policy_name, target=certificate_arn)

    def attach_thing(self, name: str, certificate_arn: str) -> None:
        with aws_call(f"AttachThingPrincipal {name}"):
            self.iot.attach_thing_principal(thingName=name, principal=certificate_arn)


# ----------------------------------------------------------------------------------------------
# One device
# ----------------------------------------------------------------------------------------------


@dataclass
class EnrollOptions:
    out: Path
    issuer: Issuer
    registry: IotRegistry | None
    stack: StackValues
    key_algorithm: str = DEFAULT_KEY_ALGORITHM
    #: The device's own CSR (``--csr``): no key is made or written.
    csr: x509.CertificateSigningRequest | None = None
    validity_days: int = DEFAULT_VALIDITY_DAYS
    dry_run: bool = False
    server_ca: Path | None = None


@dataclass
class DeviceResult:
    name: str
    folder: Path
    #: ``enrolled``, ``completed`` (a run that had stopped, finished), ``unchanged`` (already
    #: enrolled), or with ``--dry-run`` ``would enroll`` / ``would complete``.
    status: str = ""
    actions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    certificate: x509.Certificate | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    connect: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "name": self.name,
            "folder": str(self.folder),
            "status": self.status,
            "actions": list(self.actions),
            "warnings": list(self.warnings),
            "certificate": None
            if cert is None
            else {
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "serial": colon_serial(cert.serial_number),
                "notBefore": _time(cert.not_valid_before_utc),
                "notAfter": _time(cert.not_valid_after_utc),
                "ocspUrl": aia_ocsp_url(cert),
                "chain": [c.subject.rfc4514_string() for c in self.chain],
            },
            "device": dict(self.info),
            "connect": shlex.join(self.connect) if self.connect else None,
        }

    def as_text(self) -> str:
        lines = [f"{self.status}: {self.name} ({self.folder})"]
        cert = self.certificate
        if cert is not None:
            lines += [
                f"  certificate: {cert.subject.rfc4514_string()}, serial "
                f"{colon_serial(cert.serial_number)}",
                f"               valid {_time(cert.not_valid_before_utc)} to "
                f"{_time(cert.not_valid_after_utc)}",
                f"               issued by {cert.issuer.rfc4514_string()}",
            ]
            if self.info.get("certificateArn"):
                lines.append(f"               {self.info['certificateArn']}")
            url = aia_ocsp_url(cert)
            lines.append(f"  ocsp:        {url or 'none (the certificate has no AIA OCSP URL)'}")
        lines += [f"  - {action}" for action in self.actions]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        if self.connect:
            lines += ["  connect:", f"    {shlex.join(self.connect)}"]
        return "\n".join(lines)


def certificate_warnings(cert: x509.Certificate) -> list[str]:
    """What the pre-auth Lambda will make of the certificate, when it is not an allow."""
    warnings: list[str] = []
    if aia_ocsp_url(cert) is None:
        warnings.append(
            "the certificate names no OCSP responder (no AIA OCSP URL): the pre-auth Lambda "
            "denies it with NO_RESPONDER_URL unless the domain sets responder_url"
        )
    problem = _lambda.device_usage_problem(cert)
    if problem is not None:
        warnings.append(f"the pre-auth Lambda refuses it as a device certificate: {problem}")
    return warnings


def mosquitto_command(
    *,
    name: str,
    folder: Path,
    domain_name: str | None,
    topic_prefix: str,
    server_ca: Path | str,
    has_key: bool,
) -> list[str]:
    """The ``mosquitto_pub`` command that connects as the device and publishes once (under
    the device policy's topic prefix, with the thing name as client id)."""
    return [
        "mosquitto_pub",
        "-h",
        domain_name or "DOMAIN",
        "-p",
        str(MQTT_PORT),
        "--cafile",
        str(server_ca),
        "--cert",
        str(folder / DEVICE_CERT_FILE),
        "--key",
        str(folder / KEY_FILE) if has_key else "DEVICE.key",
        "-i",
        name,
        "-t",
        f"{topic_prefix}/{name}/hello",
        "-m",
        f"hello from {name}",
        "-q",
        "1",
        "-d",
    ]


def _server_ca(options: EnrollOptions) -> Path | str:
    """What ``--cafile`` trusts for the endpoint's certificate: ``--server-ca``, else the local
    CA's root, else the public roots (an endpoint serving a public ACM certificate)."""
    if options.server_ca is not None:
        return options.server_ca
    if isinstance(options.issuer, LocalCaIssuer):
        from ocsp_iot.local.pki import CA_ROOT_FILE  # noqa: PLC0415

        return options.issuer.ca.folder / CA_ROOT_FILE
    import certifi  # noqa: PLC0415 - a dependency of requests: the public roots

    return str(certifi.where())


def enroll_one(name: str, options: EnrollOptions) -> DeviceResult:
    """Enroll one device (see the module doc); raises the command's errors."""
    result = DeviceResult(name=name, folder=options.out / name)
    folder, registry, dry = result.folder, options.registry, options.dry_run
    existing = load_device(folder) if (folder / DEVICE_CERT_FILE).exists() else None
    principals = registry.thing_principals(name) if registry is not None else None
    if principals and (
        existing is None or registry.principal_for(principals, existing.certificate) is None  # type: ignore[union-attr]
    ):
        where = (
            f"{folder / DEVICE_CERT_FILE} is another certificate"
            if existing is not None
            else f"there is no device folder {folder}"
        )
        ids = ", ".join(p.rsplit("/", 1)[-1][:12] for p in principals)
        raise ConflictError(
            f"thing {name} already exists with {len(principals)} certificate(s) attached "
            f"({ids}) and {where}: nothing changed (choose another name, or point --out at "
            "the folder holding that device's folder)"
        )
    if existing is not None:
        result.certificate, result.chain = existing.certificate, list(existing.chain)
        result.info = read_device_info(folder) or {"name": name}
        if registry is None:
            result.status = "unchanged"
            result.actions.append(f"already: {folder} holds this device: nothing changed")
    else:
        _issue_into_folder(name, result, options)
    if result.certificate is not None:
        result.warnings += certificate_warnings(result.certificate)
    if registry is not None:
        changed = _register(
            name,
            result,
            registry,
            options,
            thing_exists=principals is not None,
            attached=bool(principals),
        )
        if existing is not None:
            result.status = ("would complete" if dry else "completed") if changed else "unchanged"
    result.status = result.status or ("would enroll" if dry else "enrolled")
    if options.stack.domain_name is None:
        result.warnings.append(
            "the domain name is not known (give --domain NAME or --outputs FILE): the command "
            "below says DOMAIN"
        )
    result.connect = mosquitto_command(
        name=name,
        folder=folder,
        domain_name=options.stack.domain_name,
        topic_prefix=options.stack.topic_prefix,
        server_ca=_server_ca(options),
        has_key=(folder / KEY_FILE).exists() or (dry and options.csr is None),
    )
    return result


def _issue_into_folder(name: str, result: DeviceResult, options: EnrollOptions) -> None:
    folder, dry, issuer = result.folder, options.dry_run, options.issuer
    key_path = folder / KEY_FILE
    key: PrivateKey | None = None
    if options.csr is None and key_path.exists():
        key = read_private_key(key_path, what="device key")
        result.actions.append(
            f"{'would reuse' if dry else 'reused'} the key in {key_path} (a previous run "
            "stopped before the certificate was written)"
        )
    if dry:
        if options.csr is None and key is None:
            result.actions.append(
                f"would make a key ({options.key_algorithm}) and a CSR for CN={name}, the key "
                f"written to {key_path} (mode 0600)"
            )
        result.actions.append(
            f"would have {issuer.label} issue a clientAuth certificate valid "
            f"{options.validity_days} days"
        )
        result.actions.append(
            f"would write {DEVICE_CERT_FILE}, {CHAIN_FILE} and {INFO_FILE} to {folder}"
        )
        return
    if options.csr is not None:
        csr = options.csr
    else:
        if key is None:
            key = new_key(options.key_algorithm)
            make_device_folder(folder)
            write_private_key(key_path, key)
            result.actions.append(
                f"made a key ({options.key_algorithm}): {key_path} (mode 0600, it never leaves "
                "this machine)"
            )
        csr = make_csr(name, key)
    issued = issuer.issue(csr, name=name, validity_days=options.validity_days)
    if not _same_public_key(issued.certificate, csr):
        raise OcspIotError("the issued certificate does not hold the CSR's public key")
    described = issuer.describe()
    result.certificate, result.chain = issued.certificate, issued.chain
    result.info = {
        "name": name,
        "issuer": described["kind"],
        "certificateAuthorityArn": described.get("certificateAuthorityArn"),
        "region": described.get("region"),
        "certificateArn": issued.certificate_arn,
        "serial": colon_serial(issued.certificate.serial_number),
        "notAfter": _time(issued.certificate.not_valid_after_utc),
    }
    write_device_folder(
        folder, certificate=issued.certificate, chain=issued.chain, key=None, info=result.info
    )
    count = len(issued.chain)
    result.actions.append(
        f"issued by {issuer.label}; wrote {DEVICE_CERT_FILE}, {CHAIN_FILE} ({count} "
        f"certificate{'' if count == 1 else 's'}) and {INFO_FILE}"
        + ("" if key is not None else f" (no {KEY_FILE}: the key stays with the device)")
    )


def _same_public_key(cert: x509.Certificate, csr: x509.CertificateSigningRequest) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(der, spki) == csr.public_key().public_bytes(der, spki)
    )


def _register(  # noqa: PLR0912, PLR0915 - one branch per step, in order
    name: str,
    result: DeviceResult,
    registry: IotRegistry,
    options: EnrollOptions,
    *,
    thing_exists: bool,
    attached: bool,
) -> bool:
    """Register, activate, create the thing, attach the policy and the thing; whether anything
    was (or, dry, would be) changed."""
    dry, cert, actions = options.dry_run, result.certificate, result.actions
    would = "would " if dry else ""
    changed = False
    registration = registry.registration(cert) if cert is not None else None
    if registration is not None and registration.status == "REVOKED":
        raise ConflictError(
            f"certificate {registration.certificate_id} of {name} is REVOKED in the AWS IoT "
            "registry: a revoked device is not enrolled again (enroll a new name)"
        )
    mode = (
        f"under the registered CA {registry.ca_id}"
        if registry.ca_pem
        else "without a CA (SNI_ONLY)"
    )
    if registration is None:
        changed = True
        if dry or cert is None:
            actions.append(f"would register the certificate with AWS IoT {mode}, ACTIVE")
        else:
            registration = registry.register(cert)
            actions.append(
                f"registered certificate {registration.certificate_id} with AWS IoT {mode}, "
                f"{registration.status}"
            )
    if registration is not None and registration.status != "ACTIVE":
        changed = True
        if dry:
            actions.append(f"would set certificate {registration.certificate_id} ACTIVE")
        else:
            registry.activate(registration)
            actions.append(f"set certificate {registration.certificate_id} ACTIVE")
    elif registration is not None and not changed:
        actions.append(f"already: certificate {registration.certificate_id} registered, ACTIVE")
    if thing_exists:
        actions.append(f"already: thing {name} exists")
    else:
        changed = True
        if not dry:
            registry.create_thing(name)
        actions.append(f"{would}create{'' if dry else 'd'} thing {name}")
    if registry.policy_name is None:
        result.warnings.append(
            "no device policy attached (--no-policy): AWS IoT authorizes nothing for this "
            "certificate until one is"
        )
    elif registration is not None and registry.policy_name in registry.attached_policies(
        registration.certificate_arn
    ):
        actions.append(f"already: policy {registry.policy_name} attached to the certificate")
    else:
        changed = True
        if not dry and registration is not None:
            registry.attach_policy(registration.certificate_arn)
        actions.append(
            f"{would}attach{'' if dry else 'ed'} policy {registry.policy_name} to the certificate"
        )
    if attached:
        actions.append(f"already: the certificate is attached to thing {name}")
    else:
        changed = True
        if not dry and registration is not None:
            registry.attach_thing(name, registration.certificate_arn)
        actions.append(f"{would}attach{'' if dry else 'ed'} the certificate to thing {name}")
    if registration is not None and not dry and cert is not None:
        iot_info = {
            "region": registry.region,
            "thingName": name,
            "certificateId": registration.certificate_id,
            "certificateArn": registration.certificate_arn,
            "mode": "CA " + str(registry.ca_id) if registry.ca_pem else "SNI_ONLY",
            "policyName": registry.policy_name,
        }
        if result.info.get("iot") != iot_info:
            result.info["iot"] = iot_info
            write_device_info(result.folder, result.info)
    return changed


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------


@dataclass
class EnrollReport:
    devices: list[DeviceResult]
    dry_run: bool
    issuer: dict[str, Any]
    failed: tuple[str, OcspIotError] | None = None
    remaining: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for device in self.devices:
            counts[device.status] = counts.get(device.status, 0) + 1
        data: dict[str, Any] = {
            "command": "enroll",
            "dryRun": self.dry_run,
            "issuer": self.issuer,
            "devices": [d.as_json() for d in self.devices],
            "summary": counts,
        }
        if self.failed is not None:
            data["error"] = {"name": self.failed[0], "message": str(self.failed[1])}
            data["notAttempted"] = list(self.remaining)
        return data

    def as_text(self) -> str:
        parts = [d.as_text() for d in self.devices]
        if self.dry_run:
            parts.append("dry run: nothing was changed (only read-only calls were made)")
        if len(self.devices) > 1 or self.failed is not None:
            counts: dict[str, int] = {}
            for device in self.devices:
                counts[device.status] = counts.get(device.status, 0) + 1
            summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none done"
            parts.append(f"summary: {summary}")
        if self.failed is not None:
            parts.append(
                f"stopped at {self.failed[0]}: {self.failed[1]} ({len(self.remaining)} not "
                "attempted; run the same command again to go on: enrolled devices are skipped)"
            )
        return "\n".join(parts)


def run_enroll(
    *,
    names: Sequence[str],
    options: EnrollOptions,
    validity_days: int | None,
    batch: bool,
) -> EnrollReport:
    """Enroll ``names`` in order; a batch stops at the first failure (its report says which,
    and the error's exit code is the command's)."""
    options.validity_days = options.issuer.preflight(validity_days)
    if options.registry is not None:
        options.registry.preflight()
    report = EnrollReport(devices=[], dry_run=options.dry_run, issuer=options.issuer.describe())
    bar = ProgressBar("enroll", len(names)) if batch else None
    try:
        for index, name in enumerate(names):
            try:
                device = enroll_one(name, options)
            except OcspIotError as exc:
                if not batch:
                    raise
                report.failed = (name, exc)
                report.remaining = list(names[index + 1 :])
                if bar is not None:
                    bar.update(index + 1, name, f"failed ({type(exc).__name__})")
                break
            report.devices.append(device)
            if bar is not None:
                bar.update(index + 1, name, device.status)
    finally:
        if bar is not None:
            bar.close()
    return report
