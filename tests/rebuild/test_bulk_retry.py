"""429s from the engine are retried with backoff: a small proxy on 127.0.0.1 answers 429 first."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

from tests.helpers import make_record
from tests.rebuild.conftest import Posts

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import SearchEngine

pytestmark = pytest.mark.es


class RejectingProxy(ThreadingHTTPServer):
    """Forwards every request to the engine, except the first ``reject`` bulk requests: 429."""

    def __init__(self, target: str, reject: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = urlparse(target)
        self.reject = reject
        self.rejected = 0
        self.bulk_requests = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: RejectingProxy

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the counters instead."""

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "_bulk" in self.path:
            with self.server.lock:
                self.server.bulk_requests += 1
                reject = self.server.rejected < self.server.reject
                self.server.rejected += reject
            if reject:
                payload = b'{"error":{"type":"es_rejected_execution_exception"},"status":429}'
                self.send_response(429)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
        target = self.server.target
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        connection.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


@pytest.fixture
def proxy(search_engine: SearchEngine) -> Iterator[RejectingProxy]:
    """A proxy in front of the engine that answers the first two bulk requests with 429."""
    server = RejectingProxy(search_engine.url, reject=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_429_is_retried_until_the_documents_arrive(
    local_archive: str, search_engine: SearchEngine, proxy: RejectingProxy
) -> None:
    posts = Posts(local_archive, search_engine)
    posts.add(*(make_record(n, key=f"post#{n}", event_name="INSERT") for n in range(20)))
    behind_proxy = Posts(local_archive, type(search_engine)("proxy", proxy.url, search_engine.sink))
    behind_proxy.alias = posts.alias
    summary = behind_proxy.run_json("rebuild")
    assert summary["documents"] == 20
    assert proxy.rejected == 2
    assert proxy.bulk_requests == 3
    assert len(posts.documents()) == 20
