"""Checkpoints round-trip, and a stale writer cannot advance one (local and S3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from changelake.archiver.checkpoints import (
    StreamState,
    load_shard_checkpoint,
    load_stream_state,
    save_shard_checkpoint,
    save_stream_state,
)
from changelake.clients import make_store
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.schemas.exceptions import CheckpointConflictError, PreconditionFailedError

ARN = "arn:aws:dynamodb:us-east-1:1:table/posts/stream/2026-11-01T00:00:00.000"


def test_shard_checkpoints_advance_only_from_the_version_read(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    empty = load_shard_checkpoint(store, "posts", ARN, "shardId-1")
    assert empty.sequence_number is None and empty.etag is None
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    first = save_shard_checkpoint(
        store, replace(empty, sequence_number="000000000000000000005", records=5, updated_at=now)
    )
    loaded = load_shard_checkpoint(store, "posts", ARN, "shardId-1")
    assert loaded == first
    assert loaded.updated_at == now
    assert loaded.key == "_checkpoints/table=posts/stream=2026-11-01T00:00:00.000/shardId-1.json"
    save_shard_checkpoint(store, replace(loaded, sequence_number="000000000000000000009"))
    with pytest.raises(CheckpointConflictError, match="another poller advanced shard shardId-1"):
        save_shard_checkpoint(store, replace(loaded, sequence_number="000000000000000000007"))
    with pytest.raises(CheckpointConflictError):
        save_shard_checkpoint(store, replace(empty, sequence_number="000000000000000000001"))
    final = load_shard_checkpoint(store, "posts", ARN, "shardId-1")
    assert final.sequence_number == "000000000000000000009"


def test_stream_state_round_trips_with_its_etag(archive_uri: str) -> None:
    store = make_store(parse_archive_uri(archive_uri))
    assert load_stream_state(store, "posts") is None
    state = save_stream_state(
        store,
        StreamState(
            table_name="posts",
            stream_arn=ARN,
            covered_until=datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        ),
    )
    assert load_stream_state(store, "posts") == state
    save_stream_state(store, replace(state, snapshot_at=state.covered_until))
    with pytest.raises(PreconditionFailedError):
        save_stream_state(store, replace(state, gap={"reason": "x"}))
