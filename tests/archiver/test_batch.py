"""Archiving batches into local and S3 archives, read back through DuckDB."""

from __future__ import annotations

from archiver.batch import archive_records
from changelake.clients import make_store, open_archive
from schemas.archive_layout import parse_archive_uri
from tests.helpers import load_event


def test_posts_event_is_archived_and_read_back(archive_uri: str) -> None:
    location = parse_archive_uri(archive_uri)
    result = archive_records(load_event("lambda-event-posts.json")["Records"], make_store(location))
    assert result.archived == 5
    assert not result.quarantined
    rows = (
        open_archive(location)
        .execute("SELECT event_id, event_name, dt::VARCHAR FROM changes ORDER BY sequence_order")
        .fetchall()
    )
    assert [row[1] for row in rows] == ["INSERT", "MODIFY", "INSERT", "REMOVE", "REMOVE"]
    assert [row[2] for row in rows] == ["2025-11-27"] * 2 + ["2025-11-28"] * 3
