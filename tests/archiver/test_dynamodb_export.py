"""Importing a DynamoDB export written in the documented format into the real S3 server."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from changelake.cli import cli
from changelake.clients import dynamodb_client, make_store, open_archive, s3_client
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.dynamodb_types import image_to_ddb_json, image_to_plain_json
from changelake.schemas.sql_views import latest_sql
from tests.helpers import load_gap, make_posts_table, put_post, scan_items

if TYPE_CHECKING:
    from scripts.services import Service

pytestmark = [pytest.mark.s3, pytest.mark.dynamodb]


def write_export(
    bucket: str, prefix: str, table_arn: str, items: list[dict[str, Any]], export_time: datetime
) -> str:
    """An export folder as DynamoDB writes it: two data files, manifests, _started."""
    export_id = f"01764288000000-{uuid.uuid4().hex[:8]}"
    folder = f"{prefix}/AWSDynamoDB/{export_id}"
    s3 = s3_client()
    manifest_lines = []
    for number, chunk in enumerate((items[: len(items) // 2], items[len(items) // 2 :])):
        lines = b"".join(b'{"Item":' + image_to_ddb_json(item).encode() + b"}\n" for item in chunk)
        body = gzip.compress(lines)
        key = f"{folder}/data/file{number}-{uuid.uuid4().hex[:6]}.json.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        manifest_lines.append(
            {"itemCount": len(chunk), "md5Checksum": md5, "etag": "x", "dataFileS3Key": key}
        )
    summary = {
        "version": "2020-06-30",
        "exportArn": f"{table_arn}/export/{export_id}",
        "startTime": export_time.isoformat().replace("+00:00", "Z"),
        "endTime": (export_time + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "tableArn": table_arn,
        "tableId": str(uuid.uuid4()),
        "exportTime": export_time.isoformat().replace("+00:00", "Z"),
        "s3Bucket": bucket,
        "s3Prefix": prefix,
        "s3SseAlgorithm": "AES256",
        "manifestFilesS3Key": f"{folder}/manifest-files.json",
        "billedSizeBytes": 0,
        "itemCount": len(items),
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    }
    files = "".join(json.dumps(line) + "\n" for line in manifest_lines)
    s3.put_object(Bucket=bucket, Key=f"{folder}/manifest-files.json", Body=files.encode())
    s3.put_object(Bucket=bucket, Key=f"{folder}/manifest-summary.json", Body=json.dumps(summary))
    s3.put_object(Bucket=bucket, Key=f"{folder}/_started", Body=b"")
    return f"s3://{bucket}/{folder}/"


def test_an_export_becomes_snapshot_rows_and_later_stream_records_win(
    s3_service: Service, dynamodb_service: Service, s3_archive: str
) -> None:
    ddb = dynamodb_client()
    name, _ = make_posts_table(ddb)
    for n in range(10):
        put_post(ddb, name, f"p{n}", title=f"post {n}", blob=bytes([n, 255]))
    items = list(scan_items(ddb, name).values())
    bucket = s3_service.env["CHANGELAKE_TEST_BUCKET"]
    export = write_export(
        bucket,
        f"exports-{uuid.uuid4().hex[:6]}",
        f"arn:aws:dynamodb:ddblocal:000000000000:table/{name}",
        items,
        datetime.now(UTC) - timedelta(minutes=2),
    )
    runner = CliRunner()
    result = runner.invoke(
        cli, ["import-export", "--export", export, "--archive", s3_archive, "-s"]
    )
    assert result.exit_code == 0, result.output
    assert f"of {name}: 10 items as of" in result.output
    location = parse_archive_uri(s3_archive)
    rows = (
        open_archive(location, name)
        .execute(f"SELECT item_key, event_name, new_image FROM ({latest_sql()})")
        .fetchall()
    )
    assert {event for _, event, _ in rows} == {"SNAPSHOT"}
    expected = {f"id={item['id']['S']}": json.loads(image_to_plain_json(item)) for item in items}
    assert {key: json.loads(image) for key, _, image in rows} == expected
    again = runner.invoke(cli, ["import-export", "--export", export, "--archive", s3_archive, "-s"])
    assert again.exit_code == 0
    total, distinct = (
        open_archive(location, name)
        .execute("SELECT count(*), count(DISTINCT event_id) FROM changes")
        .fetchone()
    )
    assert total == distinct == 10  # same files overwritten, no duplicates
    put_post(ddb, name, "p1", title="edited after the export")
    polled = runner.invoke(cli, ["poll", "--table", name, "--archive", s3_archive])
    assert polled.exit_code == 0, polled.output
    latest = dict(
        open_archive(location, name)
        .execute(f"SELECT item_key, event_name FROM ({latest_sql()})")
        .fetchall()
    )
    # Every stream record is newer than the export: the setup's INSERTs and the edit win.
    assert latest["id=p1"] == "MODIFY"
    assert latest["id=p2"] == "INSERT"


def test_a_damaged_export_fails_with_what_to_do(
    s3_service: Service, dynamodb_service: Service, s3_archive: str
) -> None:
    name, _ = make_posts_table(dynamodb_client())
    bucket = s3_service.env["CHANGELAKE_TEST_BUCKET"]
    export = write_export(
        bucket,
        f"exports-{uuid.uuid4().hex[:6]}",
        f"arn:aws:dynamodb:ddblocal:000000000000:table/{name}",
        [{"id": {"S": "a"}}, {"id": {"S": "b"}}],
        datetime.now(UTC),
    )
    location = parse_archive_uri(export)
    data_key = next(
        item["Key"]
        for item in s3_client().list_objects_v2(Bucket=bucket, Prefix=f"{location.prefix}/data/")[
            "Contents"
        ]
    )
    s3_client().put_object(Bucket=bucket, Key=data_key, Body=gzip.compress(b'{"Item": {}}\n'))
    result = CliRunner().invoke(cli, ["import-export", "--export", export, "--archive", s3_archive])
    assert result.exit_code == 1
    assert "but the manifest says" in result.output and "export again" in result.output
    missing = CliRunner().invoke(
        cli, ["import-export", "--export", f"s3://{bucket}/nowhere/", "--archive", s3_archive]
    )
    assert missing.exit_code == 1
    assert "no manifest-summary.json" in missing.output


def test_an_export_from_before_a_gap_leaves_it_open_a_newer_one_closes_it(
    s3_service: Service, dynamodb_service: Service, s3_archive: str
) -> None:
    ddb = dynamodb_client()
    name, _ = make_posts_table(ddb)
    for key in "abc":
        put_post(ddb, name, key, title=key)
    runner = CliRunner()
    args = ["--table", name, "--archive", s3_archive]
    assert runner.invoke(cli, ["poll", *args]).exit_code == 0
    bucket = s3_service.env["CHANGELAKE_TEST_BUCKET"]
    table_arn = f"arn:aws:dynamodb:ddblocal:000000000000:table/{name}"
    before_gap = write_export(
        bucket, f"exports-{uuid.uuid4().hex[:6]}", table_arn,
        list(scan_items(ddb, name).values()), datetime.now(UTC),
    )  # fmt: skip
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    ddb.delete_item(TableName=name, Key={"id": {"S": "a"}})
    put_post(ddb, name, "d", title="written while no stream ran")
    ddb.update_table(
        TableName=name,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    assert runner.invoke(cli, ["poll", *args]).exit_code == 1
    store = make_store(parse_archive_uri(s3_archive))
    assert load_gap(store, name) is not None

    old = runner.invoke(cli, ["import-export", "--export", before_gap, "--archive", s3_archive])
    assert old.exit_code == 1
    assert "before the end of the gap" in old.output and "take a snapshot" in old.output
    assert load_gap(store, name) is not None

    after_gap = write_export(
        bucket, f"exports-{uuid.uuid4().hex[:6]}", table_arn,
        list(scan_items(ddb, name).values()), datetime.now(UTC),
    )  # fmt: skip
    new = runner.invoke(cli, ["import-export", "--export", after_gap, "--archive", s3_archive])
    assert new.exit_code == 0, new.output
    assert "1 items the archive held were not in the export" in new.output
    assert load_gap(store, name) is None
    latest = open_archive(parse_archive_uri(s3_archive), name).execute(
        f"SELECT item_key FROM ({latest_sql()}) ORDER BY 1"
    )
    assert latest.fetchall() == [("id=b",), ("id=c",), ("id=d",)]
