"""Checkpoints: how far each shard is archived, and how far the whole archive is complete.

Each is a small JSON object under ``<archive>/_checkpoints/`` written with a conditional PUT on the
ETag it was read with, so two pollers running at once cannot both advance one shard: the second
writer gets :class:`CheckpointConflictError` and stops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from changelake.schemas.archive_layout import shard_checkpoint_key, stream_state_key
from changelake.schemas.exceptions import CheckpointConflictError, PreconditionFailedError

if TYPE_CHECKING:
    from changelake.archiver.object_store import ObjectStore


@dataclass(frozen=True)
class ShardCheckpoint:
    """The last sequence number of a shard whose record is durably archived."""

    table_name: str
    stream_arn: str
    shard_id: str
    sequence_number: str | None = None
    closed: bool = False
    records: int = 0
    updated_at: datetime | None = None
    # When the last archived record was made (its ApproximateCreationDateTime), and the start of
    # the last run that found the shard caught up: the shard's records before the later of the
    # two are archived (changelake.archiver.stream_poller).
    last_record_at: datetime | None = None
    caught_up_at: datetime | None = None
    etag: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """Where this checkpoint is stored."""
        return shard_checkpoint_key(self.table_name, self.stream_arn, self.shard_id)


@dataclass(frozen=True)
class StreamState:
    """Which stream a table's archive follows, and until when it holds every change.

    ``covered_until``: every change before this time is archived (from the stream, or as of a
    snapshot). ``snapshot_at``: the newest completed snapshot's time. ``gap``: a detected loss.
    """

    table_name: str
    stream_arn: str
    covered_until: datetime
    snapshot_at: datetime | None = None
    gap: dict[str, Any] | None = None
    etag: str | None = field(default=None, compare=False)


def load_shard_checkpoint(
    store: ObjectStore, table_name: str, stream_arn: str, shard_id: str
) -> ShardCheckpoint:
    """The shard's checkpoint with its ETag, or an empty one (no ETag) if it has none yet."""
    empty = ShardCheckpoint(table_name=table_name, stream_arn=stream_arn, shard_id=shard_id)
    try:
        data, etag = store.get_with_etag(empty.key)
    except FileNotFoundError:
        return empty
    fields = orjson.loads(data)
    return ShardCheckpoint(
        **{
            **fields,
            "updated_at": _time(fields.get("updated_at")),
            "last_record_at": _time(fields.get("last_record_at")),
            "caught_up_at": _time(fields.get("caught_up_at")),
            "etag": etag,
        }
    )


def save_shard_checkpoint(store: ObjectStore, checkpoint: ShardCheckpoint) -> ShardCheckpoint:
    """Write the checkpoint only if nobody changed it since it was read; returns the new version."""
    try:
        etag = _put(store, checkpoint.key, _json(checkpoint), checkpoint.etag)
    except PreconditionFailedError:
        raise CheckpointConflictError(
            f"another poller advanced shard {checkpoint.shard_id} of table "
            f"{checkpoint.table_name} while this one was reading it; this run stops (what it "
            "archived is kept, and duplicates are harmless). Run one poller per stream at a time"
        ) from None
    return replace(checkpoint, etag=etag)


def load_stream_state(store: ObjectStore, table_name: str) -> StreamState | None:
    """The table's stream state with its ETag, or None before the first poll or snapshot."""
    try:
        data, etag = store.get_with_etag(stream_state_key(table_name))
    except FileNotFoundError:
        return None
    fields = orjson.loads(data)
    return StreamState(
        **{
            **fields,
            "covered_until": _time(fields["covered_until"]),
            "snapshot_at": _time(fields.get("snapshot_at")),
            "etag": etag,
        }
    )


def save_stream_state(store: ObjectStore, state: StreamState) -> StreamState:
    """Write the stream state if nobody changed it since it was read; returns it with its ETag.

    Raises :class:`PreconditionFailedError` when another run wrote it first.
    """
    etag = _put(store, stream_state_key(state.table_name), _json(state), state.etag)
    return replace(state, etag=etag)


def _put(store: ObjectStore, key: str, data: bytes, etag: str | None) -> str:
    if etag is None:
        return store.put_if_absent(key, data)
    return store.put_if_match(key, data, etag)


def _json(value: ShardCheckpoint | StreamState) -> bytes:
    fields = asdict(value)
    fields.pop("etag")
    return orjson.dumps(fields, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def record_snapshot(
    store: ObjectStore,
    table_name: str,
    stream_arn: str | None,
    snapshot_at: datetime,
    *,
    taken_at: datetime | None = None,
) -> StreamState | None:
    """After a complete snapshot: the archive holds every item as of ``snapshot_at``.

    The table's current stream becomes the one to follow and any recorded gap is closed, since
    the snapshot holds the effect of every change the gap lost, unless it was taken (``taken_at``,
    by default ``snapshot_at``) before the gap's end: an export from before then lacks the changes
    lost in it, and the returned state still holds the gap. Without a stream there is no state.
    """
    taken_at = taken_at or snapshot_at
    for _ in range(5):
        state = load_stream_state(store, table_name)
        if state is not None and state.gap is not None:
            lost_until = _time(state.gap.get("lost_until"))
            if lost_until is not None and taken_at < lost_until:
                return state
        if stream_arn is None:
            if state is None or state.gap is None:
                return state
            stream_arn = state.stream_arn
        if state is None:
            new = StreamState(
                table_name=table_name,
                stream_arn=stream_arn,
                covered_until=snapshot_at,
                snapshot_at=snapshot_at,
            )
        else:
            same_stream = state.stream_arn == stream_arn and state.gap is None
            new = replace(
                state,
                stream_arn=stream_arn,
                covered_until=max(state.covered_until, snapshot_at) if same_stream else snapshot_at,
                snapshot_at=max(state.snapshot_at or snapshot_at, snapshot_at),
                gap=None,
            )
        try:
            return save_stream_state(store, new)
        except PreconditionFailedError:
            continue  # a poll moved the state meanwhile: read it again and merge
    raise PreconditionFailedError(
        f"the stream state of table {table_name} kept changing while the snapshot was recorded; "
        "run the snapshot command again (finished segments are skipped)"
    )
