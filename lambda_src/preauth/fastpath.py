"""The repeat connection: a device whose chain this environment has already parsed, with a fresh
cached answer, decided without parsing anything again.

IoT Core sends the chain as strings; a reconnecting device sends the very same strings. The first
time, the handler parses the event in full (:func:`preauth.event.parse_event`) and remembers, under
the exact chain (the tuple of its strings), what the decision needs from it: the cache key, the
validity period and the log line's serial and issuer. The next time, :meth:`KnownChains.decide`
finds the chain by a dictionary lookup, checks the event's other fields as ``parse_event`` does,
and, when the device is inside its validity period and the answer cache has a fresh answer for
it, returns the same decision and the same log line (:class:`preauth.metrics.HitLine`) as the full
path. Anything else (an unknown or differently spelled chain, a field the full path would refuse,
a certificate near the edge of its validity, no fresh answer) returns ``None``, and the full path
decides. It never allows what the full path would deny:

* the chain strings are the ones parsed before, so the certificate and its DER are identical;
* a fresh cache entry for that DER exists only after the full path checked the device's usage
  and critical extensions and verified an answer for it (both depend on the DER alone), with
  the same settings (``preauth_handler.reset`` forgets both);
* the validity period is checked with a margin, and the cache lookup is the full path's own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ocsp_core.cache import CacheEntry, ResponseCache, cache_key

from .decide import decision_from_cache
from .event import MAX_CHAIN_LENGTH, MAX_FIELD_CHARS
from .metrics import HitLine
from .models import Attempt, Decision

#: Seconds kept from each end of the validity period: there the full path decides.
VALIDITY_MARGIN_SECONDS = 1.0


@dataclass(slots=True)
class Known:
    """What a repeat connection of one chain needs (the certificate itself is not kept)."""

    key: bytes
    valid_from: float
    valid_until: float
    serial: int
    issuer: str | None
    #: The decision and log line template of the cache entry they were built for.
    entry: CacheEntry | None = None
    decision: Decision | None = None
    line: HitLine | None = None


def _field(event: dict[object, object], name: str) -> str | None:
    value = event.get(name)
    return value if type(value) is str and len(value) <= MAX_FIELD_CHARS else None


class KnownChains:
    """Chains seen by this environment, at most ``max_entries`` (the oldest go first)."""

    def __init__(self, *, max_entries: int) -> None:
        self._max_entries = max(max_entries, 0)
        self._known: dict[tuple[str, ...], Known] = {}

    def __len__(self) -> int:
        return len(self._known)

    def remember(self, attempt: Attempt, issuer: str | None) -> None:
        """Remember the chain the full path parsed into ``attempt`` (``issuer`` as logged)."""
        if self._max_entries == 0 or not attempt.chain:
            return
        leaf = attempt.leaf
        known = Known(
            key=cache_key(attempt.leaf_der),
            valid_from=leaf.not_valid_before_utc.timestamp() + VALIDITY_MARGIN_SECONDS,
            valid_until=leaf.not_valid_after_utc.timestamp() - VALIDITY_MARGIN_SECONDS,
            serial=leaf.serial_number,
            issuer=issuer,
        )
        known_chains = self._known
        key = attempt.chain
        known_chains.pop(key, None)
        while len(known_chains) >= self._max_entries:
            del known_chains[next(iter(known_chains))]
        known_chains[key] = known

    def decide(  # noqa: PLR0911 - each field the full path checks is one way out
        self,
        event: object,
        *,
        now: dt.datetime,
        cache: ResponseCache,
        function_name: str,
    ) -> tuple[Decision, HitLine, str, str] | None:
        """The decision, its log line template and the event's connection and principal ids,
        or ``None`` when the full path must decide."""
        if type(event) is not dict:
            return None
        chain = event.get("clientCertificateChain")
        if type(chain) is not list or not 0 < len(chain) <= MAX_CHAIN_LENGTH:
            return None
        try:
            known = self._known.get(tuple(chain))
        except TypeError:  # an unhashable entry: never a chain seen before
            return None
        if known is None:
            return None
        metadata = event.get("connectionMetadata")
        if type(metadata) is not dict:
            return None
        connection_id = _field(metadata, "id")
        principal_id = _field(event, "principalId")
        if connection_id is None or principal_id is None or _field(event, "serverName") is None:
            return None
        if not known.valid_from < now.timestamp() < known.valid_until:
            return None
        entry = cache.get_fresh(known.key, now)
        if entry is None:
            return None
        if (
            entry is not known.entry
            or known.line is None
            or known.decision is None
            or known.line.function_name != function_name
        ):
            decision = decision_from_cache(entry, stale=False)
            known.line = HitLine(
                decision=decision,
                serial=known.serial,
                issuer=known.issuer,
                function_name=function_name,
            )
            known.entry, known.decision = entry, decision
        return known.decision, known.line, connection_id, principal_id
