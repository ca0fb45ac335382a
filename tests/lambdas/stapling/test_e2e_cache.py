"""The handler's cache on the wall clock: an answer is reused for ``OCSP_CACHE_MAX_SECONDS``,
served while the responder fails, and never at or past its nextUpdate (answers whose
nextUpdate is a few seconds ahead; exact boundaries are in ``test_answer.py``)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from tests.lambdas.support.forge import answer_with, build_answer
from tests.lambdas.support.loopback import LoopbackServer, Reply, fixed
from tests.lambdas.support.pki import Pki
from tests.lambdas.support.stapling import Stapler, event_for

Configure = Callable[..., None]


def _sleep_until(when: dt.datetime) -> None:
    time.sleep(max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds()))


def test_reused_then_served_through_an_outage_then_dropped_at_next_update(
    pki: Pki, configure: Configure, staple: Stapler
) -> None:
    with LoopbackServer() as server:
        server.behaviour = answer_with(
            lambda r: build_answer(r, signer=pki.issuing_ca, next_update_offset=3)
        )
        configure(
            responder_url=server.url,
            trusted=[pki.issuing_ca],
            OCSP_CACHE_MAX_SECONDS=1,
            OCSP_TIMEOUT_SECONDS=1,
        )
        event = event_for(pki.issue_device(), pki.issuing_ca)
        started = time.monotonic()
        first = staple(event)
        hit = staple(event)
        assert (first.reason, hit.reason, hit.log["cacheHit"]) == ("GOOD", "GOOD", True)
        assert hit.der == first.der
        assert server.request_count == 1
        next_update = dt.datetime.strptime(first.log["nextUpdate"], "%Y-%m-%dT%H:%M:%S%z")

        # past the cache's 1 s, the responder fails: the verified answer is still served
        server.behaviour = fixed(Reply(status=503, body=b"", content_type=None))
        time.sleep(max(0.0, 1.1 - (time.monotonic() - started)))
        stale = staple(event)
        assert (stale.reason, stale.der) == ("STALE_IF_ERROR", first.der), stale
        assert stale.log["detail"].startswith("RESPONDER_UNAVAILABLE: HTTP_5XX")
        assert server.request_count == 2

        # at nextUpdate it is gone: nothing rather than a staple clients refuse
        _sleep_until(next_update + dt.timedelta(milliseconds=100))
        gone = staple(event)
        assert (gone.answer, gone.reason) == ("", "RESPONDER_UNAVAILABLE"), gone
        assert server.request_count == 3
