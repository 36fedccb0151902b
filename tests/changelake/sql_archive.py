"""A small archive with known history, for the sql, history and stats tests."""

from __future__ import annotations

from changelake.archiver.batch import archive_records
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from tests.helpers import dynamodb_image, make_record

DAY1 = 1_764_288_000  # 2025-11-28 00:00:00 UTC
DAY2 = DAY1 + 86_400  # 2025-11-29
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def write_sample_archive(archive: str) -> None:
    """Three posts over two days, in two batches (one file per day per batch).

    post#1: INSERT, two MODIFYs in one second, a MODIFY on day 2. post#2: INSERT, TTL REMOVE on
    day 2. post#3: INSERT on day 2.
    """
    p1 = [
        dynamodb_image("post#1", title="a"),
        dynamodb_image("post#1", title="b", views=1),
        dynamodb_image("post#1", title="c", views=1),
        dynamodb_image("post#1", title="d", views=2),
    ]
    p2 = dynamodb_image("post#2", title="x")
    first = [
        make_record(1, key="post#1", event_name="INSERT", at=DAY1, new_image=p1[0]),
        make_record(2, key="post#2", event_name="INSERT", at=DAY1, new_image=p2),
        make_record(3, key="post#1", at=DAY1 + 10, new_image=p1[1], old_image=p1[0]),
        make_record(4, key="post#1", at=DAY1 + 10, new_image=p1[2], old_image=p1[1]),
    ]
    removal = make_record(6, key="post#2", event_name="REMOVE", at=DAY2 + 5, old_image=p2)
    removal["userIdentity"] = TTL
    second = [
        make_record(5, key="post#1", at=DAY2, new_image=p1[3], old_image=p1[2]),
        removal,
        make_record(
            7, key="post#3", event_name="INSERT", at=DAY2 + 20, new_image=dynamodb_image("post#3")
        ),
    ]
    store = make_store(parse_archive_uri(archive))
    archive_records(first, store)
    archive_records(second, store)


def write_tables_sharing_a_key(archive: str, tables: list[str]) -> None:
    """Tables keyed (pk, sk) that all hold pk=a&sk=b, with one change each per table."""
    store = make_store(parse_archive_uri(archive))
    for n, table in enumerate(tables):
        arn = (
            f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-11-01T00:00:00.000"
        )
        records = []
        for m, (pk, sk) in enumerate([("a", "b"), ("a", "c"), ("x", "b")]):
            keys = {"pk": {"S": pk}, "sk": {"S": sk}}
            record = make_record(
                10 * n + m, event_name="INSERT", arn=arn, new_image={**keys, "t": {"S": table}}
            )
            record["dynamodb"]["Keys"] = keys
            records.append(record)
        archive_records(records, store)
