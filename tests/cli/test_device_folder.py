"""The device folder's PEM handling: chains however AWS Private CA delimits them, ordered from
the device's issuer upwards, written with the key private from the first byte."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ocsp_iot.device import (
    load_device,
    order_chain,
    pem_bytes,
    split_pem_certificates,
    write_device_folder,
)
from ocsp_iot.enroll import colon_serial
from ocsp_iot.errors import InputError
from ocsp_iot.local.pki import LocalPki


@pytest.fixture(scope="module")
def pki() -> LocalPki:
    return LocalPki.create(name="Pem")


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_chain_with_two_blocks_on_one_line_is_split(pki: LocalPki) -> None:
    # the published walkthrough's warning, verbatim: the downloaded chain can come with
    # "-----END CERTIFICATE----- -----BEGIN CERTIFICATE-----" on one line
    issuing, root = _pem(pki.issuing_ca.certificate), _pem(pki.root.certificate)
    joined = issuing.rstrip("\n") + " " + root
    assert "-----END CERTIFICATE----- -----BEGIN CERTIFICATE-----" in joined
    certificates = split_pem_certificates(joined, what="chain")
    assert certificates == [pki.issuing_ca.certificate, pki.root.certificate]
    written = pem_bytes(certificates).decode()
    assert written == issuing + root
    assert written.count("-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n") == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda pem: pem.replace("\n", ""),  # no line breaks at all
        lambda pem: pem.replace("\n", "\r\n"),  # CRLF
        lambda pem: "  " + pem.replace("\n", "\n   ") + "\n\n",  # indented, trailing blanks
    ],
    ids=["one-line", "crlf", "indented"],
)
def test_any_whitespace_around_and_inside_the_blocks_is_accepted(pki: LocalPki, mangle) -> None:
    text = mangle(_pem(pki.issuing_ca.certificate) + _pem(pki.root.certificate))
    assert split_pem_certificates(text, what="chain") == [
        pki.issuing_ca.certificate,
        pki.root.certificate,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage -----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "outside"),
        ("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----", "not base64"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not a certificate"),
    ],
)
def test_fails_on_what_is_not_a_pem_certificate(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        split_pem_certificates(text, what="chain")


def test_the_chain_is_ordered_from_the_issuer_up(pki: LocalPki) -> None:
    device = pki.issue_device("ordered")
    shuffled = [pki.root.certificate, pki.rogue_ca.certificate, pki.issuing_ca.certificate]
    assert order_chain(device.certificate, shuffled) == [
        pki.issuing_ca.certificate,
        pki.root.certificate,
    ]
    assert order_chain(device.certificate, [pki.root.certificate]) == []


def test_the_key_is_private_from_the_start_and_files_are_replaced_whole(
    pki: LocalPki, tmp_path: Path
) -> None:
    device = pki.issue_device("folder")
    folder = tmp_path / "new" / "folder"
    write_device_folder(
        folder,
        certificate=device.certificate,
        chain=[pki.issuing_ca.certificate],
        key=device.key,
        info={"name": "folder"},
    )
    assert stat.S_IMODE((folder / "device.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == [
        "chain.pem",
        "device.json",
        "device.key",
        "device.pem",
    ]  # no temporary files left
    loaded = load_device(folder, need_key=True)
    assert loaded.certificate == device.certificate
    assert loaded.chain == (pki.issuing_ca.certificate,)


@pytest.mark.parametrize(
    ("serial", "text"),
    [(0x2B3F89, "2b:3f:89"), (0xABC, "0a:bc"), (1, "01"), (0x8000, "80:00")],
)
def test_serials_are_written_as_private_ca_expects(serial: int, text: str) -> None:
    assert colon_serial(serial) == text
