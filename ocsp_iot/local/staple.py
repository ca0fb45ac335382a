"""The OCSP staple of the endpoint's server certificate, refreshed the way IoT Core does.

IoT Core (``EnableOCSPCheck``) asks the responder about its server certificate every hour,
staples the most recent valid answer, keeps it when a later call fails, and drops it once its
``nextUpdate`` has passed; without an answer the handshake goes on without a staple. A
:class:`StapleRefresher` does the same with a :data:`StapleSource`.

A staple source has exactly the contract of IoT Core's ``OcspLambdaArn`` Lambda: it receives
the DER OCSP request for the server certificate as base64 text and returns the DER OCSP response
as base64 text, or ``""`` when it has none. So ``lambda request: stapling_handler.handler(request,
context)`` plugs in directly; :func:`fixed_staple_source` serves answers made in-process.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from ocsp_iot._lambda import HASHES, Answer, CertId, HashName, build_request, verify_response

#: base64 DER OCSP request -> base64 DER OCSP response, or "" (the stapling Lambda's contract).
StapleSource = Callable[[str], str]

#: IoT Core refreshes its staple about every hour.
DEFAULT_REFRESH_SECONDS = 3600.0
#: IoT Core staples at most 4 KiB.
MAX_STAPLE_BYTES = 4096

_log = logging.getLogger("ocsp_iot.local.staple")


@dataclass(frozen=True)
class Staple:
    """A verified answer about the server certificate, as stapled."""

    der: bytes
    status: str
    this_update: dt.datetime
    next_update: dt.datetime | None
    #: When the staple is dropped: its nextUpdate (or thisUpdate + one refresh period).
    fresh_until: dt.datetime
    signer: str


@dataclass(frozen=True)
class RefreshOutcome:
    """What one refresh got: a new staple, or why not (the previous staple is then kept)."""

    staple: Staple | None
    problem: str | None


class StapleRefresher:
    """Keeps the current staple of ``certificate`` (issued by ``issuer``) from ``source``."""

    def __init__(
        self,
        *,
        source: StapleSource,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if refresh_seconds <= 0:
            msg = f"refresh_seconds must be above 0, got {refresh_seconds!r}"
            raise ValueError(msg)
        self._source = source
        self._certificate = certificate
        self._issuer = issuer
        self._cert_id = CertId.for_certificate(certificate, issuer, HASHES[HashName.SHA1])
        self._request_b64 = base64.b64encode(build_request(self._cert_id, nonce=None)).decode()
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._staple: Staple | None = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once the first refresh has finished (successfully or not).
        self.first_refresh_done = threading.Event()
        self.refreshes = 0

    @property
    def staple(self) -> Staple | None:
        """The staple while it is fresh, else ``None``."""
        staple = self._staple
        if staple is None or staple.fresh_until < self._clock():
            return None
        return staple

    def current_der(self) -> bytes:
        """The DER to staple now (``b""``: none)."""
        staple = self.staple
        return b"" if staple is None else staple.der

    def refresh(self) -> RefreshOutcome:
        """Ask the source once; keep the answer when it verifies, else keep the last one."""
        with self._refresh_lock:
            self.refreshes += 1
            outcome = self._ask()
            if outcome.staple is not None:
                self._staple = outcome.staple
                _log.info(
                    "staple refreshed: %s, nextUpdate %s",
                    outcome.staple.status,
                    outcome.staple.next_update,
                )
            else:
                kept = self.staple
                _log.warning(
                    "staple refresh failed (%s); %s",
                    outcome.problem,
                    f"keeping the last one until {kept.fresh_until}" if kept else "no staple",
                )
            return outcome

    def _ask(self) -> RefreshOutcome:  # noqa: PLR0911 - one return per failed check
        try:
            answer_b64 = self._source(self._request_b64)
        except Exception as exc:  # a broken source must not stop the endpoint
            return RefreshOutcome(None, f"the staple source raised {type(exc).__name__}: {exc}")
        if not isinstance(answer_b64, str):
            return RefreshOutcome(None, f"the staple source returned {type(answer_b64).__name__}")
        if not answer_b64:
            return RefreshOutcome(None, "the staple source had no answer")
        try:
            der = base64.b64decode(answer_b64, validate=True)
        except (binascii.Error, ValueError):
            return RefreshOutcome(None, "the staple source returned text that is not base64")
        if len(der) > MAX_STAPLE_BYTES:
            return RefreshOutcome(None, f"the answer is {len(der)} bytes (IoT Core staples 4 KiB)")
        now = self._clock()
        verified = verify_response(
            der,
            cert_id=self._cert_id,
            issuer=self._issuer,
            now=now,
            nonce=None,
            max_age_without_next_update=dt.timedelta(seconds=self.refresh_seconds),
        )
        if not isinstance(verified, Answer):
            return RefreshOutcome(None, f"{verified.reason.value}: {verified.detail}")
        return RefreshOutcome(
            Staple(
                der=der,
                status=verified.status.name,
                this_update=verified.this_update,
                next_update=verified.next_update,
                fresh_until=verified.fresh_until,
                signer=verified.signer,
            ),
            None,
        )

    def start(self) -> None:
        """Refresh now and then every ``refresh_seconds`` in a background thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ocsp-iot-staple", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            finally:
                self.first_refresh_done.set()
            self._stop.wait(self.refresh_seconds)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def fixed_staple_source(answer: Callable[[], bytes]) -> StapleSource:
    """A staple source that answers every request with ``answer()`` (DER; ``b""``: none)."""

    def source(_request_b64: str) -> str:
        return base64.b64encode(answer()).decode("ascii")

    return source
