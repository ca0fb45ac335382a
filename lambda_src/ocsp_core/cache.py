"""A bounded LRU of verified OCSP answers, keyed by bytes the caller chooses (the pre-auth Lambda
uses the SHA-256 of the device certificate DER, see :func:`cache_key`).

An entry keeps the verified answer's DER too (the stapling Lambda returns it byte for byte).
A fresh entry answers a repeat question with no request and no signature work. An entry is
fresh until the earliest of: the answer's nextUpdate (or thisUpdate + the configured age when
there is none), ``OCSP_CACHE_MAX_SECONDS`` after it was stored, and the end of the device's and
the CA's validity. After that it is only *stale*: a stale GOOD answer may allow
(``STALE_IF_ERROR``) and a stale REVOKED answer still denies, and only while the responder is
unavailable, for ``OCSP_STALE_IF_ERROR_SECONDS``.

Answers only move forward (:meth:`ResponseCache.put`): a new answer does not replace the cached
one when its thisUpdate is older, and a cached REVOKED is never replaced by GOOD or UNKNOWN,
whatever their thisUpdate (a revocation is permanent, so a replayed older GOOD cannot undo it);
a REVOKED answer replaces a cached GOOD one whatever its thisUpdate, for the same reason.
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
    #: The answer's thisUpdate (``None``: unknown, older than any known one).
    this_update: dt.datetime | None = None

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
        """Store ``entry`` for ``key`` unless the cached answer is newer knowledge (see the
        module docstring); a newer UNKNOWN removes the entry, an expired one is not stored."""
        if self._max_entries <= 0:
            return
        current = self._entries.get(key)
        if current is not None and now < current.stale_until and not _supersedes(entry, current):
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


def _supersedes(new: CacheEntry, old: CacheEntry) -> bool:
    """May ``new`` take the place of ``old`` (answers about the same certificate)?"""
    revoked = ocsp.OCSPCertStatus.REVOKED
    if (old.status is revoked) != (new.status is revoked):
        return new.status is revoked  # revoked wins, in either order
    if old.this_update is None:
        return True
    return new.this_update is not None and new.this_update >= old.this_update
