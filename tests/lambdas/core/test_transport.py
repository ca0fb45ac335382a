"""``ocsp_core.transport``: the requests-based fetcher against real loopback HTTP servers."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ocsp_core.transport import FetchStatus, OcspHttpClient, HttpFetcher

from tests.lambdas.support.loopback import (
    LoopbackServer,
    RawListener,
    Reply,
    closed_port_url,
    fixed,
)

BODY = b"\x30\x03\x0a\x01\x00"
MAX = 1024


def fetcher_for(*urls: str, deadline_in: float = 10.0, max_bytes: int = MAX) -> HttpFetcher:
    return HttpFetcher(
        allowed_urls=frozenset(urls),
        max_response_bytes=max_bytes,
        deadline=time.monotonic() + deadline_in,
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(path="/") as srv:
        yield srv


def test_answer_is_returned_with_latency(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    result = fetcher_for(server.url).fetch(server.url, b"request-der", timeout=2)
    assert result.status is FetchStatus.ANSWERED
    assert result.body == BODY
    assert result.requested
    assert result.latency_ms is not None
    assert result.latency_ms > 0
    (request,) = server.requests
    assert request.method == "POST"
    assert request.body == b"request-der"
    assert request.headers["content-type"] == "application/ocsp-request"
    assert request.headers["accept-encoding"] == "identity"


def test_content_type_parameters_are_accepted(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, content_type="Application/OCSP-Response; x=y"))
    assert fetcher_for(server.url).fetch(server.url, b"r", timeout=2).body == BODY


@pytest.mark.parametrize("content_type", ["text/html", "application/ocsp-request", None])
def test_fails_on_a_wrong_content_type(server: LoopbackServer, content_type: str | None) -> None:
    server.behaviour = fixed(Reply(body=BODY, content_type=content_type))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.BAD_CONTENT_TYPE
    assert not result.unavailable


def test_fails_on_a_content_encoding(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, headers=(("Content-Encoding", "gzip"),)))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.BAD_CONTENT_TYPE


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_http_5xx_is_an_availability_failure(server: LoopbackServer, code: int) -> None:
    server.behaviour = fixed(Reply(status=code, body=b"down", content_type="text/plain"))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.HTTP_5XX
    assert result.unavailable


@pytest.mark.parametrize("code", [204, 400, 403, 404])
def test_other_http_statuses_are_answers_that_fail(server: LoopbackServer, code: int) -> None:
    server.behaviour = fixed(Reply(status=code, body=BODY))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.HTTP_STATUS
    assert not result.unavailable


def test_redirects_are_not_followed(server: LoopbackServer) -> None:
    with LoopbackServer(fixed(Reply(body=BODY)), path="/") as target:
        server.behaviour = fixed(Reply(status=302, headers=(("Location", target.url),)))
        result = fetcher_for(server.url, target.url).fetch(server.url, b"r", timeout=2)
        assert result.status is FetchStatus.HTTP_STATUS
        assert "302" in result.detail
        assert target.request_count == 0


def test_body_of_exactly_the_cap_is_read(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=b"a" * MAX, content_length=-1))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.ANSWERED
    assert len(result.body) == MAX


@pytest.mark.parametrize("content_length", [None, -1], ids=["declared", "close-delimited"])
def test_fails_on_a_body_over_the_cap(server: LoopbackServer, content_length: int | None) -> None:
    server.behaviour = fixed(Reply(body=b"a" * 65536, repeat=64, content_length=content_length))
    started = time.monotonic()
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=5)
    assert result.status is FetchStatus.TOO_LARGE
    assert time.monotonic() - started < 4


def test_a_lying_content_length_cannot_extend_the_read(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=b"a" * 65536, content_length=10))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.ANSWERED
    assert len(result.body) == 10


def test_a_slow_server_times_out(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, delay=5))
    started = time.monotonic()
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=0.5)
    elapsed = time.monotonic() - started
    assert result.status is FetchStatus.TIMEOUT
    assert result.unavailable
    assert 0.4 < elapsed < 2.0


def test_a_dripping_body_hits_the_hard_deadline(server: LoopbackServer) -> None:
    """One byte every 0.2 s would take 200 s; each read is quick, so only a hard deadline
    stops it."""
    server.behaviour = fixed(Reply(body=b"a" * 1000, drip_interval=0.2))
    started = time.monotonic()
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=1.0)
    elapsed = time.monotonic() - started
    assert result.status is FetchStatus.TIMEOUT
    assert elapsed < 2.5


def test_the_deadline_wins_over_a_longer_timeout(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, delay=5))
    started = time.monotonic()
    result = fetcher_for(server.url, deadline_in=0.5).fetch(server.url, b"r", timeout=4)
    assert result.status is FetchStatus.TIMEOUT
    assert time.monotonic() - started < 2.0


def test_no_request_when_the_deadline_has_passed(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    result = fetcher_for(server.url, deadline_in=-1).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.TIMEOUT
    assert not result.requested
    assert server.request_count == 0


def test_connection_refused_is_unreachable() -> None:
    url = closed_port_url()
    result = fetcher_for(url).fetch(url, b"r", timeout=2)
    assert result.status is FetchStatus.UNREACHABLE
    assert result.unavailable


def test_a_hang_up_is_unreachable(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(hang_up=True))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.UNREACHABLE


@pytest.mark.parametrize("url_form", ["other", "file", "differently-written"])
def test_urls_off_the_allow_list_are_never_contacted(url_form: str) -> None:
    with RawListener() as listener:
        url = {
            "other": listener.url,
            "file": "file:///etc/passwd",
            "differently-written": listener.url.replace("127.0.0.1", "127.0.0.01"),
        }[url_form]
        allowed = "http://ocsp.example.com/" if url_form != "differently-written" else listener.url
        result = fetcher_for(allowed).fetch(url, b"r", timeout=1)
        assert result.status is FetchStatus.URL_NOT_ALLOWED
        assert not result.requested
        assert listener.connections_seen() == 0


def test_proxy_settings_from_the_environment_are_ignored(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.behaviour = fixed(Reply(body=BODY))
    with RawListener() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
        assert result.status is FetchStatus.ANSWERED
        assert proxy.connections_seen() == 0


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self.lock:
            type(self).connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.mark.parametrize(("idle", "connections"), [(50.0, 1), (0.0, 3)])
def test_connections_are_kept_alive_across_fetches_unless_idle(
    idle: float, connections: int
) -> None:
    """The client keeps its session across fetches: a warm Lambda reuses its connection, but
    not one idle for longer than ``keepalive_idle_seconds`` (a NAT may have forgotten it)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        _KeepAliveHandler.connections = 0
        client = OcspHttpClient(keepalive_idle_seconds=idle)
        for _ in range(3):
            fetcher = HttpFetcher(
                allowed_urls=frozenset({url}),
                max_response_bytes=MAX,
                deadline=time.monotonic() + 10,
                client=client,
            )
            assert fetcher.fetch(url, b"r", timeout=2).status is FetchStatus.ANSWERED
            time.sleep(0.01)
        assert _KeepAliveHandler.connections == connections
        client.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("declared", ["\u00b2", "-5", "1e3", "99999999999999999999", "5, 6"])
def test_a_hostile_content_length_never_looks_like_an_outage(
    server: LoopbackServer, declared: str
) -> None:
    """Whatever the header says, the result is a bounded answer or a denial, never a reason
    to fail open."""
    server.behaviour = fixed(
        Reply(body=BODY * 300, content_length=-1, headers=(("Content-Length", declared),))
    )
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert not result.unavailable, result
    assert result.status in (
        FetchStatus.ANSWERED,
        FetchStatus.TOO_LARGE,
        FetchStatus.PROTOCOL_ERROR,
    )
    assert len(result.body) <= MAX


def test_a_truncated_body_is_a_broken_answer(server: LoopbackServer) -> None:
    server.behaviour = fixed(Reply(body=BODY, content_length=1000))
    result = fetcher_for(server.url).fetch(server.url, b"r", timeout=2)
    assert result.status is FetchStatus.PROTOCOL_ERROR
    assert not result.unavailable


class _RawSpeaker:
    """A TCP server on 127.0.0.1 that answers each connection with fixed bytes, then closes."""

    def __init__(self, payload: bytes) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(5)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/"
        self._payload = payload
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(self._payload)

    def close(self) -> None:
        self._sock.close()
        self._thread.join(timeout=5)


@pytest.mark.parametrize(
    "payload",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"X" * 70000],
    ids=["not-http", "bad-status-line", "header-too-long"],
)
def test_a_peer_that_does_not_speak_http_is_a_broken_answer(payload: bytes) -> None:
    speaker = _RawSpeaker(payload)
    try:
        result = fetcher_for(speaker.url).fetch(speaker.url, b"r", timeout=2)
    finally:
        speaker.close()
    assert result.status is FetchStatus.PROTOCOL_ERROR, result
    assert not result.unavailable


def test_tls_failure_is_classified_as_such(tls_server: LoopbackServer) -> None:
    fetcher = HttpFetcher(
        allowed_urls=frozenset({tls_server.url}),
        max_response_bytes=4096,
        deadline=time.monotonic() + 5,
    )
    result = fetcher.fetch(tls_server.url, b"request", timeout=2)
    assert result.status is FetchStatus.TLS_ERROR, result
    assert not result.unavailable


def test_a_hang_up_during_the_tls_handshake_is_still_unreachable() -> None:
    """Reads the ClientHello, then closes: an outage (fail mode applies), not a bad answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/ocsp"

        def hang_up() -> None:
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(5)
                    conn.recv(4096)

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        fetcher = HttpFetcher(
            allowed_urls=frozenset({url}), max_response_bytes=4096, deadline=time.monotonic() + 5
        )
        result = fetcher.fetch(url, b"request", timeout=2)
        thread.join(timeout=5)
    assert result.status is FetchStatus.UNREACHABLE, result
    assert result.unavailable


def test_unrecognised_transport_error_is_not_an_outage() -> None:
    # Not normalized on purpose: the fetcher is handed a URL that cannot be connected to.
    url = "http://a..b/ocsp"
    fetcher = HttpFetcher(
        allowed_urls=frozenset({url}), max_response_bytes=4096, deadline=time.monotonic() + 5
    )
    result = fetcher.fetch(url, b"request", timeout=1)
    assert result.status is FetchStatus.ERROR, result
    assert not result.unavailable


def test_two_clients_never_share_a_connection() -> None:
    """Each handler owns its client: two clients in one process open their own connections,
    and a closed client opens a new one."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        _KeepAliveHandler.connections = 0
        first, second = OcspHttpClient(), OcspHttpClient(user_agent="other")
        for client in (first, second, first, second):
            fetcher = HttpFetcher(
                allowed_urls=frozenset({url}),
                max_response_bytes=MAX,
                deadline=time.monotonic() + 10,
                client=client,
            )
            assert fetcher.fetch(url, b"r", timeout=2).status is FetchStatus.ANSWERED
        assert _KeepAliveHandler.connections == 2
        first.close()
        fetcher = HttpFetcher(
            allowed_urls=frozenset({url}),
            max_response_bytes=MAX,
            deadline=time.monotonic() + 10,
            client=first,
        )
        assert fetcher.fetch(url, b"r", timeout=2).status is FetchStatus.ANSWERED
        assert _KeepAliveHandler.connections == 3
        second.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
