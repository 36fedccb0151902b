"""A delete made while no stream was archived stays deleted, on DynamoDB Local end to end.

Poll items a, b, c into the archive and an index; disable the stream, delete a, put d, enable
the stream; poll reports the gap; a snapshot closes it; put e and poll. Every view and the index
must then hold b, c, d, e: the snapshot's REMOVE for a, stamped with the second the scan started,
outranks a's INSERT although DynamoDB Local stamped that INSERT with the snapshot's own minute.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import dynamodb_client, make_store
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.dynamodb_types import image_to_plain_json
from tests.helpers import create_posts_table, load_gap, put_post, scan_items

if TYPE_CHECKING:
    from click.testing import Result

    from scripts.services import Service
    from tests.conftest import SearchEngine

pytestmark = [pytest.mark.dynamodb, pytest.mark.s3, pytest.mark.es]

NEW_AND_OLD = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


class Table:
    """A posts table on DynamoDB Local, its archive, an alias, and the CLI against them."""

    def __init__(self, archive: str, engine: SearchEngine) -> None:
        self.name = f"posts-{uuid.uuid4().hex[:8]}"
        self.ddb = dynamodb_client()
        create_posts_table(self.ddb, self.name)
        self.archive = archive
        self.engine = engine
        self.alias = f"posts-{uuid.uuid4().hex[:8]}"

    def cli(self, *args: str, code: int = 0) -> Result:
        table = [] if args[0] == "sql" else ["--table", self.name]
        result = CliRunner().invoke(cli, [*args, "--archive", self.archive, *table])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def index(self, command: str, code: int = 0) -> Result:
        return self.cli(command, "--es-url", self.engine.url, "--alias", self.alias, code=code)

    def documents(self) -> dict[str, dict[str, object]]:
        documents = self.engine.sink.iter_documents(self.alias, page_size=100)
        return {d.id: d.source for d in documents}

    def items(self) -> dict[str, dict[str, object]]:
        return {
            f"id={key}": json.loads(image_to_plain_json(item))
            for key, item in scan_items(self.ddb, self.name).items()
        }

    def latest(self) -> list[str]:
        query = f"select item_key from latest where table_name = '{self.name}' order by 1"
        output = self.cli("sql", "--output", "csv", query).output
        return [row["item_key"] for row in csv.DictReader(io.StringIO(output))]


def test_a_delete_made_during_a_gap_is_not_brought_back(
    dynamodb_service: Service, s3_archive: str, search_engine: SearchEngine
) -> None:
    table = Table(s3_archive, search_engine)
    for key in "abc":
        put_post(table.ddb, table.name, key, title=key)
    table.cli("poll")
    table.index("rebuild")
    assert set(table.documents()) == {"id=a", "id=b", "id=c"}

    table.ddb.update_table(TableName=table.name, StreamSpecification={"StreamEnabled": False})
    table.ddb.delete_item(TableName=table.name, Key={"id": {"S": "a"}})
    put_post(table.ddb, table.name, "d", title="written while no stream ran")
    table.ddb.update_table(TableName=table.name, StreamSpecification=NEW_AND_OLD)
    gap = table.cli("poll", code=1)
    assert "take a fresh snapshot" in gap.output

    snapshot = table.cli("snapshot", "--segments", "2", "-s")
    assert "1 items the archive held were not in the table" in snapshot.output
    assert load_gap(make_store(parse_archive_uri(s3_archive)), table.name) is None
    put_post(table.ddb, table.name, "e", title="after the snapshot")
    table.cli("poll")

    expected = ["id=b", "id=c", "id=d", "id=e"]
    assert table.latest() == expected
    table.index("sync")
    assert table.documents() == table.items()
    assert sorted(table.documents()) == expected
    table.index("verify")  # exit 0: nothing to repair
    table.index("rebuild")
    assert table.documents() == table.items()
    history = table.cli("history", "a").output.splitlines()
    assert history[-2].split()[2:4] == ["REMOVE", "snapshot"]
