"""A throw-away mosquitto broker on 127.0.0.1: the MQTT side of the local endpoint.

It listens on loopback only, without TLS (the endpoint terminates TLS, as IoT Core does), lets
every client in (the endpoint has already decided), keeps nothing on disk, and logs every
connection so a test or the demo can tell which clients reached it.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ocsp_iot.errors import MissingProgramError, OcspIotError

_log = logging.getLogger("ocsp_iot.local.broker")
#: mosquitto's line for a client whose CONNECT it accepted.
_CONNECTED = re.compile(r"New client connected from \S+ as (\S+) ")
_NEW_CONNECTION = re.compile(r"New connection from ")
_PORT_ATTEMPTS = 3


class BrokerError(OcspIotError):
    """mosquitto did not start, or did not listen in time."""


#: Where Debian puts the broker: not on a normal user's PATH, so also looked for there.
SBIN_FOLDERS: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin")
_INSTALL_HINT = "install the Debian packages mosquitto and mosquitto-clients (`make setup` does)"


def mosquitto_binary() -> str:
    """The ``mosquitto`` broker (on ``PATH`` or in :data:`SBIN_FOLDERS`); its absence is a
    :class:`~ocsp_iot.errors.MissingProgramError` that says how to install it."""
    found = shutil.which("mosquitto") or next(
        (
            str(Path(folder) / "mosquitto")
            for folder in SBIN_FOLDERS
            if (Path(folder) / "mosquitto").is_file()
        ),
        None,
    )
    if found is None:
        raise MissingProgramError(f"mosquitto is not installed: {_INSTALL_HINT}")
    return found


def mosquitto_client(name: str) -> str:
    """``mosquitto_pub`` or ``mosquitto_sub`` on ``PATH``; absent: a ``MissingProgramError``."""
    found = shutil.which(name)
    if found is None:
        raise MissingProgramError(f"{name} is not installed: {_INSTALL_HINT}")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Mosquitto:
    """``with Mosquitto() as broker: ... broker.port``: mosquitto as a child process."""

    def __init__(self, *, start_timeout: float = 10.0) -> None:
        self.start_timeout = start_timeout
        self.port = 0
        self._dir = Path(tempfile.mkdtemp(prefix="ocsp-iot-mosquitto-"))
        self.log_path = self._dir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _config(self, port: int) -> Path:
        path = self._dir / "mosquitto.conf"
        path.write_text(
            "per_listener_settings false\n"
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "connection_messages true\n"
            "log_timestamp false\n"
        )
        return path

    def start(self) -> Mosquitto:
        """Start mosquitto and wait until it accepts TCP connections."""
        binary = mosquitto_binary()
        problem = ""
        for _ in range(_PORT_ATTEMPTS):  # a free port may be taken before mosquitto binds it
            port = _free_port()
            with self.log_path.open("ab") as log:
                # Foreground child (no -d); the log goes to a file we opened, so it still works
                # after mosquitto drops root privileges.
                self._proc = subprocess.Popen(  # noqa: S603 - our mosquitto, our config
                    [binary, "-c", str(self._config(port))],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            problem = self._wait_listening(port)
            if not problem:
                self.port = port
                _log.info("mosquitto listening on 127.0.0.1:%d", port)
                return self
            self._terminate()
        raise BrokerError(f"mosquitto did not start: {problem}")

    def _wait_listening(self, port: int) -> str:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                return f"it exited with code {self._proc.returncode}: {self.log_text()[-500:]}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                time.sleep(0.05)
            else:
                return ""
        return f"it was not listening after {self.start_timeout:g} s"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def connected_clients(self) -> list[str]:
        """Client ids whose MQTT CONNECT the broker accepted, in order."""
        return _CONNECTED.findall(self.log_text())

    def connection_count(self) -> int:
        """TCP connections the broker has seen (each endpoint forward is one)."""
        return len(_NEW_CONNECTION.findall(self.log_text()))

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def stop(self) -> None:
        """Stop mosquitto (SIGTERM, then SIGKILL after 5 s) and remove its folder."""
        self._terminate()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
