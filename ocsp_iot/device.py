"""Reading device credentials, and the one definition of a *device folder*.

A device folder holds what a device presents when it connects (``ocsp-iot enroll`` will write
one; :func:`write_device_folder` is the writer):

- ``device.pem``: the device certificate (PEM);
- ``chain.pem``: the certificates the device sends after its own, leaf's issuer first (PEM,
  optional; may be empty);
- ``device.key``: the device's private key (unencrypted PEM, mode 0600, optional where a
  command does not connect).

Wherever a command takes ``DEVICE.pem`` it also takes such a folder. A ``DEVICE.pem`` file may
itself hold a chain: the first certificate is the device's, the rest is sent after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .errors import InputError

DEVICE_CERT_FILE = "device.pem"
CHAIN_FILE = "chain.pem"
KEY_FILE = "device.key"
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


def _pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def write_device_folder(
    folder: Path,
    *,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    key: PrivateKey | None,
) -> Path:
    """Write a device folder (creating it); the key file is readable by its owner only."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEVICE_CERT_FILE).write_bytes(_pem([certificate]))
    (folder / CHAIN_FILE).write_bytes(_pem(chain))
    if key is not None:
        key_path = folder / KEY_FILE
        key_path.touch(mode=0o600)
        key_path.chmod(0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return folder
