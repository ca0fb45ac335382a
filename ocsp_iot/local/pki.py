"""A local PKI shaped like the deployed one, built with ``cryptography`` in memory.

- ``root``: the self-signed root CA (what devices and the endpoint's clients trust);
- ``issuing_ca``: signed by ``root``; issues the devices and the endpoint's server certificate
  (what the pre-auth Lambda trusts: ``TRUSTED_CA_PEM``);
- ``rogue_ca``: self-signed, with **the same subject** as ``issuing_ca`` but another key: its
  devices look right by name and must still be refused.

Certificates carry an AIA OCSP URL when one is given (``ocsp_url``), as AWS Private CA writes
it. Keys are EC P-256. Nothing is written to disk unless asked (:meth:`Issued.write`,
:func:`ocsp_iot.device.write_device_folder`, :meth:`LocalPki.write_ca_folder`).

A *local CA folder* is what ``ocsp-iot enroll --local-ca DIR`` issues from, the local stand-in
for AWS Private CA: ``root.pem``, ``issuing-ca.pem``, ``issuing-ca.key`` (mode 0600) and
``ocsp-url`` (the AIA OCSP URL written into every certificate it issues: the local responder's).
:class:`LocalCa` reads one and signs device CSRs with the same profile as
:meth:`LocalPki.issue_device`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ocsp_iot.device import (
    Device,
    PrivateKey,
    load_device,
    read_certificates,
    read_private_key,
    write_device_folder,
    write_private_key,
)
from ocsp_iot.errors import InputError

#: Certificates start this long before they are made, so small clock differences never matter.
BACKDATE = dt.timedelta(hours=1)
CA_LIFETIME = dt.timedelta(days=365)
#: The files of a local CA folder.
CA_ROOT_FILE = "root.pem"
CA_CERT_FILE = "issuing-ca.pem"
CA_KEY_FILE = "issuing-ca.key"
CA_OCSP_URL_FILE = "ocsp-url"
LEAF_LIFETIME = dt.timedelta(days=30)
ORGANIZATION = "ocsp-iot local PKI"


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def certificate_id(self) -> str:
        """SHA-256 of the DER, hex: what IoT Core calls the certificate ID."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()

    def write(self, cert_path: Path, key_path: Path | None = None) -> None:
        """Write the certificate (PEM) and, when given a path, the key (PEM, mode 0600)."""
        cert_path.write_bytes(self.pem)
        if key_path is not None:
            key_path.touch(mode=0o600)
            key_path.chmod(0o600)
            key_path.write_bytes(self.key_pem)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | Any,
    issuer_certificate: x509.Certificate | None,
    signer: PrivateKey,
    ca: bool,
    lifetime: dt.timedelta,
    eku: x509.ObjectIdentifier | None = None,
    dns_names: tuple[str, ...] = (),
    ocsp_url: str | None = None,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_certificate.subject if issuer_certificate else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_certificate is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_certificate.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
            critical=False,
        )
    if ocsp_url is not None:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def _issue(
    *,
    subject: x509.Name,
    issuer: Issued | None,
    ca: bool,
    eku: x509.ObjectIdentifier | None = None,
    dns_names: tuple[str, ...] = (),
    ocsp_url: str | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate(
        subject=subject,
        public_key=key.public_key(),
        issuer_certificate=issuer.certificate if issuer is not None else None,
        signer=issuer.key if issuer is not None else key,
        ca=ca,
        lifetime=CA_LIFETIME if ca else LEAF_LIFETIME,
        eku=eku,
        dns_names=dns_names,
        ocsp_url=ocsp_url,
    )
    return Issued(certificate=certificate, key=key)


@dataclass(frozen=True)
class LocalPki:
    """The CAs of the local PKI; leaves are issued on demand."""

    root: Issued
    issuing_ca: Issued
    rogue_ca: Issued

    @classmethod
    def create(cls, *, name: str = "Local") -> LocalPki:
        """A new root, issuing CA and rogue CA (fresh keys on every call)."""
        root = _issue(subject=_name(f"{name} Root CA"), issuer=None, ca=True)
        issuing_subject = _name(f"{name} Issuing CA")
        issuing_ca = _issue(subject=issuing_subject, issuer=root, ca=True)
        rogue_ca = _issue(subject=issuing_subject, issuer=None, ca=True)
        return cls(root=root, issuing_ca=issuing_ca, rogue_ca=rogue_ca)

    def issue_server(self, server_name: str, *, ocsp_url: str | None = None) -> Issued:
        """The endpoint's server certificate for ``server_name`` (serverAuth, SAN), issued by
        ``issuing_ca``; its chain is ``[issuing_ca]``."""
        return _issue(
            subject=_name(server_name),
            issuer=self.issuing_ca,
            ca=False,
            eku=ExtendedKeyUsageOID.SERVER_AUTH,
            dns_names=(server_name,),
            ocsp_url=ocsp_url,
        )

    def issue_device(
        self, thing_name: str, *, ocsp_url: str | None = None, rogue: bool = False
    ) -> Issued:
        """A device certificate (clientAuth) named ``thing_name``, issued by ``issuing_ca`` (or
        by ``rogue_ca`` with ``rogue``)."""
        return _issue(
            subject=_name(thing_name),
            issuer=self.rogue_ca if rogue else self.issuing_ca,
            ca=False,
            eku=ExtendedKeyUsageOID.CLIENT_AUTH,
            ocsp_url=ocsp_url,
        )

    def chain_for(self, issued: Issued) -> tuple[x509.Certificate, ...]:
        """What a holder of ``issued`` sends after its certificate: its issuing CA."""
        if issued.certificate.issuer == self.issuing_ca.certificate.subject:
            try:
                issued.certificate.verify_directly_issued_by(self.issuing_ca.certificate)
            except Exception:  # same name, other key: the rogue CA's
                return (self.rogue_ca.certificate,)
            return (self.issuing_ca.certificate,)
        return ()

    def write_ca_folder(self, folder: Path, *, ocsp_url: str) -> Path:
        """Write the issuing CA as a local CA folder (see the module doc) for ``ocsp-iot enroll
        --local-ca``; ``ocsp_url`` goes into the AIA of every certificate it issues."""
        folder.mkdir(parents=True, exist_ok=True)
        self.root.write(folder / CA_ROOT_FILE)
        self.issuing_ca.write(folder / CA_CERT_FILE)
        write_private_key(folder / CA_KEY_FILE, self.issuing_ca.key)
        (folder / CA_OCSP_URL_FILE).write_text(ocsp_url + "\n")
        return folder

    def write_device(self, folder: Path, issued: Issued) -> Device:
        """Write ``issued`` as a device folder (``ocsp_iot.device``) and read it back."""
        write_device_folder(
            folder, certificate=issued.certificate, chain=self.chain_for(issued), key=issued.key
        )
        return load_device(folder, need_key=True)


@dataclass(frozen=True)
class LocalCa:
    """A local CA folder, read (see the module doc)."""

    folder: Path
    root: x509.Certificate
    certificate: x509.Certificate
    key: PrivateKey
    ocsp_url: str | None

    @classmethod
    def load(cls, folder: Path) -> LocalCa:
        if not folder.is_dir():
            raise InputError(f"local CA folder {folder}: no such folder")
        (root, *_) = read_certificates(folder / CA_ROOT_FILE, what="local root CA")
        (certificate, *_) = read_certificates(folder / CA_CERT_FILE, what="local issuing CA")
        key = read_private_key(folder / CA_KEY_FILE, what="local issuing CA key")
        if _public_der(certificate.public_key()) != _public_der(key.public_key()):
            raise InputError(f"local CA folder {folder}: {CA_KEY_FILE} is not {CA_CERT_FILE}'s key")
        url_path = folder / CA_OCSP_URL_FILE
        ocsp_url = url_path.read_text().strip() or None if url_path.is_file() else None
        return cls(folder=folder, root=root, certificate=certificate, key=key, ocsp_url=ocsp_url)

    def sign(
        self, csr: x509.CertificateSigningRequest, *, validity: dt.timedelta
    ) -> x509.Certificate:
        """A device certificate (clientAuth, AIA OCSP URL) for ``csr``'s subject and key."""
        return _certificate(
            subject=csr.subject,
            public_key=csr.public_key(),
            issuer_certificate=self.certificate,
            signer=self.key,
            ca=False,
            lifetime=validity,
            eku=ExtendedKeyUsageOID.CLIENT_AUTH,
            ocsp_url=self.ocsp_url,
        )

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What a device of this CA sends after its certificate: the issuing CA, then the root."""
        return (self.certificate, self.root)


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der
