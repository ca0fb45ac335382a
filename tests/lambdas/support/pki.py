"""A throw-away test PKI built with ``cryptography``'s ``CertificateBuilder``.

``build_pki()`` makes (EC P-256 keys unless noted):

- ``root``: self-signed root CA;
- ``issuing_ca``: CA signed by ``root``; the CA that issues devices (put it in ``TRUSTED_CA_PEM``);
- ``other_ca``: an unrelated self-signed CA (different name and key);
- ``rogue_ca``: self-signed, *same subject* as ``issuing_ca`` but another key;
- ``delegate``: issued by ``issuing_ca`` with the id-kp-OCSPSigning EKU (an authorized responder);
- ``delegate_no_eku``: issued by ``issuing_ca`` with clientAuth EKU only;
- ``delegate_other_ca``: issued by ``other_ca`` with the OCSPSigning EKU;
- ``delegate_expired``: issued by ``issuing_ca`` with the EKU, validity entirely in the past;
- ``rsa_ca`` / ``rsa_delegate``: an RSA-2048 issuing CA (signed by ``root``) and its delegate.

``Pki.issue_device(...)`` issues a client certificate (default issuer ``issuing_ca``),
``Pki.issue_server(name, ...)`` a TLS server certificate; ``custom_certificate(...)`` builds one
with exactly the extensions given (CA variants).
``Pki.write_files(dir)`` writes PEM files for ``openssl``.

Import it from tests in this package with ``from .pki import build_pki`` (``lambda`` is a keyword,
so ``tests.lambda`` can only be reached relatively or through ``importlib``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: Certificates are back-dated by this much so small clock differences never matter.
BACKDATE = dt.timedelta(hours=1)
CA_LIFETIME = dt.timedelta(days=365)
DEVICE_LIFETIME = dt.timedelta(days=30)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def serial(self) -> int:
        return self.cert.serial_number


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocsp-iot-constructs tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _sign(
    *,
    subject: x509.Name,
    key: PrivateKey,
    issuer: Issued | None,
    ca: bool,
    eku: list[x509.ObjectIdentifier] | None = None,
    serial: int | None = None,
    ocsp_url: str | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    ocsp_nocheck: bool = False,
    pss: bool = False,
    key_usage: x509.KeyUsage | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    san: str | None = None,
) -> Issued:
    now = utcnow()
    nb = not_before if not_before is not None else now - BACKDATE
    na = not_after if not_after is not None else now + (CA_LIFETIME if ca else DEVICE_LIFETIME)
    signer_key = issuer.key if issuer is not None else key
    issuer_name = issuer.cert.subject if issuer is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    builder = builder.add_extension(key_usage or usage(key_cert_sign=ca), critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if ocsp_url is not None:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    if ocsp_nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    if san is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    rsa_padding = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32) if pss else None
    cert = builder.sign(signer_key, hashes.SHA256(), rsa_padding=rsa_padding)
    return Issued(cert=cert, key=key)


def usage(*, digital_signature: bool = True, key_cert_sign: bool = False) -> x509.KeyUsage:
    """A keyUsage with the given bits (crlSign goes with keyCertSign)."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=not digital_signature,  # a usage with at least one bit set
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def custom_certificate(
    common_name: str,
    *,
    issuer: Issued | None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
    key: PrivateKey | None = None,
) -> Issued:
    """A certificate with exactly ``extensions`` (and nothing else), self-signed unless
    ``issuer`` is given; valid from an hour ago for a year."""
    key = key or new_key()
    now = utcnow()
    subject = _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    signer = issuer.key if issuer is not None else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def _responder(
    common_name: str,
    issuer: Issued,
    *,
    eku: bool = True,
    key_kind: str = "ec",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> Issued:
    """A responder certificate: OCSPSigning EKU and ocsp-nocheck, or (``eku=False``) only
    clientAuth, which makes it no responder at all."""
    return _sign(
        subject=_name(common_name),
        key=new_key(key_kind),
        issuer=issuer,
        ca=False,
        eku=[ExtendedKeyUsageOID.OCSP_SIGNING] if eku else [ExtendedKeyUsageOID.CLIENT_AUTH],
        not_before=not_before,
        not_after=not_after,
        ocsp_nocheck=eku,
        extensions=extensions,
    )


@dataclass(frozen=True)
class Pki:
    root: Issued
    issuing_ca: Issued
    other_ca: Issued
    rogue_ca: Issued
    delegate: Issued
    delegate_no_eku: Issued
    delegate_other_ca: Issued
    delegate_expired: Issued
    rsa_ca: Issued
    rsa_delegate: Issued
    _counter: list[int] = field(default_factory=lambda: [0], repr=False, compare=False)

    def issue_device(
        self,
        *,
        issuer: Issued | None = None,
        serial: int | None = None,
        ocsp_url: str | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_kind: str = "ec",
        pss: bool = False,
        key_usage: x509.KeyUsage | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ) -> Issued:
        """A device (client) certificate, issued by ``issuing_ca`` unless ``issuer`` is given
        (``pss=True``: signed with RSASSA-PSS/SHA-256; the issuer must have an RSA key), with
        ``key_usage`` instead of digitalSignature and ``extensions`` added."""
        self._counter[0] += 1
        return _sign(
            subject=_name(f"device-{self._counter[0]}"),
            key=new_key(key_kind),
            issuer=issuer if issuer is not None else self.issuing_ca,
            ca=False,
            eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
            serial=serial,
            ocsp_url=ocsp_url,
            not_before=not_before,
            not_after=not_after,
            pss=pss,
            key_usage=key_usage,
            extensions=extensions,
        )

    def issue_server(
        self,
        dns_name: str,
        *,
        issuer: Issued | None = None,
        ocsp_url: str | None = None,
        key_kind: str = "ec",
    ) -> Issued:
        """A TLS server certificate for ``dns_name`` (serverAuth EKU, the name as its SAN),
        issued by ``issuing_ca`` unless ``issuer`` is given."""
        self._counter[0] += 1
        issued = _sign(
            subject=_name(dns_name),
            key=new_key(key_kind),
            issuer=issuer if issuer is not None else self.issuing_ca,
            ca=False,
            eku=[ExtendedKeyUsageOID.SERVER_AUTH],
            ocsp_url=ocsp_url,
            san=dns_name,
        )
        return issued

    def issue_delegate(
        self,
        *,
        issuer: Issued | None = None,
        eku: bool = True,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ) -> Issued:
        """Another OCSP responder certificate (with the OCSPSigning EKU unless ``eku=False``),
        with ``extensions`` added."""
        self._counter[0] += 1
        return _responder(
            f"ocsp-responder-{self._counter[0]}",
            issuer if issuer is not None else self.issuing_ca,
            eku=eku,
            not_before=not_before,
            not_after=not_after,
            extensions=extensions,
        )

    def write_files(self, directory: Path) -> dict[str, Path]:
        """Write ``<name>.pem`` and ``<name>.key.pem`` for each member; map name -> cert path."""
        directory.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        for name in (
            "root",
            "issuing_ca",
            "other_ca",
            "rogue_ca",
            "delegate",
            "delegate_no_eku",
            "delegate_other_ca",
            "delegate_expired",
            "rsa_ca",
            "rsa_delegate",
        ):
            issued: Issued = getattr(self, name)
            cert_path = directory / f"{name}.pem"
            cert_path.write_bytes(issued.pem)
            (directory / f"{name}.key.pem").write_bytes(issued.key_pem)
            out[name] = cert_path
        return out


def build_pki() -> Pki:
    """Build the whole PKI (fresh keys each call; takes well under a second)."""
    now = utcnow()
    root_key = new_key()
    root = _sign(subject=_name("Test Root CA"), key=root_key, issuer=None, ca=True)
    issuing_subject = _name("Test Issuing CA")
    issuing_ca = _sign(subject=issuing_subject, key=new_key(), issuer=root, ca=True)
    other_ca = _sign(subject=_name("Other CA"), key=new_key(), issuer=None, ca=True)
    rogue_ca = _sign(subject=issuing_subject, key=new_key(), issuer=None, ca=True)
    delegate = _responder("Test OCSP Responder", issuing_ca)
    delegate_no_eku = _responder("Test Responder Without EKU", issuing_ca, eku=False)
    delegate_other_ca = _responder("Other CA OCSP Responder", other_ca)
    delegate_expired = _responder(
        "Expired OCSP Responder",
        issuing_ca,
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    rsa_ca = _sign(subject=_name("Test RSA Issuing CA"), key=new_key("rsa"), issuer=root, ca=True)
    rsa_delegate = _responder("Test RSA OCSP Responder", rsa_ca, key_kind="rsa")
    return Pki(
        root=root,
        issuing_ca=issuing_ca,
        other_ca=other_ca,
        rogue_ca=rogue_ca,
        delegate=delegate,
        delegate_no_eku=delegate_no_eku,
        delegate_other_ca=delegate_other_ca,
        delegate_expired=delegate_expired,
        rsa_ca=rsa_ca,
        rsa_delegate=rsa_delegate,
    )
