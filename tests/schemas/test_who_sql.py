"""Who made a change: only a REMOVE by DynamoDB's own service identity is a TTL delete."""

from __future__ import annotations

from changelake.archiver.batch import archive_records
from changelake.clients import make_store, open_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.sql_views import WHO_SQL
from tests.helpers import load_event


def test_a_service_identity_insert_is_not_called_a_ttl_delete(local_archive: str) -> None:
    store = make_store(parse_archive_uri(local_archive))
    # Published samples: a Service-identity INSERT (Rust runtime) and a TTL REMOVE (.NET).
    # (Their records share event ids and sequence numbers, so each goes to a table of its own.)
    archive_records(load_event("rust-dynamodb-event.json")["Records"], store, table_name="rust")
    archive_records(load_event("dotnet-dynamodb-event.json")["Records"], store, table_name="net")
    connection = open_archive(parse_archive_uri(local_archive))
    who = connection.execute(
        f"SELECT DISTINCT event_name, user_identity.type, {WHO_SQL} FROM changes ORDER BY ALL"
    ).fetchall()
    assert who == [
        ("INSERT", "Service", "dynamodb.amazonaws.com"),
        ("INSERT", None, "user"),
        ("REMOVE", "Service", "TTL"),
    ]
