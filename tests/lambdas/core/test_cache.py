"""``ocsp_core.cache``: bounded LRU, freshness and the stale-if-error window."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.x509 import ocsp
from ocsp_core.cache import CacheEntry, ResponseCache, cache_key

from tests.lambdas.support.unit import NOW

GOOD = ocsp.OCSPCertStatus.GOOD
MINUTE = dt.timedelta(minutes=1)


def entry(fresh: int = 5, stale: int = 0, status: ocsp.OCSPCertStatus = GOOD) -> CacheEntry:
    return CacheEntry(status, NOW + fresh * MINUTE, NOW + (fresh + stale) * MINUTE)


def test_key_is_sha256_of_the_der() -> None:
    assert cache_key(b"abc").hex().startswith("ba7816bf")
    assert cache_key(b"abc") != cache_key(b"abd")


def test_fresh_until_its_end_then_gone() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", entry(), NOW)
    assert cache.get_fresh(b"k", NOW) == entry()
    assert cache.get_fresh(b"k", NOW + 5 * MINUTE - dt.timedelta(seconds=1)) is not None
    assert cache.get_fresh(b"k", NOW + 5 * MINUTE) is None
    assert cache.get_stale(b"k", NOW + 5 * MINUTE) is None
    assert len(cache) == 0


def test_stale_window_serves_only_get_stale() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", entry(fresh=5, stale=10), NOW)
    assert cache.get_stale(b"k", NOW) is None  # still fresh: not stale
    later = NOW + 6 * MINUTE
    assert cache.get_fresh(b"k", later) is None
    assert cache.get_stale(b"k", later) == entry(fresh=5, stale=10)
    assert cache.get_stale(b"k", NOW + 15 * MINUTE) is None


def test_unknown_is_never_stored_but_revoked_is() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"u", entry(status=ocsp.OCSPCertStatus.UNKNOWN), NOW)
    cache.put(b"r", entry(status=ocsp.OCSPCertStatus.REVOKED), NOW)
    assert cache.get_fresh(b"u", NOW) is None
    fresh = cache.get_fresh(b"r", NOW)
    assert fresh is not None
    assert fresh.status is ocsp.OCSPCertStatus.REVOKED


def test_least_recently_used_is_evicted_first() -> None:
    cache = ResponseCache(max_entries=2)
    cache.put(b"a", entry(), NOW)
    cache.put(b"b", entry(), NOW)
    assert cache.get_fresh(b"a", NOW) is not None  # a is now the most recent
    cache.put(b"c", entry(), NOW)
    assert len(cache) == 2
    assert cache.get_fresh(b"b", NOW) is None
    assert cache.get_fresh(b"a", NOW) is not None
    assert cache.get_fresh(b"c", NOW) is not None


def test_zero_entries_disables_the_cache() -> None:
    cache = ResponseCache(max_entries=0)
    cache.put(b"a", entry(), NOW)
    assert len(cache) == 0


def test_an_already_expired_entry_replaces_and_removes() -> None:
    cache = ResponseCache(max_entries=2)
    cache.put(b"a", entry(), NOW)
    cache.put(b"a", entry(fresh=0), NOW)
    assert len(cache) == 0


# -- answers over time: the cache only moves forward ---------------------------------------------

REVOKED = ocsp.OCSPCertStatus.REVOKED
UNKNOWN = ocsp.OCSPCertStatus.UNKNOWN


def dated(status: ocsp.OCSPCertStatus, this_update_minutes: int, detail: str = "") -> CacheEntry:
    return CacheEntry(
        status,
        NOW + 5 * MINUTE,
        NOW + 5 * MINUTE,
        detail,
        this_update=NOW + this_update_minutes * MINUTE,
    )


def test_an_older_answer_never_replaces_a_newer_one() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", dated(GOOD, 0, "newer"), NOW)
    cache.put(b"k", dated(GOOD, -10, "older"), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(GOOD, 0, "newer")
    cache.put(b"k", dated(GOOD, 1, "newest"), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(GOOD, 1, "newest")


def test_an_older_unknown_does_not_forget_a_newer_good_but_a_newer_one_does() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", dated(GOOD, 0), NOW)
    cache.put(b"k", dated(UNKNOWN, -1), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(GOOD, 0)
    cache.put(b"k", dated(UNKNOWN, 1), NOW)
    assert cache.get_fresh(b"k", NOW) is None


@pytest.mark.parametrize("minutes", [-10, 0, 10], ids=["older", "same-time", "newer"])
@pytest.mark.parametrize("status", [GOOD, UNKNOWN])
def test_a_revoked_answer_is_never_replaced_by_good_or_unknown(
    status: ocsp.OCSPCertStatus, minutes: int
) -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", dated(REVOKED, 0), NOW)
    cache.put(b"k", dated(status, minutes), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(REVOKED, 0)


@pytest.mark.parametrize("minutes", [-10, 10], ids=["older", "newer"])
def test_a_revoked_answer_replaces_a_good_one_whatever_its_age(minutes: int) -> None:
    """A revocation is permanent: an older revoked answer still means revoked now."""
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", dated(GOOD, 0), NOW)
    cache.put(b"k", dated(REVOKED, minutes), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(REVOKED, minutes)


def test_a_newer_revoked_answer_refreshes_a_revoked_one() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", dated(REVOKED, 0, "first"), NOW)
    cache.put(b"k", dated(REVOKED, -1, "older"), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(REVOKED, 0, "first")
    cache.put(b"k", dated(REVOKED, 1, "later"), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(REVOKED, 1, "later")


def test_an_entry_past_its_window_is_replaced_by_anything() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", dated(REVOKED, 0), NOW)
    later = NOW + 6 * MINUTE
    replacement = CacheEntry(GOOD, later + MINUTE, later + MINUTE, this_update=NOW - MINUTE)
    cache.put(b"k", replacement, later)
    assert cache.get_fresh(b"k", later) == replacement


def test_an_answer_of_unknown_age_gives_way_to_a_dated_one() -> None:
    cache = ResponseCache(max_entries=10)
    cache.put(b"k", entry(), NOW)  # no thisUpdate
    cache.put(b"k", dated(GOOD, -10), NOW)
    assert cache.get_fresh(b"k", NOW) == dated(GOOD, -10)
    cache.put(b"k", entry(), NOW)  # and an undated one never replaces a dated one
    assert cache.get_fresh(b"k", NOW) == dated(GOOD, -10)
