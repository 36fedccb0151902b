"""The OpenSearch node started by scripts/services.py is real Lucene, on loopback only."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scripts.services import Service

pytestmark = pytest.mark.opensearch


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_node_is_opensearch_on_loopback(opensearch_service: Service) -> None:
    assert opensearch_service.url.startswith("http://127.0.0.1:")
    status, info = _request("GET", opensearch_service.url)
    assert status == 200
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"].startswith("2.19.")
    status, health = _request("GET", f"{opensearch_service.url}/_cluster/health")
    # Yellow once other tests made indexes with a replica: one node has nowhere to put it.
    assert health["status"] in {"green", "yellow"}
    assert health["number_of_nodes"] == 1
    os.kill(opensearch_service.pid, 0)  # the PID the fixture will stop is the node's


def test_node_keeps_delete_tombstones(opensearch_service: Service) -> None:
    index = f"{opensearch_service.url}/tombstones-{uuid.uuid4().hex[:8]}"
    _request("PUT", index, {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    try:
        external = "version_type=external"
        status, _ = _request("PUT", f"{index}/_doc/a?version=5&{external}", {"n": 1})
        assert status == 201
        status, _ = _request("DELETE", f"{index}/_doc/a?version=7&{external}")
        assert status == 200
        # Within index.gc_deletes (60 s) the delete's version is remembered.
        status, error = _request("PUT", f"{index}/_doc/a?version=6&{external}", {"n": 2})
        assert status == 409, error
        assert error["error"]["type"] == "version_conflict_engine_exception"
    finally:
        _request("DELETE", index)
