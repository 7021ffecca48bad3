"""A paginated JSON API and a token endpoint for bench_pages.py, run in its own process.

As thin as the standard library allows (HTTP/1.1 keep-alive, bodies built once at start), so the
benchmark measures the client:

    POST /token         {"access_token": "bench", "token_type": "Bearer", "expires_in": 3600}
    GET  /pages?page=N  {"items": [100 items], "next": "/pages?page=N+1" or null}, 200 pages
    GET  /big?page=N    the same with 500 items a page, 200 pages (100,000 items)
    GET  /one           a small JSON body
"""

from __future__ import annotations

import json
import sys
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from json_handler import JsonHandler

PAGES = 200


def _item(i: int) -> dict[str, object]:
    return {
        "id": i,
        "name": f"item {i}",
        "category": ("books", "games", "music", "tools")[i % 4],
        "amount": round(10 + (i * 37) % 90 + (i % 7) * 0.25, 2),
        "owner": {"id": 100 + i % 9, "team": ("north", "south", "east")[i % 3]},
    }


def _pages(path: str, size: int) -> list[bytes]:
    bodies = []
    for page in range(1, PAGES + 1):
        items = [_item((page - 1) * size + i) for i in range(size)]
        following = f"/{path}?page={page + 1}" if page < PAGES else None
        bodies.append(json.dumps({"items": items, "next": following}).encode())
    return bodies


_BODIES = {"pages": _pages("pages", 100), "big": _pages("big", 500)}
_ONE = json.dumps({"id": 1, "name": "one"}).encode()
_TOKEN = json.dumps({"access_token": "bench", "token_type": "Bearer", "expires_in": 3600}).encode()


class _Handler(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        name = url.path.strip("/")
        if name in _BODIES:
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            self._send(200, _BODIES[name][page - 1])
        elif name == "one":
            self._send(200, _ONE)
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/token":
            self._send(200, _TOKEN)
        else:
            self._send(404, b"{}")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)  # the parent reads the port from here
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
