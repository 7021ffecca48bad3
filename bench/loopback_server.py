"""A minimal OAuth token endpoint and JSON API for benchmarks, run in its own process.

Not the demo provider on purpose: the benchmark measures the *client*, so the server is as thin as
the standard library allows (HTTP/1.1 keep-alive, no framework, no token checks on the API).

    POST /token         {"access_token": "bench-<n>", "token_type": "Bearer", "expires_in": ...}
                        (token_type "DPoP" when the request carries a DPoP proof, RFC 9449;
                        proofs are not verified: the client's cost is what is measured)
                        After POST /reset tokens live 1 s (so the one a client holds expires);
                        after POST /long they live an hour; after POST /slow the token endpoint
                    and the API take 200 ms to answer (until the next /reset).
    GET  /api/data      a small JSON body, whatever token was sent
    GET  /stats         {"token_requests": n, "api_requests": n}
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import ThreadingHTTPServer

from json_handler import JsonHandler

_lock = threading.Lock()
_stats = {"token_requests": 0, "api_requests": 0}
_short_lived = True
_slow_tokens = False
_BODY = json.dumps({"items": [{"id": i, "name": f"item {i}"} for i in range(5)]}).encode()


class _Handler(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/api/"):
            with _lock:
                _stats["api_requests"] += 1
                slow = _slow_tokens
            if slow:
                time.sleep(0.2)
            self._send(200, _BODY)
        elif self.path == "/stats":
            with _lock:
                self._send(200, json.dumps(_stats).encode())
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:  # noqa: N802
        global _short_lived, _slow_tokens
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path == "/token":
            with _lock:
                _stats["token_requests"] += 1
                n, short, slow = _stats["token_requests"], _short_lived, _slow_tokens
            if slow:
                time.sleep(0.2)
            token = {
                "access_token": f"bench-{n}",
                "token_type": "DPoP" if self.headers.get("DPoP") else "Bearer",
                "expires_in": 1 if short else 3600,
            }
            self._send(200, json.dumps(token).encode())
        elif self.path == "/reset":
            with _lock:
                _short_lived, _slow_tokens = True, False
                _stats.update(token_requests=0, api_requests=0)
            self._send(200, b"{}")
        elif self.path == "/slow":
            with _lock:
                _slow_tokens = True
            self._send(200, b"{}")
        elif self.path == "/long":
            with _lock:
                _short_lived = False
            self._send(200, b"{}")
        else:
            self._send(404, b"{}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a 100-request storm opens 100 connections at once


def main() -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)  # the parent reads the port from here
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
