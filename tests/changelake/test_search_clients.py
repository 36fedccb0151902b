"""Search clients built by changelake/clients.py: engine detection, SigV4, basic auth, API keys.

The auth tests put a recording HTTP proxy between the client and the real engine: the engine does
the work, the proxy shows what went over the wire (the local engines run without security).
"""

from __future__ import annotations

import hashlib
import re
import ssl
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
import trustme
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from changelake.clients import make_search_sink
from changelake.schemas.exceptions import SearchUnavailableError
from changelake.search_options import SearchOptions
from tests.helpers import QuietHandler, serve_http

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from scripts.services import Service


@dataclass
class Recorded:
    """One request as the proxy received it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingProxy:
    """A loopback HTTP proxy to one engine that keeps every request it forwarded."""

    url: str
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def recording_proxy(target: str, tls: ssl.SSLContext | None = None) -> Iterator[RecordingProxy]:
    """Forward every request to ``target`` and record it; serve HTTPS with ``tls``."""
    proxy = RecordingProxy(url="")

    class Handler(QuietHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            proxy.requests.append(Recorded(self.command, self.path, headers, body))
            forwarded = {name: value for name, value in headers.items() if name != "host"}
            request = urllib.request.Request(
                target + self.path, data=body or None, method=self.command, headers=forwarded
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, payload, kind = response.status, response.read(), response.headers
            except urllib.error.HTTPError as error:
                with error:
                    status, payload, kind = error.code, error.read(), error.headers
            answer = {"Content-Type": kind.get("Content-Type", "application/json")}
            for name in ("X-Elastic-Product",):
                if kind.get(name):
                    answer[name] = kind[name]
            self.reply(status, answer, payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    scheme = "http" if tls is None else "https"
    with serve_http(Handler, tls) as port:
        proxy.url = f"{scheme}://127.0.0.1:{port}"
        yield proxy


AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>\w+)"
)


def _check_sigv4(request: Recorded, credentials: Credentials, region: str) -> None:
    """Recompute the request's SigV4 signature the way AWS does, from what was received."""
    headers = request.headers
    match = AUTHORIZATION.fullmatch(headers["authorization"])
    assert match, headers["authorization"]
    assert (match["key"], match["region"], match["service"]) == ("AKIDTEST", region, "es")
    assert headers["x-amz-security-token"] == "session-token"
    # The signed payload hash is the hash of the body that arrived.
    assert headers["x-amz-content-sha256"] == hashlib.sha256(request.body).hexdigest()
    signed = match["signed"].split(";")
    assert {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"} <= set(signed)
    aws_request = AWSRequest(
        method=request.method,
        url=f"http://{headers['host']}{request.path}",
        data=request.body,
        headers={name: headers[name] for name in signed},
    )
    aws_request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(credentials, "es", region)
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    assert match["sig"] == expected, f"bad signature for {request.method} {request.path}"


@pytest.mark.opensearch
def test_sigv4_signs_every_request_to_opensearch(
    opensearch_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-test")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    credentials = Credentials("AKIDTEST", "secret-test", "session-token")
    index = f"signed-{uuid.uuid4().hex[:8]}"
    with recording_proxy(opensearch_service.url) as proxy:
        sink = make_search_sink(proxy.url, SearchOptions(aws_region="eu-west-1"))
        assert sink.engine == "opensearch"
        sink.create_index(index, {"settings": {"number_of_shards": 1}})
        try:
            response = sink.bulk(index, b'{"index":{"_id":"a"}}\n{"title":"signed"}\n')
            assert not response["errors"]
            sink.refresh(index)
            assert sink.count(index) == 1
        finally:
            sink.delete_index(index)
    assert len(proxy.requests) == 5
    for request in proxy.requests:
        _check_sigv4(request, credentials, "eu-west-1")


@pytest.mark.opensearch
def test_basic_auth_to_opensearch(opensearch_service: Service) -> None:
    with recording_proxy(opensearch_service.url) as proxy:
        sink = make_search_sink(proxy.url, SearchOptions(username="admin", password="s3cret"))
        assert sink.engine == "opensearch"  # detected from GET /, sent with the credentials
        assert sink.is_concrete_index(f"missing-{uuid.uuid4().hex[:8]}") is False
    assert [r.headers.get("authorization") for r in proxy.requests] == [
        "Basic YWRtaW46czNjcmV0"  # admin:s3cret
    ] * 2


@pytest.mark.es
def test_api_key_and_basic_auth_to_elasticsearch(es_service: Service) -> None:
    with recording_proxy(es_service.url) as proxy:
        sink = make_search_sink(proxy.url, SearchOptions(api_key="aWQ6a2V5"))
        assert sink.engine == "elasticsearch"  # an API key implies Elasticsearch: no GET /
        sink.is_concrete_index("anything")
        sink = make_search_sink(proxy.url, SearchOptions(username="elastic", password="pw"))
        assert sink.engine == "elasticsearch"
        sink.is_concrete_index("anything")
    assert [r.headers.get("authorization") for r in proxy.requests] == [
        "ApiKey aWQ6a2V5",
        "Basic ZWxhc3RpYzpwdw==",  # GET / to detect the engine
        "Basic ZWxhc3RpYzpwdw==",
    ]


@pytest.mark.opensearch
def test_engine_is_detected_from_get_root(opensearch_service: Service, es_service: Service) -> None:
    assert make_search_sink(opensearch_service.url).engine == "opensearch"
    assert make_search_sink(es_service.url).engine == "elasticsearch"
    forced = make_search_sink(opensearch_service.url, SearchOptions(engine="opensearch"))
    assert forced.engine == "opensearch"


@pytest.fixture(scope="module")
def tls_authority() -> trustme.CA:
    """A throwaway certificate authority for the HTTPS proxies."""
    return trustme.CA()


def _server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.mark.opensearch
def test_tls_is_verified_by_default_on_opensearch(
    opensearch_service: Service, tls_authority: trustme.CA, tmp_path: Path
) -> None:
    with recording_proxy(opensearch_service.url, _server_context(tls_authority)) as proxy:
        with pytest.raises(SearchUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
            make_search_sink(proxy.url)
        bundle = tmp_path / "ca.pem"
        tls_authority.cert_pem.write_to_path(str(bundle))
        sink = make_search_sink(proxy.url, SearchOptions(ca_certs=str(bundle)))
        assert sink.engine == "opensearch"
        assert not sink.is_concrete_index(f"missing-{uuid.uuid4().hex[:8]}")
        unchecked = make_search_sink(proxy.url, SearchOptions(verify_certs=False))
        assert unchecked.engine == "opensearch"


@pytest.mark.es
def test_tls_is_verified_by_default_on_elasticsearch(
    es_service: Service, tls_authority: trustme.CA, tmp_path: Path
) -> None:
    with recording_proxy(es_service.url, _server_context(tls_authority)) as proxy:
        sink = make_search_sink(proxy.url, SearchOptions(engine="elasticsearch"))
        with pytest.raises(SearchUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
            sink.is_concrete_index("anything")
        bundle = tmp_path / "ca.pem"
        tls_authority.cert_pem.write_to_path(str(bundle))
        sink = make_search_sink(proxy.url, SearchOptions(ca_certs=str(bundle)))
        assert sink.engine == "elasticsearch"
        assert not sink.is_concrete_index("anything")
        unchecked = make_search_sink(proxy.url, SearchOptions(verify_certs=False))
        assert not unchecked.is_concrete_index("anything")
