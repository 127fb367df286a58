"""Fixtures of the runtime parity test: real Spin, the project's host, the parity-probe component
and a local HTTP server for outbound requests. A missing part fails the test, naming it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

CACHE = Path(os.environ.get("TODO_EVENTS_CACHE", Path.home() / ".cache" / "todo-events"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target"))
SPIN = Path(os.environ.get("TODO_SPIN") or shutil.which("spin") or CACHE / "bin" / "spin")
HOST = TARGET / "host" / "todo-host"
PROBE = TARGET / "wasm32-wasip2" / "release" / "parity_probe.wasm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Started:
    """A runtime started on a manifest: it serves (`port`) or it refused (`output`)."""

    runtime: str
    serves: bool
    port: int
    output: str = ""
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def get(self, path: str, **kw) -> requests.Response:
        headers = {"host": "parity.test", **kw.pop("headers", {})}
        return requests.get(f"http://127.0.0.1:{self.port}{path}", headers=headers, timeout=30, **kw)

    def stop(self) -> str:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.output += self.proc.stdout.read().decode(errors="replace")
        # No child (Spin's `spin trigger http`) may outlive its parent.
        left = subprocess.run(["pgrep", "-s", str(self.proc.pid)], capture_output=True, text=True).stdout if self.proc else ""
        assert not left.strip(), f"{self.runtime} left processes behind: {left}"
        return self.output


def start(runtime: str, folder: Path, env: dict[str, str], args: list[str], timeout: float = 90) -> Started:
    port = free_port()
    if runtime == "spin":
        cmd = [str(SPIN), "up", "--from", str(folder / "spin.toml"), "--listen", f"127.0.0.1:{port}",
               "--state-dir", str(folder / ".spin-state"), *args]
    else:
        cmd = [str(HOST), "--from", str(folder / "spin.toml"), "--listen", f"127.0.0.1:{port}",
               "--cache", str(CACHE / "host-cache"), *args]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("SPIN_VARIABLE_")}
    proc = subprocess.Popen(cmd, cwd=folder, env={**clean_env, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace")
            return Started(runtime, False, port, out, proc)
        try:
            if requests.get(f"http://127.0.0.1:{port}/.well-known/spin/health", timeout=1).status_code == 200:
                return Started(runtime, True, port, "", proc)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    s = Started(runtime, False, port, "", proc)
    s.stop()
    pytest.fail(f"{runtime} neither served nor exited within {timeout:.0f}s:\n{s.output}", pytrace=False)


@pytest.fixture(scope="session")
def runtimes() -> dict[str, Path]:
    missing = [f"{what} ({path})" for what, path in [("Spin CLI", SPIN), ("todo-host", HOST), ("parity-probe.wasm", PROBE)]
               if not path.exists()]
    if missing:
        pytest.fail("runtime parity needs " + ", ".join(missing) + ": run tools/devstack/setup.sh", pytrace=False)
    return {"spin": SPIN, "host": HOST}


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def target_port() -> int:
    """A local HTTP server that answers 200: where the probe's outbound requests go."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
