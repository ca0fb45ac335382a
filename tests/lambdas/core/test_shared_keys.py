"""``shared_cache.keys``: the table's keys, computed the same way by every writer and reader."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from ocsp_core.certid import issuer_key_hash
from shared_cache.keys import deny_key, parse_serial, serial_hex

from tests.lambdas.support.pki import Pki


def test_deny_key_names_the_ca_key_and_the_serial(pki: Pki) -> None:
    device = pki.issue_device()
    key_hash = issuer_key_hash(pki.issuing_ca.cert, hashes.SHA1())  # noqa: S303 - CertID hash
    key = deny_key(key_hash, device.serial)
    assert key == f"deny#{key_hash.hex()}#{device.serial:x}"
    rogue = issuer_key_hash(pki.rogue_ca.cert, hashes.SHA1())  # noqa: S303
    assert deny_key(rogue, device.serial) != key  # same subject, other key: another CA


@pytest.mark.parametrize(
    ("text", "value"),
    [("7f:01:ab", 0x7F01AB), ("7F01AB", 0x7F01AB), ("0x07f01ab", 0x7F01AB), (" 01 ", 1)],
)
def test_serials_are_read_as_private_ca_and_openssl_write_them(text: str, value: int) -> None:
    assert parse_serial(text) == value
    assert serial_hex(value) == format(value, "x")


@pytest.mark.parametrize("text", ["", "xyz", "12 34", "-1", "0x", "a" * 65])
def test_fails_on_a_serial_that_is_not_hex(text: str) -> None:
    with pytest.raises(ValueError, match="hex digits"):
        parse_serial(text)


def test_fails_on_wrong_inputs() -> None:
    with pytest.raises(ValueError, match="SHA-1"):
        deny_key(b"short", 1)
    with pytest.raises(ValueError, match="not negative"):
        serial_hex(-1)
