"""Real Jupyter processes for the server-callback tests: a ``jupyter server`` (or a JupyterHub
user's server) on 127.0.0.1, and kernels started through its REST API and driven over its
websocket, as JupyterLab does.

Start-up is polled with generous deadlines (the machine is shared); nothing here sleeps for
timing.
"""

from __future__ import annotations

import html
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websocket  # websocket-client, a dependency of jupyter_server

#: Process start-up on a busy 2-core machine: generous.
START_DEADLINE_S = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def user_env() -> dict[str, str]:
    """This process's environment without what would make a Jupyter process started by a test
    differ from the one a user starts: nb_oauth's, keyring's and Jupyter's settings, a display or
    browser, and ``CI`` (set by the CI service running the suite, it would make every kernel
    unattended)."""
    return {
        key: value for key, value in os.environ.items()
        if not key.startswith(("NB_OAUTH_", "PYTHON_KEYRING", "JUPYTER"))
        and key not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "CI")
    }


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a Jupyter process in ``tmp_path``: its own home, config and runtime
    folders, no display, no browser, no keyring (as on a server), nothing of nb_oauth's."""
    env = user_env()
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
            "NB_OAUTH_HOME": str(tmp_path / "nb_oauth_home"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "NB_OAUTH_SESSION_ONLY": "1",
        }
    )
    env.update(extra)
    return env


def wait_until(check: Callable[[], bool], what: str, process: subprocess.Popen[bytes],
               log: Path, deadline_s: float = START_DEADLINE_S) -> None:
    """Poll ``check`` until it is true; fail with the log's tail if the process dies or the
    deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        assert process.poll() is None, f"{what}: the process ended\n" + log.read_text()[-3000:]
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{what} within {deadline_s:g} s\n" + (
            log.read_text()[-3000:]
        )
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@dataclass
class JupyterServer:
    """A started ``jupyter server``: ``url`` ends with its base URL (``.../user/alice/``)."""

    url: str
    token: str
    runtime_dir: Path
    log: Path

    @property
    def callback_url(self) -> str:
        return self.url + "nb-oauth/callback"


@contextmanager
def jupyter_server(tmp_path: Path, *, base_url: str, token: str) -> Iterator[JupyterServer]:
    """``jupyter server`` on 127.0.0.1 under ``base_url``, with the nb_oauth extension enabled by
    the config file the package installs."""
    port = free_port()
    root = tmp_path / "work"
    root.mkdir(exist_ok=True)
    runtime = tmp_path / "jupyter-runtime"
    env = clean_env(tmp_path, JUPYTER_RUNTIME_DIR=str(runtime))
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={base_url}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    log = tmp_path / "jupyter-server.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = JupyterServer(f"http://127.0.0.1:{port}{base_url}", token, runtime, log)
    try:
        wait_until(
            lambda: httpx.get(server.url + "api/status", params={"token": token}).status_code
            == 200,
            "jupyter server started",
            process,
            log,
        )
        yield server
    finally:
        stop(process)


@dataclass
class Execution:
    """One ``execute_request`` running in a kernel; its messages arrive in a background thread."""

    messages: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    #: The kernel said "idle" for this request: every output was sent (the reply on the shell
    #: channel may come before the last outputs on iopub).
    idle: bool = False

    def _next(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "the kernel did not answer in time:\n" + self.text()
        message = self.messages.get(timeout=remaining)
        if "error" in message:
            raise AssertionError(f"the kernel's websocket failed: {message['error']}")
        self.seen.append(message)
        if message.get("msg_type") == "execute_reply":
            self.reply = message
        elif message.get("msg_type") == "status":
            self.idle = message.get("content", {}).get("execution_state") == "idle"
        return message

    def wait_for_link(self, text: str, timeout: float = 60) -> str:
        """The ``href`` of the first link showing ``text`` in the cell's HTML output."""
        deadline = time.monotonic() + timeout
        pattern = re.compile(r'<a href="([^"]+)"[^>]*>(?:<b>)?' + re.escape(text))
        for message in self.seen:
            found = pattern.search(_html(message))
            if found:
                return html.unescape(found.group(1))
        while True:
            message = self._next(deadline)
            found = pattern.search(_html(message))
            if found:
                return html.unescape(found.group(1))
            assert not (self.reply and self.idle), "the cell ended without a sign-in link:\n" + (
                self.text()
            )

    def result(self, timeout: float = 120) -> str:
        """Wait for the cell to end; returns everything it printed and showed (as text). Raises
        with the output when it failed."""
        deadline = time.monotonic() + timeout
        while self.reply is None or not self.idle:
            self._next(deadline)
        assert self.reply["content"]["status"] == "ok", self.text()
        return self.text()

    def text(self) -> str:
        parts = []
        for message in self.seen:
            content = message.get("content", {})
            if message.get("msg_type") == "stream":
                parts.append(content.get("text", ""))
            elif message.get("msg_type") == "error":
                parts.append("\n".join(content.get("traceback", [])))
            elif "data" in content:
                data = content["data"]
                if "text/html" in data:
                    parts.append(html.unescape(data["text/html"]))
                else:
                    parts.append(data.get("text/plain", ""))
        return "\n".join(parts)


def _html(message: dict[str, Any]) -> str:
    data = message.get("content", {}).get("data", {})
    return str(data.get("text/html", ""))


class Kernel:
    """A kernel started through a Jupyter server's REST API (``POST api/kernels``) and driven
    over its websocket, as JupyterLab does; ``headers`` carry the credentials."""

    def __init__(self, server_url: str, headers: dict[str, str]) -> None:
        self.server_url = server_url
        self.headers = headers
        response = httpx.post(server_url + "api/kernels", headers=headers, json={}, timeout=60)
        assert response.status_code == 201, response.text
        self.id = response.json()["id"]
        self.session = uuid.uuid4().hex
        ws_url = server_url.replace("http://", "ws://", 1)
        self._ws = websocket.create_connection(
            f"{ws_url}api/kernels/{self.id}/channels?session_id={self.session}",
            header=[f"{k}: {v}" for k, v in headers.items()],
            suppress_origin=True,
            timeout=START_DEADLINE_S,
        )
        self._executions: dict[str, Execution] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                raw = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as exc:  # the socket closed: tell whoever waits
                for execution in self._executions.values():
                    execution.messages.put({"error": repr(exc)})
                return
            try:
                message = json.loads(raw)
            except ValueError:  # a binary frame or the closing one: nothing of ours
                if not raw:
                    return
                continue
            parent = message.get("parent_header", {}).get("msg_id")
            execution = self._executions.get(parent)
            if execution is not None:
                execution.messages.put(message)

    def run(self, code: str) -> Execution:
        msg_id = uuid.uuid4().hex
        execution = Execution()
        self._executions[msg_id] = execution
        header = {
            "msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
            "username": "test", "version": "5.3", "date": "2026-01-01T00:00:00Z",
        }
        self._ws.send(json.dumps({
            "header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {
                "code": code, "silent": False, "store_history": False, "user_expressions": {},
                "allow_stdin": True, "stop_on_error": True,
            },
            "buffers": [],
        }))
        return execution

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            httpx.delete(
                f"{self.server_url}api/kernels/{self.id}", headers=self.headers, timeout=60
            )
