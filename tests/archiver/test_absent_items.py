"""A complete snapshot's REMOVE rows for the items it did not find, on a local archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.archiver.absent_items import archive_absent_items
from changelake.archiver.batch import archive_records, archive_snapshot_items
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import history_sql, latest_sql
from tests.helpers import make_record

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore

MINUTE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
AT = int(MINUTE.timestamp())
TAKEN = MINUTE + timedelta(seconds=40, microseconds=250_000)  # the scan started 40 s in


class Archive:
    """A local archive of the posts table and the snapshot calls made on it."""

    def __init__(self, uri: str) -> None:
        self.location = parse_archive_uri(uri)
        self.store: ObjectStore = make_store(self.location)

    def records(self, *records: dict[str, Any], archived_at: datetime) -> None:
        archive_records(list(records), self.store, archived_at=archived_at)

    def snapshot(self, keys: list[str], snapshot_at: datetime = MINUTE) -> Any:
        """Snapshot "s1" finding these items; then its REMOVE rows."""
        items = [{"id": {"S": key}, "title": {"S": "scanned"}} for key in keys]
        archive_snapshot_items(
            items, self.store, table_name="posts", key_names=["id"], snapshot_id="s1",
            snapshot_at=snapshot_at, archived_at=TAKEN + timedelta(seconds=5),
        )  # fmt: skip
        return archive_absent_items(
            open_archive(self.location, "posts"), self.store, table_name="posts",
            snapshot_id="s1", snapshot_at=snapshot_at, taken_at=TAKEN,
            archived_at=TAKEN + timedelta(seconds=6),
        )  # fmt: skip

    def latest(self) -> dict[str, str]:
        connection = open_archive(self.location, "posts")
        return dict(
            connection.execute(f"SELECT item_key, event_name FROM ({latest_sql()})").fetchall()
        )


def test_an_item_deleted_unseen_gets_a_remove_the_others_none(local_archive: str) -> None:
    archive = Archive(local_archive)
    earlier = MINUTE - timedelta(minutes=5)
    archive.records(
        make_record(1, key="a", event_name="INSERT", at=AT - 300, title="a"),
        make_record(2, key="b", event_name="INSERT", at=AT - 300, title="b"),
        make_record(3, key="gone", event_name="INSERT", at=AT - 300, title="gone"),
        make_record(4, key="gone", event_name="REMOVE", at=AT - 200),
        archived_at=earlier,
    )
    absent = archive.snapshot(["b"])
    assert absent.archived == 1
    assert archive.latest() == {"id=b": "SNAPSHOT"}
    row = open_archive(archive.location, "posts").execute(
        "SELECT event_id, event_name, approximate_creation_time, keys FROM changes "
        "WHERE item_key = 'id=a' AND event_name = 'REMOVE'"
    )
    assert row.fetchall() == [
        ("snapshot:s1:id=a", "REMOVE", MINUTE + timedelta(seconds=40), '{"id":"a"}')
    ]
    # Run again (a resumed snapshot): "a" is already removed, nothing more is written.
    assert archive.snapshot(["b"]).archived == 0


def test_a_record_stamped_in_the_snapshot_minute_before_the_scan_is_outranked(
    local_archive: str,
) -> None:
    # DynamoDB Local stamps stream records to the minute: "a" was written at 9:00:05, before the
    # scan began at 9:00:40, and archived then; its record says 9:00:00, the snapshot's own time.
    archive = Archive(local_archive)
    archive.records(
        make_record(1, key="a", event_name="INSERT", at=AT, title="a"),
        archived_at=MINUTE + timedelta(seconds=6),
    )
    archive.snapshot([])
    assert archive.latest() == {}


def test_a_record_the_scan_may_have_missed_is_left_to_the_stream(local_archive: str) -> None:
    # Created during the scan (archived after it began) and stamped with the snapshot's minute:
    # the scan may have passed its place before it existed, so it is not taken as deleted.
    archive = Archive(local_archive)
    archive.records(
        make_record(1, key="new", event_name="INSERT", at=AT, title="new"),
        archived_at=TAKEN + timedelta(seconds=2),
    )
    assert archive.snapshot([]).archived == 0
    assert archive.latest() == {"id=new": "INSERT"}


def test_a_stream_record_after_the_absence_wins(local_archive: str) -> None:
    archive = Archive(local_archive)
    archive.records(
        make_record(1, key="a", event_name="INSERT", at=AT - 300, title="a"),
        archived_at=MINUTE - timedelta(minutes=5),
    )
    archive.snapshot([])
    # Created again in the second the scan started, after the scan passed its place.
    archive.records(
        make_record(2, key="a", event_name="INSERT", at=AT + 40, title="again"),
        archived_at=TAKEN + timedelta(seconds=30),
    )
    assert archive.latest() == {"id=a": "INSERT"}
    connection = open_archive(archive.location, "posts")
    events = connection.execute(f"SELECT event_name, who FROM ({history_sql()})").fetchall()
    assert events == [("INSERT", "user"), ("REMOVE", "snapshot"), ("INSERT", "user")]
