"""An in-memory OCSP responder on 127.0.0.1 for the benchmarks, in a process of its own.

It serves *pre-produced* answers, the way AWS Private CA's RFC 5019 responder does: every answer
is signed once before the run, so the responder's own cost (a dictionary lookup and one
``send``) does not dominate what is measured. It speaks HTTP/1.1 with keep-alive and
``TCP_NODELAY`` (without it, Nagle's algorithm and delayed ACKs add ~40 ms to every keep-alive
round trip), answers POST (RFC 6960 A.1) by the serial number of the request's CertID, and counts
every OCSP request it serves (``GET /_count``, ``POST /_reset``).

    with InMemoryResponder() as responder:     # starts empty: its URL goes into the AIA
        responder.load({serial: der, ...})      # then the answers for those certificates
        responder.url, responder.request_count()
"""

from __future__ import annotations

import http.client
import multiprocessing
import pickle
import tempfile
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

#: Largest request body the responder reads.
MAX_REQUEST_BYTES = 65_536
#: Seconds to wait for the responder process to start or stop.
START_TIMEOUT_SECONDS = 20.0


def _serve(answers_file: str, ready: Any) -> None:
    """The responder process: bind an ephemeral loopback port, report it, serve the answers
    (re)loaded from ``answers_file`` on ``POST /_load``."""
    answers: dict[int, bytes] = {}
    counter = {"requests": 0}
    unauthorized = ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    ).public_bytes(Encoding.DER)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, body: bytes, content_type: str = "application/ocsp-response") -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/_count":
                self._reply(str(counter["requests"]).encode(), "text/plain")
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_REQUEST_BYTES)
            body = self.rfile.read(length)
            if self.path == "/_reset":
                counter["requests"] = 0
                self._reply(b"0", "text/plain")
                return
            if self.path == "/_load":
                loaded = pickle.loads(Path(answers_file).read_bytes())  # noqa: S301 - our file
                answers.clear()
                answers.update(loaded)
                self._reply(str(len(answers)).encode(), "text/plain")
                return
            counter["requests"] += 1
            try:
                serial = ocsp.load_der_ocsp_request(body).serial_number
            except ValueError:
                self._reply(unauthorized)
                return
            self._reply(answers.get(serial, unauthorized))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ready.send(server.server_address[1])
    server.serve_forever(poll_interval=0.05)


class InMemoryResponder:
    """Start the responder process (empty); :meth:`load` gives it its answers."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ocsp-bench-")
        answers_file = Path(self._dir.name) / "answers.pickle"
        self._answers_file = answers_file
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(str(answers_file), send), daemon=True, name="ocsp-bench-responder"
        )
        self._process.start()
        if not receive.poll(START_TIMEOUT_SECONDS):
            self.close()
            msg = "the benchmark responder did not start"
            raise RuntimeError(msg)
        self.port: int = receive.recv()
        self.url = f"http://127.0.0.1:{self.port}/ocsp"

    def _call(self, method: str, path: str) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=b"" if method == "POST" else None)
            return connection.getresponse().read().decode()
        finally:
            connection.close()

    def load(self, answers: Mapping[int, bytes]) -> None:
        """Serve ``answers`` (serial number -> DER ``OCSPResponse``) from now on."""
        self._answers_file.write_bytes(pickle.dumps(dict(answers)))
        loaded = int(self._call("POST", "/_load"))
        if loaded != len(answers):
            msg = f"the responder loaded {loaded} answers, not {len(answers)}"
            raise RuntimeError(msg)

    def request_count(self) -> int:
        """OCSP requests served since the start (or the last :meth:`reset`)."""
        return int(self._call("GET", "/_count"))

    def reset(self) -> None:
        self._call("POST", "/_reset")

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=START_TIMEOUT_SECONDS)
        self._dir.cleanup()

    def __enter__(self) -> InMemoryResponder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
