"""Archiving batches into local and S3 archives, read back through DuckDB."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pyarrow.parquet as pq
import pytest

from changelake.archiver.batch import archive_records
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.change_record import COLUMN_NAMES, RECORD_COLUMN_NAMES, SCHEMA_VERSION
from changelake.schemas.exceptions import ArchiveLocationError
from changelake.schemas.type_census import image_shape_bytes
from tests.helpers import load_event, make_record
from tests.schemas.strategies import expected_plain

ARCHIVED_AT = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
POSTS_TABLE = "Posts-prod.v2"


def _numbers_as_text(text: str | None) -> Any:
    return None if text is None else json.loads(text, parse_int=str, parse_float=str)


def _plain(image: dict[str, Any] | None) -> Any:
    return None if image is None else {name: expected_plain(v) for name, v in image.items()}


def expected_row(record: dict[str, Any], table_name: str) -> dict[str, Any]:
    """What the archive must hold for one Lambda record, derived from the record itself."""
    block = record["dynamodb"]
    identity = record.get("userIdentity")
    created = datetime.fromtimestamp(block["ApproximateCreationDateTime"], UTC)
    return {
        "schema_version": SCHEMA_VERSION,
        "table_name": table_name,
        "event_id": record["eventID"],
        "event_name": record["eventName"],
        "keys": _plain(block["Keys"]),
        "keys_ddb": block["Keys"],
        "sequence_number": block["SequenceNumber"],
        "sequence_order": block["SequenceNumber"].zfill(40),
        "approximate_creation_time": created,
        "user_identity": identity
        and {"type": identity["type"], "principal_id": identity["principalId"]},
        "stream_arn": record["eventSourceARN"],
        "stream_view_type": block["StreamViewType"],
        "aws_region": record["awsRegion"],
        "shard_id": None,
        "size_bytes": block["SizeBytes"],
        "new_image": _plain(block.get("NewImage")),
        "old_image": _plain(block.get("OldImage")),
        "new_image_ddb": block.get("NewImage"),
        "old_image_ddb": block.get("OldImage"),
        "archived_at": ARCHIVED_AT,
        "dt": created.date(),
    }


def read_changes(archive_uri: str, table_name: str | None = None) -> list[dict[str, Any]]:
    """Every row of the ``changes`` view, JSON columns parsed (numbers kept as text)."""
    connection = open_archive(parse_archive_uri(archive_uri), table_name)
    cursor = connection.execute("SELECT * FROM changes ORDER BY sequence_order, event_id")
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    for row in rows:
        for name in (
            "keys",
            "new_image",
            "old_image",
            "keys_ddb",
            "new_image_ddb",
            "old_image_ddb",
        ):
            row[name] = (
                _numbers_as_text(row[name])
                if "ddb" not in name
                else (row[name] and json.loads(row[name]))
            )
    return rows


@pytest.mark.parametrize(
    ("event_name", "table_name", "item_keys"),
    [
        (
            "lambda-event-posts.json",
            POSTS_TABLE,
            ["postId=post#0001&seriesId=series-7", "postId=post#0002&seriesId=series-7"],
        ),
        (
            "lambda-event-barktable.json",
            "BarkTable",
            ["Timestamp=2016-11-18:12:09:36&Username=John Doe"],
        ),
    ],
)
def test_sample_events_are_archived_and_read_back_exactly(
    archive_uri: str, event_name: str, table_name: str, item_keys: list[str]
) -> None:
    records = load_event(event_name)["Records"]
    result = archive_records(
        records, make_store(parse_archive_uri(archive_uri)), archived_at=ARCHIVED_AT
    )
    assert (result.records, result.archived, result.quarantined) == (len(records), len(records), [])
    rows = read_changes(archive_uri)
    assert sorted({row["item_key"] for row in rows}) == item_keys
    assert set(rows[0]) == {*RECORD_COLUMN_NAMES, "dt", "source_file", "source_row"}
    assert len({(row["source_file"], row["source_row"]) for row in rows}) == len(rows)
    for row, record in zip(rows, records, strict=True):
        row.pop("item_key")
        row.pop("source_file")
        row.pop("source_row")
        assert row == expected_row(record, table_name)


def test_posts_event_keeps_exact_numbers_ttl_identity_and_midnight_partition(
    archive_uri: str,
) -> None:
    records = load_event("lambda-event-posts.json")["Records"]
    archive_records(records, make_store(parse_archive_uri(archive_uri)), archived_at=ARCHIVED_AT)
    connection = open_archive(parse_archive_uri(archive_uri), POSTS_TABLE)
    (new_image,) = connection.execute(
        "SELECT new_image FROM changes WHERE sequence_number = '400000000000000000001'"
    ).fetchone()
    # The JSON text holds the digits as received (DuckDB's JSON functions read them as DOUBLE).
    assert '"score":12345678901234567890.123456789012345678,' in new_image
    assert '"ratio":-1.5E-10,' in new_image
    assert '"ranks":[1,2.5,100000000000000000000000000000000000000]' in new_image
    removes = connection.execute(
        "SELECT event_id, user_identity FROM changes WHERE event_name = 'REMOVE' ORDER BY event_id"
    ).fetchall()
    assert removes == [
        (
            "a1000000000000000000000000000004",
            {"type": "Service", "principal_id": "dynamodb.amazonaws.com"},
        ),
        ("a1000000000000000000000000000005", None),
    ]
    by_day = connection.execute(
        "SELECT dt, list(sequence_number ORDER BY sequence_number) "
        "FROM changes GROUP BY dt ORDER BY dt"
    ).fetchall()
    assert by_day == [
        (date(2025, 11, 27), ["400000000000000000001", "400000000000000000002"]),
        (
            date(2025, 11, 28),
            ["400000000000000000003", "400000000000000000004", "400000000000000000005"],
        ),
    ]
    midnight = connection.execute(
        "SELECT approximate_creation_time, dt FROM changes "
        "WHERE sequence_number = '400000000000000000003'"
    ).fetchone()
    assert midnight == (datetime(2025, 11, 28, tzinfo=UTC), date(2025, 11, 28))


def test_same_batch_twice_leaves_the_same_objects_and_no_duplicate_rows(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    records = load_event("lambda-event-posts.json")["Records"]
    first = archive_records(records, store)
    keys = list(store.list_keys(""))
    second = archive_records(records, store)
    assert second.files == first.files
    assert list(store.list_keys("")) == keys
    assert len(keys) == 2
    assert all(key.startswith(f"table={POSTS_TABLE}/dt=2025-11-2") for key in keys)
    rows = read_changes(archive_uri)
    assert len(rows) == len({row["event_id"] for row in rows}) == 5


def test_file_names_are_deterministic_from_content(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    result = archive_records([make_record(7), make_record(8)], store)
    (key,) = result.files
    assert key.startswith("table=posts/dt=2025-11-28/" + "7".zfill(40) + "-")
    other = archive_records([make_record(7), make_record(9)], store)
    assert other.files[0] != key


def test_files_are_zstd_parquet_in_the_change_record_schema(local_archive: str) -> None:
    location = parse_archive_uri(local_archive)
    result = archive_records(load_event("lambda-event-posts.json")["Records"], make_store(location))
    metadata = pq.ParquetFile(location.url(result.files[0])).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(location.url(result.files[0])).names == list(COLUMN_NAMES)


def test_each_new_image_is_archived_with_its_shape(local_archive: str) -> None:
    location = parse_archive_uri(local_archive)
    records = load_event("lambda-event-posts.json")["Records"]
    result = archive_records(records, make_store(location))
    shapes = {}
    for key in result.files:
        table = pq.read_table(location.url(key), columns=["event_id", "new_image_shape"])
        shapes.update(zip(*table.to_pydict().values(), strict=True))
    for record in records:
        image = record["dynamodb"].get("NewImage")
        expected = None if image is None else image_shape_bytes(image).decode()
        assert shapes[record["eventID"]] == expected
    assert any(shape is None for shape in shapes.values())


def test_poison_record_is_quarantined_and_the_rest_archived(archive_uri: str) -> None:
    location = parse_archive_uri(archive_uri)
    store = make_store(location)
    poison = make_record(2, new_image={"id": {"S": "post#1"}, "tags": {"SSX": ["a"]}})
    result = archive_records([make_record(1), poison, make_record(3)], store)
    assert result.archived == 2
    (quarantined,) = result.quarantined
    assert quarantined.event_id == "event-2"
    assert quarantined.sequence_number == "2".zfill(21)
    assert quarantined.key.startswith("_quarantine/table=posts/dt=2025-11-28/event-2-")
    assert "unknown DynamoDB type tag 'SSX'" in quarantined.error
    assert "attribute 'tags' of NewImage" in quarantined.error
    assert location.url(quarantined.key) in quarantined.error
    kept = json.loads(store.get_bytes(quarantined.key))
    assert kept["record"] == poison
    assert "record event-2: attribute 'tags'" in kept["error"]
    assert [row["event_id"] for row in read_changes(archive_uri)] == ["event-1", "event-3"]


@pytest.mark.parametrize(
    "event_id", ["../../escape", "a/b", "", None, "x" * 300, ".hidden", "id with spaces"]
)
def test_quarantine_names_are_safe_path_components(local_archive: str, event_id: Any) -> None:
    store = make_store(parse_archive_uri(local_archive))
    poison = make_record(1, new_image={"id": {"N": "not a number"}})
    poison["eventID"] = event_id
    result = archive_records([poison], store)
    (quarantined,) = result.quarantined
    name = quarantined.key.rsplit("/", 1)[1]
    assert quarantined.key.startswith("_quarantine/table=posts/dt=")
    assert name.endswith(".json") and "/" not in name and not name.startswith(".")
    assert list(store.list_keys("")) == [quarantined.key]
    assert json.loads(store.get_bytes(quarantined.key))["record"] == poison
    again = archive_records([poison], store)
    assert again.quarantined[0].key == quarantined.key


def test_a_record_that_is_not_an_object_is_quarantined(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    result = archive_records([make_record(1), "garbage"], store)  # type: ignore[list-item]
    assert result.archived == 1
    (quarantined,) = result.quarantined
    assert quarantined.key.startswith("_quarantine/table=_unknown/")
    assert json.loads(store.get_bytes(quarantined.key))["record"] == "garbage"


def test_table_override_names_every_file(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    result = archive_records([make_record(1)], store, table_name="renamed")
    assert result.files[0].startswith("table=renamed/")
    with pytest.raises(ArchiveLocationError, match="is not a DynamoDB table name"):
        archive_records([make_record(1)], store, table_name="a/b")


def test_large_batches_are_cut_into_files_of_bounded_size(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    records = [make_record(n, body="x" * 1000) for n in range(1, 101)]
    result = archive_records(records, store, max_file_bytes=20_000)
    assert result.archived == 100
    assert len(result.files) > 5
    assert archive_records(records, store, max_file_bytes=20_000).files == result.files
    assert len(read_changes(local_archive)) == 100
