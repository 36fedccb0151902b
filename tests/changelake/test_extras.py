"""Optional parts: each search client is an extra, and a missing one is named in one line."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake import __version__
from changelake.cli import cli
from changelake.clients import detect_search_engine, make_search_sink
from changelake.extras import EXTRAS, require_extra
from changelake.hot_path import hot_path
from changelake.schemas.exceptions import MissingExtraError
from changelake.search_options import SearchOptions

if TYPE_CHECKING:
    from pathlib import Path

    from scripts.services import Service


def hide_module(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make ``name`` unimportable, as if its distribution were not installed."""
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, name, None)


def test_a_missing_extra_is_named_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hide_module(monkeypatch, "opensearchpy")
    with pytest.raises(MissingExtraError) as raised:
        require_extra("opensearchpy")
    assert str(raised.value) == (
        "the OpenSearch client (opensearchpy) is not installed; install it with "
        "pip install 'changelake[opensearch]'"
    )


def test_every_extra_named_in_code_is_declared_in_pyproject() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = set(pyproject["project"]["optional-dependencies"])
    assert {extra for _, extra in EXTRAS.values()} <= declared


def test_version_says_which_path_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = CliRunner().invoke(cli, ["--version"])
    assert compiled.exit_code == 0
    assert compiled.output.startswith(f"changelake {__version__}, compiled hot path: ")
    hide_module(monkeypatch, "changelake_native")
    assert hot_path() == "pure Python"
    pure = CliRunner().invoke(cli, ["--version"])
    assert pure.output == f"changelake {__version__}, pure Python\n"


def test_without_any_search_client_the_command_names_both_extras(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide_module(monkeypatch, "opensearchpy")
    hide_module(monkeypatch, "elasticsearch")
    (tmp_path / "table=posts").mkdir()
    arguments = ["--archive", str(tmp_path), "--table", "posts", "--alias", "posts", "--dry-run"]
    result = CliRunner().invoke(cli, ["rebuild", *arguments, "--es-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: no search engine client is installed; install the one for your engine: "
        "pip install 'changelake[opensearch]' or 'changelake[elasticsearch]'\n"
    )


@pytest.mark.opensearch
def test_the_elasticsearch_client_alone_recognises_opensearch_and_names_its_extra(
    opensearch_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_module(monkeypatch, "opensearchpy")
    assert detect_search_engine(opensearch_service.url, SearchOptions()) == "opensearch"
    with pytest.raises(MissingExtraError, match=r"pip install 'changelake\[opensearch\]'"):
        make_search_sink(opensearch_service.url)


@pytest.mark.es
def test_the_elasticsearch_client_alone_detects_elasticsearch(
    es_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_module(monkeypatch, "opensearchpy")
    assert detect_search_engine(es_service.url, SearchOptions()) == "elasticsearch"
    assert make_search_sink(es_service.url).engine == "elasticsearch"
