"""Search engine options: checking them, parsing them from the CLI, recognising the engine."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from changelake.options import search_options
from changelake.schemas.exceptions import SearchConfigError
from changelake.search_options import (
    SearchOptions,
    aws_service_for_url,
    engine_from_info,
)
from tests.helpers import load_event


def test_engine_from_info_of_real_servers() -> None:
    assert engine_from_info(load_event("info-opensearch.json"), "u") == "opensearch"
    assert engine_from_info(load_event("info-elasticsearch-api.json"), "u") == "elasticsearch"


def test_engine_from_info_rejects_a_non_engine() -> None:
    with pytest.raises(SearchConfigError, match=r"http://x:1 did not answer.*--engine"):
        engine_from_info({"status": "ok"}, "http://x:1")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "solr"}, "unknown search engine 'solr'"),
        ({"username": "u"}, "give both or neither"),
        ({"password": "p"}, "give both or neither"),
        ({"username": "u", "password": "p", "api_key": "k"}, "not a user name and password and"),
        ({"api_key": "k", "aws_region": "eu-west-1"}, "not an API key and SigV4"),
        ({"engine": "opensearch", "api_key": "k"}, "OpenSearch has no API keys"),
        ({"engine": "elasticsearch", "aws_region": "eu-west-1"}, "SigV4 .* is for Amazon"),
    ],
)
def test_contradicting_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SearchConfigError, match=message):
        SearchOptions(**options)


def test_implied_engine() -> None:
    assert SearchOptions().implied_engine() is None
    assert SearchOptions(username="u", password="p").implied_engine() is None
    assert SearchOptions(aws_region="eu-west-1").implied_engine() == "opensearch"
    assert SearchOptions(api_key="k").implied_engine() == "elasticsearch"
    assert SearchOptions(engine="opensearch").implied_engine() == "opensearch"
    assert SearchOptions(username="u", password="p").basic_auth == ("u", "p")
    assert SearchOptions().verify_certs


def test_aws_service_for_url() -> None:
    assert aws_service_for_url("https://search-posts-abc.eu-west-1.es.amazonaws.com") == "es"
    assert aws_service_for_url("https://abc123.eu-west-1.aoss.amazonaws.com:443") == "aoss"


@click.command()
@search_options
def show(search: SearchOptions) -> None:
    click.echo(repr(search))
    click.echo(f"basic auth: {search.basic_auth is not None}")


def test_cli_options_build_search_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGELAKE_SEARCH_PASSWORD", "from-env")
    result = CliRunner().invoke(show, ["--engine", "opensearch", "--search-username", "admin"])
    assert result.exit_code == 0, result.output
    assert "engine='opensearch'" in result.output
    assert "username='admin'" in result.output
    assert "from-env" not in result.output  # secrets stay out of reprs and logs
    assert "basic auth: True" in result.output
    assert "verify_certs=True" in result.output
    monkeypatch.delenv("CHANGELAKE_SEARCH_PASSWORD")
    result = CliRunner().invoke(show, ["--no-verify-certs", "--aws-region", "eu-west-1"])
    assert result.exit_code == 0, result.output
    assert "aws_region='eu-west-1'" in result.output
    assert "verify_certs=False" in result.output


def test_cli_contradicting_options_are_a_usage_error() -> None:
    result = CliRunner().invoke(show, ["--engine", "elasticsearch", "--aws-region", "eu-west-1"])
    assert result.exit_code == 2
    assert "SigV4 (--aws-region) is for Amazon OpenSearch Service" in result.output
