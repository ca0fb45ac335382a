"""A bounded LRU of verified OCSP answers, keyed by bytes the caller chooses (the pre-auth Lambda
uses the SHA-256 of the device certificate DER, see :func:`cache_key`).

An entry keeps the verified answer's DER too (the stapling Lambda returns it byte for byte).
A fresh entry answers a repeat question with no request and no signature work. An entry is
fresh until the earliest of: the answer's nextUpdate (or thisUpdate + the configured age when
there is none), ``OCSP_CACHE_MAX_SECONDS`` after it was stored, and the end of the device's and
the CA's validity. After that it is only *stale*: a stale GOOD answer may allow
(``STALE_IF_ERROR``) and a stale REVOKED answer still denies, and only while the responder is
unavailable, for ``OCSP_STALE_IF_ERROR_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.x509 import ocsp


def cache_key(certificate_der: bytes) -> bytes:
    """The key of a certificate's entry: the SHA-256 of its DER."""
    return hashlib.sha256(certificate_der).digest()


@dataclass(frozen=True, slots=True)
class CacheEntry:
    status: ocsp.OCSPCertStatus
    fresh_until: dt.datetime
    stale_until: dt.datetime
    detail: str = ""
    #: The verified ``OCSPResponse`` DER (empty when the caller does not need it).
    der: bytes = b""

    def is_fresh(self, now: dt.datetime) -> bool:
        return now < self.fresh_until


class ResponseCache:
    """Only GOOD and REVOKED answers are stored; putting an UNKNOWN one removes the key's entry
    (failed answers, which anyone on the path can forge, never touch the cache)."""

    def __init__(self, *, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, CacheEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _lookup(self, key: bytes, now: dt.datetime) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.stale_until:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def get_fresh(self, key: bytes, now: dt.datetime) -> CacheEntry | None:
        entry = self._lookup(key, now)
        return entry if entry is not None and entry.is_fresh(now) else None

    def get_stale(self, key: bytes, now: dt.datetime) -> CacheEntry | None:
        """An entry past its freshness but inside its stale-if-error window."""
        entry = self._lookup(key, now)
        return entry if entry is not None and not entry.is_fresh(now) else None

    def put(self, key: bytes, entry: CacheEntry, now: dt.datetime) -> None:
        if self._max_entries <= 0:
            return
        if entry.status is ocsp.OCSPCertStatus.UNKNOWN or now >= entry.stale_until:
            # A verified UNKNOWN is newer knowledge than any earlier GOOD: forget that one, so
            # stale-if-error can never bring it back.
            self._entries.pop(key, None)
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
