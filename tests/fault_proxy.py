"""An HTTP proxy in front of a real search engine that answers some requests with an error.

The engine behind it is real; the proxy only decides, request by request, to answer 429 or 503
itself instead of forwarding, the way an overloaded cluster does.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from collections.abc import Iterator

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy:
    """Forward to ``upstream``; the first requests whose path contains ``path`` get ``faults``.

    ``matched`` counts the requests whose path contains ``path``, answered or forwarded. With
    ``hold`` seconds, each matched request waits that long before it is forwarded, and
    ``most_at_once`` records how many matched requests were ever open at the same time. The
    first ``applied`` faults are answered only after the request was forwarded: the engine did
    the work, and its answer was lost on the way back (a timeout, a proxy's 504).
    """

    def __init__(
        self, upstream: str, path: str, faults: list[int], hold: float = 0.0, applied: int = 0
    ) -> None:
        self.upstream = urlparse(upstream)
        self.path = path
        self.pending = list(faults)
        self.hold = hold
        self.applied = applied
        self.injected: list[int] = []
        self.matched = 0
        self.forwarded = 0
        self.open = 0
        self.most_at_once = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where clients should connect."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next_fault(self, path: str) -> tuple[int | None, bool]:
        """The status to answer with (None: the engine's own) and whether to forward first."""
        with self.lock:
            self.matched += self.path in path
            if self.path in path and self.pending:
                status = self.pending.pop(0)
                self.injected.append(status)
                if self.applied:
                    self.applied -= 1
                    self.forwarded += 1
                    return status, True
                return status, False
            self.forwarded += 1
            return None, True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                if proxy.path not in self.path:
                    self._forward_or_fault()
                    return
                with proxy.lock:
                    proxy.open += 1
                    proxy.most_at_once = max(proxy.most_at_once, proxy.open)
                try:
                    time.sleep(proxy.hold)
                    self._forward_or_fault()
                finally:
                    with proxy.lock:
                        proxy.open -= 1

            def _forward_or_fault(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, forward = proxy._next_fault(self.path)
                if forward:
                    answer = self._forward(body)
                if status is not None:
                    reason = "es_rejected_execution_exception" if status == 429 else "unavailable"
                    error = {"error": {"type": reason, "reason": "injected"}, "status": status}
                    self._answer(status, [("Content-Type", "application/json")], json.dumps(error))
                    return
                self._answer(*answer)

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                connection = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS]
                connection.close()
                return response.status, kept, data

            def _answer(
                self, status: int, headers: list[tuple[str, str]], body: str | bytes
            ) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for name, value in _with_product(headers):
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        return Handler


def _with_product(headers: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Keep the engine's headers; errors of our own still say which product answered."""
    yield from headers
    if not any(name.lower() == "x-elastic-product" for name, _ in headers):
        yield "X-Elastic-Product", "Elasticsearch"
