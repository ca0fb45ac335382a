"""The shared cache table's item schema, the one place every writer and reader takes it from
(the pre-auth Lambda, the revocation-event Lambda, ``ocsp-iot revoke``).

One DynamoDB table, partition key ``pk`` (string), time-to-live attribute ``expires`` (a number,
epoch seconds; DynamoDB deletes expired items lazily, so every reader checks ``expires`` itself).

Deny entry (a revocation that takes effect before the CA's OCSP answers show it)::

    pk        "deny#<issuer key hash>#<serial>"
    kind      "deny"
    reason    an RFC 5280 reason as AWS Private CA names it, e.g. "KEY_COMPROMISE"
    revokedAt epoch seconds
    source    who wrote it, e.g. "ocsp-iot revoke" or "revocation-event"
    expires   the certificate's notAfter, epoch seconds (the entry is useless afterwards)

``<issuer key hash>`` is the lower-case hex SHA-1 of the issuing CA certificate's
subjectPublicKey BIT STRING (the CertID's SHA-1 ``issuerKeyHash``, ``ocsp_core.certid
.issuer_key_hash``), so a serial of one CA never denies another CA's certificate;
``<serial>`` is the certificate's serial number in lower-case hex without leading zeros.
"""

from __future__ import annotations

import re

PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires"
DENY_PREFIX = "deny#"

_HEX = re.compile(r"[0-9a-fA-F]+")


def serial_hex(serial: int) -> str:
    """A serial number as the keys write it: lower-case hex, no leading zeros."""
    if serial < 0:
        msg = f"a certificate serial number is not negative, got {serial}"
        raise ValueError(msg)
    return format(serial, "x")


def parse_serial(text: str) -> int:
    """A serial number written as AWS Private CA and ``openssl x509 -serial`` do: hex, with or
    without colons (``7f:01:ab`` or ``7F01AB``), optionally ``0x``-prefixed."""
    compact = text.strip().replace(":", "").removeprefix("0x").removeprefix("0X")
    if not compact or len(compact) > 64 or not _HEX.fullmatch(compact):
        msg = f"a serial number is hex digits (colons allowed), got {text[:80]!r}"
        raise ValueError(msg)
    return int(compact, 16)


def deny_key(issuer_key_sha1: bytes, serial: int) -> str:
    """The ``pk`` of the deny entry for ``serial`` of the CA whose key hashes to
    ``issuer_key_sha1`` (20 bytes)."""
    if len(issuer_key_sha1) != 20:
        msg = f"the issuer key hash is a SHA-1 (20 bytes), got {len(issuer_key_sha1)} bytes"
        raise ValueError(msg)
    return f"{DENY_PREFIX}{issuer_key_sha1.hex()}#{serial_hex(serial)}"
