"""Fixtures for rebuild and sync tests: an archive of the ``posts`` table and a fresh alias."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from click.testing import CliRunner

from changelake.archiver.batch import archive_records
from changelake.cli import cli
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri

if TYPE_CHECKING:
    from click.testing import Result

    from tests.conftest import SearchEngine


@dataclass
class Posts:
    """A local archive of the ``posts`` table, an alias on a search engine, and the CLI."""

    archive: str
    engine: SearchEngine
    alias: str = field(default_factory=lambda: f"posts-{uuid.uuid4().hex[:8]}")

    def add(self, *records: dict[str, Any]) -> None:
        """Archive records (one batch, so one file)."""
        archive_records(list(records), make_store(parse_archive_uri(self.archive)))

    def through(self, url: str) -> Posts:
        """The same archive and alias, reached at ``url`` (a proxy in front of the engine)."""
        return replace(self, engine=type(self.engine)("proxy", url, self.engine.sink))

    def run(self, command: str, *args: str, code: int = 0) -> Result:
        """Run a changelake command against this archive and alias; check its exit code."""
        base = ["--alias", self.alias, "--es-url", self.engine.url]
        if command in {"rebuild", "sync"}:
            base += ["--archive", self.archive, "--table", "posts", "-s"]
        result = CliRunner().invoke(cli, [command, *base, *args])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def run_json(self, command: str, *args: str) -> dict[str, Any]:
        """Run a command with ``--output json``; its summary."""
        summary: dict[str, Any] = orjson.loads(self.run(command, "--output", "json", *args).stdout)
        return summary

    def documents(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """Every document behind the alias: id -> (version, source)."""
        return {d.id: (d.version, d.source) for d in self.engine.sink.iter_documents(self.alias)}

    def targets(self) -> list[str]:
        """The indexes the alias points to."""
        return self.engine.sink.alias_targets(self.alias)

    def write_directly(self, *actions: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
        """Bulk-write to the index behind the alias as another indexer would; then refresh.

        Versions are the engine's own (internal) unless an action names one.
        """
        lines = []
        for action, document in actions:
            lines.append(json.dumps(action))
            if document is not None:
                lines.append(json.dumps(document))
        (index,) = self.targets()
        response = self.engine.sink.bulk(index, ("\n".join(lines) + "\n").encode())
        assert not response.get("errors"), response
        self.engine.sink.refresh(index)


@pytest.fixture
def posts(local_archive: str, search_engine: SearchEngine) -> Posts:
    """An empty ``posts`` archive and an unused alias on each search engine."""
    return Posts(local_archive, search_engine)
