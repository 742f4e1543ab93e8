"""Fixtures for the end-to-end tests: a real `pier` server on a free loopback port.

The binary comes from $PIER_BIN (default: <repo>/target/debug/pier). For every test session:
  1. a fresh temporary data dir is created,
  2. `pier key create --data-dir D --json` mints an access key (no server running yet),
  3. `pier serve --data-dir D --listen 127.0.0.1:PORT --https-listen 127.0.0.1:PORT2` is started with the
     AnalyticDB manager account in PIER_MANAGER_ACCOUNT / PIER_MANAGER_PASSWORD, and polled until GET
     /ready is 200 (30 s); its self-signed certificate is then D/tls/cert.pem,
  4. at the end the server gets SIGTERM, then SIGKILL if it has not exited within 15 s.
The server's stdout/stderr go to <data dir>/../pier.log; its tail is printed when start-up fails.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every request in this suite goes to 127.0.0.1. The Tea core passes $HTTP(S)_PROXY to requests'
# Session.send, which does not apply $NO_PROXY, so a proxy in the environment would capture loopback
# traffic: drop the proxy variables for this test process.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
READY_TIMEOUT_S = 30.0
# The AnalyticDB manager account the session's server is given (ManagerAccount / ManagerAccountPassword).
MANAGER = ("pier_test_admin", "Adm!n pass 1")
# Where test_console.py saves its browser screenshots (test artifacts).
SCREENSHOT_DIR = Path(os.environ.get("PIER_SCREENSHOT_DIR") or REPO_ROOT / "target" / "console-screenshots")
STOP_TIMEOUT_S = 15.0


def pier_bin() -> Path:
    p = Path(os.environ.get("PIER_BIN") or REPO_ROOT / "target" / "debug" / "pier")
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError as e:
        return f"<no log: {e}>"


class Pier:
    """A running pier server plus the access key minted for it."""

    def __init__(self, binary: Path, workdir: Path, manager: tuple[str, str] | None = MANAGER):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir()
        self.log_path = workdir / "pier.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.endpoint = f"{self.host}:{self.port}"  # what the OpenSearch SDK calls `endpoint`
        self.base_url = f"http://{self.endpoint}"
        self.https_port = free_port()
        self.https_endpoint = f"{self.host}:{self.https_port}"
        self.tls_cert = self.data_dir / "tls" / "cert.pem"  # created by pier on first start
        # None: let pier create the manager account on first start (and print it once).
        self.manager = manager
        self.manager_account, self.manager_password = manager or (None, None)
        self.proc: subprocess.Popen | None = None
        self.key_id, self.secret = self._create_key()
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.auth = (self.key_id, self.secret)

    # ---- lifecycle -------------------------------------------------------------------------
    def _create_key(self) -> tuple[str, str]:
        cmd = [str(self.binary), "key", "create", "--data-dir", str(self.data_dir), "--json"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
        out = r.stdout.strip()
        try:
            key = json.loads(out)
        except json.JSONDecodeError:
            # tolerate a log line before the JSON object
            key = json.loads(out[out.index("{"):])
        assert key.get("id") and key.get("secret"), f"unexpected `key create --json` output: {out!r}"
        return key["id"], key["secret"]

    def start(self, ready_timeout: float = READY_TIMEOUT_S) -> None:
        """Starts `pier serve` and waits until /ready answers 200 (after the log's replay)."""
        cmd = [str(self.binary), "serve", "--data-dir", str(self.data_dir),
               "--listen", f"{self.host}:{self.port}", "--https-listen", self.https_endpoint]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIER_MANAGER_")}
        if self.manager:
            env["PIER_MANAGER_ACCOUNT"], env["PIER_MANAGER_PASSWORD"] = self.manager
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + ready_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pier serve exited with {self.proc.returncode} before it was ready; "
                                   f"log tail:\n{_tail(self.log_path)}")
            try:
                r = requests.get(f"{self.base_url}/ready", timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pier was not ready within {ready_timeout:.0f}s (last: {last}); "
                           f"log tail:\n{_tail(self.log_path)}")

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None

    # ---- admin API helpers (HTTP Basic auth) -----------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.http.delete(self.url(path), timeout=kw.pop("timeout", 30), **kw)

    def create_app(self, name: str, schema: dict, app_type: str = "advanced") -> dict:
        r = self.post("/api/v1/apps", json={"name": name, "type": app_type, "schema": schema})
        assert r.status_code == 201, f"create app {name}: HTTP {r.status_code} {r.text}"
        return r.json()

    def doc(self, app: str, table: str, pk: str) -> requests.Response:
        return self.get(f"/api/v1/apps/{app}/{table}/docs/{quote(pk, safe='')}")

    def wait_request_processed(self, request_id: str, timeout: float = 30.0) -> dict:
        """Poll GET /api/v1/requests/{id} until status == processed; return the final body."""
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            r = self.get(f"/api/v1/requests/{request_id}")
            if r.status_code == 200:
                body = r.json()
                if body.get("status") == "processed":
                    return body
            else:
                body = {"http": r.status_code, "text": r.text}
            time.sleep(0.1)
        raise AssertionError(f"request {request_id} not processed within {timeout}s; last answer: {body}")


@pytest.fixture(scope="session")
def pier():
    binary = pier_bin()
    if not binary.is_file():
        pytest.fail(f"pier binary not found at {binary}: build it (cargo build -p pier-cli) or set PIER_BIN",
                    pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="pier-pytest-"))
    server = Pier(binary, workdir)
    server.start()
    try:
        yield server
    finally:
        rc = server.stop()
        if rc not in (0, None) and rc != -signal.SIGTERM:
            print(f"\nwarning: pier serve exited with {rc} after SIGTERM; log tail:\n{_tail(server.log_path)}")
        if os.environ.get("PIER_KEEP_DATA"):
            print(f"\npier test data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


_app_counter = itertools.count(1)


@pytest.fixture
def make_app(pier):
    """Factory: make_app(schema, type='advanced') creates a uniquely named app, deleted after the test."""
    created: list[str] = []

    def _make(schema: dict, app_type: str = "advanced", prefix: str = "t") -> str:
        name = f"{prefix}{os.getpid() % 100000}_{next(_app_counter)}"
        pier.create_app(name, schema, app_type)
        created.append(name)
        return name

    yield _make
    for name in created:
        pier.delete(f"/api/v1/apps/{name}")


def pytest_terminal_summary(terminalreporter):
    """Say where the console screenshots of this run are (pytest captures the tests' own output)."""
    shots = sorted(SCREENSHOT_DIR.glob("*.png")) if SCREENSHOT_DIR.is_dir() else []
    if shots:
        terminalreporter.write_line(f"console screenshots ({len(shots)}): {SCREENSHOT_DIR}")
