"""Fixtures: real local servers, started once per test session by scripts/services.py."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from changelake.clients import dynamodb_client, make_search_sink, s3_client, streams_client
from changelake.schemas.archive_layout import parse_archive_uri
from scripts.services import (
    Service,
    start_dynamodb_local,
    start_elasticsearch_api,
    start_opensearch,
    start_seaweedfs,
    stop,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from pyspark.sql import SparkSession

    from changelake.rebuild.search_sink import SearchSink

# Two local cores: what `make test` gives Spark, and what `rebuild --runner spark` is told.
SPARK_MASTER = "local[2]"


# The marker of each server (or engine) a fixture brings up: ``make test-unit`` deselects them all.
_SERVER_FIXTURES = {
    "s3_service": "s3",
    "es_service": "es",
    "opensearch_service": "opensearch",
    "dynamodb_service": "dynamodb",
    "spark": "spark",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the servers its fixtures start, static or chosen by a parameter."""
    for item in items:
        needs = {mark for name, mark in _SERVER_FIXTURES.items() if name in item.fixturenames}
        params = getattr(item, "callspec", None)
        if params is not None and params.params.get("archive_uri") == "s3":
            needs.add("s3")
        for mark in sorted(needs):
            item.add_marker(mark)


def _run_service(
    starter: Callable[[Path], Service], tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[Service]:
    if os.environ.get("UNIT_TESTS_ONLY"):
        pytest.fail(f"{name} was started in make test-unit: mark the test with its server")
    service = starter(tmp_path_factory.mktemp(name))
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in service.env.items():
            patch.setenv(variable, value)
        _clear_clients()
        try:
            yield service
        finally:
            stop(service)
            _clear_clients()


def _clear_clients() -> None:
    for client in (s3_client, dynamodb_client, streams_client):
        client.cache_clear()


def _service_fixture(
    fixture_name: str, starter: Callable[[Path], Service]
) -> Callable[[pytest.TempPathFactory], Iterator[Service]]:
    """A session fixture that runs ``starter``'s server on a free port for the whole run, with
    its variables (AWS_*, endpoints) set."""
    name = starter.__name__.removeprefix("start_")

    def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
        yield from _run_service(starter, tmp_path_factory, name)

    service.__doc__ = starter.__doc__
    return pytest.fixture(scope="session", name=fixture_name)(service)


s3_service = _service_fixture("s3_service", start_seaweedfs)
es_service = _service_fixture("es_service", start_elasticsearch_api)
opensearch_service = _service_fixture("opensearch_service", start_opensearch)
dynamodb_service = _service_fixture("dynamodb_service", start_dynamodb_local)


@pytest.fixture
def s3_archive(s3_service: Service, request: pytest.FixtureRequest) -> str:
    """A fresh archive URI in the S3 bucket, one prefix per test."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    return f"s3://{s3_service.env['CHANGELAKE_TEST_BUCKET']}/{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def local_archive(tmp_path: Path) -> str:
    """A fresh local archive directory."""
    return str(tmp_path / "archive")


@pytest.fixture(params=["local", "s3"])
def archive_uri(request: pytest.FixtureRequest) -> str:
    """Each archive kind in turn: a local directory, then the S3 server."""
    if request.param == "local":
        return str(request.getfixturevalue("local_archive"))
    return str(request.getfixturevalue("s3_archive"))


@dataclass
class SearchEngine:
    """A running search engine for a test: its name, URL and a sink built for it."""

    name: str
    url: str
    sink: SearchSink


# Each search engine the integration tests run against; add an engine here with its fixture.
# Sinks are built with the engine detected from GET /, as the CLI does without --engine.
SEARCH_ENGINES = {
    "elasticsearch": ("es_service", make_search_sink),
    "opensearch": ("opensearch_service", make_search_sink),
}
_ENGINE_MARKS = {"elasticsearch": pytest.mark.es, "opensearch": pytest.mark.opensearch}


@pytest.fixture(
    params=[pytest.param(name, marks=_ENGINE_MARKS[name]) for name in sorted(SEARCH_ENGINES)],
    ids=lambda name: str(name),
)
def search_engine(request: pytest.FixtureRequest) -> SearchEngine:
    """Each search engine in turn, as a URL and a sink."""
    fixture_name, make_sink = SEARCH_ENGINES[request.param]
    service: Service = request.getfixturevalue(fixture_name)
    sink = make_sink(service.url)
    assert sink.engine == request.param, f"{service.url} was detected as {sink.engine}"
    return SearchEngine(name=request.param, url=service.url, sink=sink)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local Spark session (``local[2]``) for the test session, S3A jars loaded.

    ``rebuild --runner spark`` in the tests finds it running and reuses it.
    """
    from changelake.spark_session import open_spark_archive

    if os.environ.get("UNIT_TESTS_ONLY"):
        pytest.fail("Spark was started by a test in make test-unit: mark the test spark")

    location = parse_archive_uri(str(tmp_path_factory.mktemp("spark-archive")))
    session = open_spark_archive(location, SPARK_MASTER).spark
    try:
        yield session
    finally:
        session.stop()
