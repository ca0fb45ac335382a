"""Reading device credentials, and the one definition of a *device folder*.

A device folder holds what a device presents when it connects, and what an operator needs to
act on it later (``ocsp-iot enroll`` writes one; :func:`write_device_folder` is the writer):

- ``device.pem``: the device certificate (PEM);
- ``chain.pem``: the certificates the device sends after its own, leaf's issuer first (PEM,
  optional; may be empty);
- ``device.key``: the device's private key (unencrypted PEM, mode 0600, optional where a
  command does not connect, absent when the key was made elsewhere: ``enroll --csr``);
- ``device.json``: what ``enroll`` did (optional): the thing name, the CA's ARN and region,
  the certificate's ARN, its IoT certificate ID and mode; ``revoke`` reads it.

Wherever a command takes ``DEVICE.pem`` it also takes such a folder. A ``DEVICE.pem`` file may
itself hold a chain: the first certificate is the device's, the rest is sent after it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

from .errors import InputError

DEVICE_CERT_FILE = "device.pem"
CHAIN_FILE = "chain.pem"
KEY_FILE = "device.key"
INFO_FILE = "device.json"
#: Files larger than this are not credentials.
MAX_FILE_BYTES = 1_048_576

PrivateKey = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


@dataclass(frozen=True)
class Device:
    """A device's certificate, the chain it sends after it, and its key (when read)."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey | None
    cert_path: Path
    key_path: Path | None = None

    @property
    def presented(self) -> tuple[x509.Certificate, ...]:
        """What the device sends in its Certificate message: its certificate, then the chain."""
        return (self.certificate, *self.chain)


def _read(path: Path, what: str) -> bytes:
    if not path.exists():
        raise InputError(f"{what} {path}: no such file")
    if path.is_dir():
        raise InputError(f"{what} {path}: is a folder, not a file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{what} {path}: {size} bytes is too large for a credential file")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from exc


def read_certificates(
    path: Path, *, what: str, allow_empty: bool = False
) -> list[x509.Certificate]:
    """Every certificate in a PEM file (or the one in a DER file), in file order."""
    data = _read(path, what)
    if b"-----BEGIN" in data:
        try:
            return list(x509.load_pem_x509_certificates(data))
        except ValueError as exc:
            raise InputError(f"{what} {path}: not a PEM certificate file ({exc})") from exc
    if not data.strip():
        if allow_empty:
            return []
        raise InputError(f"{what} {path}: the file is empty")
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InputError(f"{what} {path}: not a PEM or DER certificate") from exc


def read_private_key(path: Path, *, what: str = "key") -> PrivateKey:
    """An unencrypted private key (PEM or DER) of a type TLS can use."""
    data = _read(path, what)
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except TypeError as exc:  # cryptography: "Password was not given but private key is encrypted"
        raise InputError(f"{what} {path}: the key is encrypted; give an unencrypted key") from exc
    except ValueError as exc:
        raise InputError(f"{what} {path}: not a private key (PEM or DER)") from exc
    if not isinstance(
        key,
        ec.EllipticCurvePrivateKey
        | rsa.RSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise InputError(f"{what} {path}: a {type(key).__name__} cannot be used for TLS")
    return key


def aia_ocsp_url(cert: x509.Certificate) -> str | None:
    """The first OCSP URL of the certificate's Authority Information Access, if any."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for description in aia:
        if description.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            description.access_location, x509.UniformResourceIdentifier
        ):
            return description.access_location.value
    return None


def _public_der(key: object) -> bytes:
    public_bytes = getattr(key, "public_bytes", None)
    if public_bytes is None:  # pragma: no cover - every key type cryptography loads has it
        return b""
    der: bytes = public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def issued_by(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    """Did ``candidate`` sign ``cert`` (name and signature)?"""
    try:
        cert.verify_directly_issued_by(candidate)
    except Exception:  # wrong name, wrong key, unsupported algorithm
        return False
    return True


def key_matches(certificate: x509.Certificate, key: PrivateKey) -> bool:
    """Is ``key`` the private key of ``certificate``'s public key?"""
    try:
        return _public_der(certificate.public_key()) == _public_der(key.public_key())
    except Exception:  # a certificate key type cryptography cannot load
        return False


def load_device(path: Path, *, key: Path | None = None, need_key: bool = False) -> Device:
    """Read a device from a certificate file or a device folder (see the module doc).

    ``key`` names the key file explicitly (else the folder's ``device.key``, if any); with
    ``need_key`` a missing key is an error. A key that does not match the certificate is always
    an error.
    """
    chain: list[x509.Certificate] = []
    if path.is_dir():
        cert_path = path / DEVICE_CERT_FILE
        if not cert_path.is_file():
            raise InputError(
                f"device folder {path} has no {DEVICE_CERT_FILE} (a device folder holds "
                f"{DEVICE_CERT_FILE}, {CHAIN_FILE} and {KEY_FILE})"
            )
        certs = read_certificates(cert_path, what="device certificate")
        chain_path = path / CHAIN_FILE
        if chain_path.exists():
            chain = read_certificates(chain_path, what="device chain", allow_empty=True)
        if key is None and (path / KEY_FILE).exists():
            key = path / KEY_FILE
    else:
        cert_path = path
        certs = read_certificates(cert_path, what="device certificate")
    device_cert, *more = certs
    chain = more + chain
    private_key: PrivateKey | None = None
    if key is not None:
        private_key = read_private_key(key, what="device key")
        if not key_matches(device_cert, private_key):
            raise InputError(f"device key {key} does not match the certificate in {cert_path}")
    elif need_key:
        raise InputError(
            f"no key for {cert_path}: give --key DEVICE.key (or a device folder with {KEY_FILE})"
        )
    return Device(
        certificate=device_cert,
        chain=tuple(chain),
        key=private_key,
        cert_path=cert_path,
        key_path=key,
    )


def pem_bytes(certificates: Sequence[x509.Certificate]) -> bytes:
    """Certificates as correctly delimited PEM, one block after the other."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


_PEM_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>.*?)-----END CERTIFICATE-----", re.DOTALL
)
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/=]*")


def split_pem_certificates(text: str, *, what: str) -> list[x509.Certificate]:
    """Every certificate in a PEM text, however its blocks are delimited.

    AWS Private CA's published walkthrough warns that a downloaded chain can come with
    ``-----END CERTIFICATE----- -----BEGIN CERTIFICATE-----`` on one line; any whitespace
    (or none) between and inside the blocks is accepted, and each block's base64 body is
    decoded on its own. Anything else than whitespace outside the blocks is an error.
    """
    certificates: list[x509.Certificate] = []
    position = 0
    for match in _PEM_BLOCK.finditer(text):
        if text[position : match.start()].strip():
            raise InputError(f"{what}: text outside the PEM certificate blocks")
        body = "".join(match["body"].split())
        if not _BASE64_BODY.fullmatch(body):
            raise InputError(f"{what}: a PEM block is not base64")
        try:
            der = base64.b64decode(body, validate=True)
            certificates.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"{what}: a PEM block is not a certificate ({exc})") from exc
        position = match.end()
    if text[position:].strip():
        raise InputError(f"{what}: text outside the PEM certificate blocks")
    return certificates


def order_chain(
    leaf: x509.Certificate, certificates: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """``certificates`` as the path from ``leaf`` upwards: its issuer first, then that one's
    issuer, and so on (duplicates and certificates off the path dropped)."""
    remaining = list(dict.fromkeys(certificates))
    path: list[x509.Certificate] = []
    current = leaf
    while remaining:
        parent = next((c for c in remaining if issued_by(current, c)), None)
        if parent is None:
            break
        path.append(parent)
        remaining.remove(parent)
        if parent.subject == parent.issuer:  # a root ends the path
            break
        current = parent
    return path


def _atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (a crash never
    leaves half a file); the file is created with ``mode`` from the start."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


def write_private_key(path: Path, key: PrivateKey) -> None:
    """The key as unencrypted PKCS#8 PEM, readable by its owner only (mode 0600 from the
    moment the file exists)."""
    _atomic_write(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )


def make_device_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) if needed; a new device folder is private (0700)."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    elif not folder.is_dir():
        raise InputError(f"{folder} exists and is not a folder")
    return folder


def write_device_folder(
    folder: Path,
    *,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    key: PrivateKey | None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write a device folder (creating it); the key file is readable by its owner only."""
    make_device_folder(folder)
    if key is not None:
        write_private_key(folder / KEY_FILE, key)
    _atomic_write(folder / DEVICE_CERT_FILE, pem_bytes([certificate]))
    _atomic_write(folder / CHAIN_FILE, pem_bytes(chain))
    if info is not None:
        write_device_info(folder, info)
    return folder


def write_device_info(folder: Path, info: Mapping[str, Any]) -> None:
    _atomic_write(folder / INFO_FILE, (json.dumps(dict(info), indent=2) + "\n").encode())


def read_device_info(folder: Path) -> dict[str, Any] | None:
    """The folder's ``device.json``, or ``None`` when it has none."""
    path = folder / INFO_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(_read(path, "device info"))
    except ValueError as exc:
        raise InputError(f"device info {path}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"device info {path}: not a JSON object")
    return data
