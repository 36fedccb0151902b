"""The Python API: what the commands do, as functions that return typed results.

``import changelake`` exposes these names; each command of the CLI parses its flags, calls one of
them and prints the result. See docs/python-api.md.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from changelake.archive_tables import require_archive
from changelake.archiver.locks import DEFAULT_LEASE, held_lock
from changelake.clients import make_search_sink, make_store, open_read_only_archive
from changelake.config import lease_duration
from changelake.rebuild.bulk import DEFAULT_IN_FLIGHT, DEFAULT_MAX_BYTES
from changelake.rebuild.document_ids import CANONICAL_ID
from changelake.rebuild.replay import ReplayOptions
from changelake.rebuild.watermark import DEFAULT_OVERLAP
from changelake.schemas.archive_layout import DEFAULT_ARCHIVE, lock_key, parse_archive_uri
from changelake.schemas.exceptions import MissingSettingError
from changelake.schemas.sql_views import archive_views_sql, quote_literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from duckdb import DuckDBPyConnection, DuckDBPyRelation

    from changelake.archiver.batch import BatchResult
    from changelake.archiver.locks import Lease
    from changelake.ask.archive_stats import PartitionStats
    from changelake.ask.item_keys import KeyQuery
    from changelake.ask.timeline import TimelineEntry
    from changelake.rebuild.mapping_plan import MappingPlan
    from changelake.rebuild.rebuild_index import RebuildSummary
    from changelake.rebuild.recipe import Recipe, RecipeFlags
    from changelake.rebuild.replay import OnProgress
    from changelake.rebuild.search_sink import SearchSink
    from changelake.rebuild.sync import SyncSummary
    from changelake.rebuild.verify import DriftReport
    from changelake.schemas.archive_layout import ArchiveLocation
    from changelake.search_options import SearchOptions
    from changelake.unreadable_files import UnreadableFile

    Warn = Callable[[str], None]
    Transform = Callable[[dict[str, Any]], dict[str, Any] | None]

logger = logging.getLogger("changelake")


def log_warning(message: str) -> None:
    """Where warnings go unless a caller says otherwise: the ``changelake`` logger."""
    logger.warning(message)


def _no_progress(_count: int) -> None:
    pass


# --- Reading the archive ------------------------------------------------------------------------


@dataclass
class Archive:
    """An archive opened with DuckDB: its views as relations, one item's history, its stats.

    ``connection`` is the DuckDB connection (views ``changes``, ``change_rows``, ``latest``,
    macros ``history`` and ``as_of``); relations it returns read the archive when they run.
    """

    location: ArchiveLocation
    connection: DuckDBPyConnection
    tables: list[str]
    table: str | None = None
    skipped_files: list[UnreadableFile] = field(default_factory=list)
    read_only: bool = False

    @property
    def uri(self) -> str:
        """The archive's URI, as given."""
        return self.location.uri

    def changes(self, table: str | None = None) -> DuckDBPyRelation:
        """Every change record, once (a DuckDB relation); filter on ``dt`` to prune days."""
        return self.connection.sql(f"SELECT * FROM changes{self._where(table)}")

    def latest(self, table: str | None = None) -> DuckDBPyRelation:
        """The latest live image of every item: what a rebuild indexes."""
        return self.connection.sql(f"SELECT * FROM latest{self._where(table)}")

    def as_of(self, moment: datetime, table: str | None = None) -> DuckDBPyRelation:
        """Every item as it was at ``moment`` (removed items absent); naive means UTC."""
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        instant = quote_literal(moment.isoformat())
        return self.connection.sql(f"SELECT * FROM as_of({instant}){self._where(table)}")

    def sql(self, query: str) -> DuckDBPyRelation | None:
        """One SQL statement over the views: a relation, or None when it returns no rows.

        An archive opened ``read_only`` refuses statements that write (``ReadOnlyError``).
        """
        from changelake.ask.read_only import split_statements

        if self.read_only:
            split_statements(self.connection, query)
        return self.connection.sql(query)

    def history(self, table: str, key: str | Mapping[str, str] | KeyQuery) -> ItemHistory:
        """Every change of one item, oldest first, each with the diff it made.

        ``key`` is the key as ``changelake history`` takes it (``postId=post#0001``, its
        attributes in any order, or one bare value), or a mapping of key attributes; part of a
        key names the one item it matches. Raises ``QueryError`` listing the matches when
        several do, or example keys when none does.
        """
        from changelake.ask.item_keys import KeyQuery, resolve_item_key, text_to_key_query
        from changelake.ask.timeline import load_timeline

        if isinstance(key, str):
            query = text_to_key_query(key)
        else:
            query = key if isinstance(key, KeyQuery) else KeyQuery(dict(key))
        self._require_table(table)
        with self._naming_unreadable_files(table):
            item_key = resolve_item_key(self.connection, table, query)
            entries = load_timeline(self.connection, table, item_key)
        return ItemHistory(table, item_key, entries)

    def stats(
        self, table: str | None = None, small_file_size: int | None = None
    ) -> list[PartitionStats]:
        """Per table and UTC day: records by event, duplicates, files, bytes, oldest, newest."""
        from changelake.ask.archive_stats import DEFAULT_SMALL_FILE_SIZE, load_partition_stats
        from changelake.schemas.archive_layout import parquet_glob

        table = table or self.table
        self._require_table(table)
        glob = parquet_glob(self.location, table)
        with self._naming_unreadable_files(table, can_skip=False):
            report = load_partition_stats(
                self.connection, glob, small_file_size or DEFAULT_SMALL_FILE_SIZE
            )
        return [row for row in report if table is None or row.table_name == table]

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.connection.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _where(self, table: str | None) -> str:
        if table is None:
            return ""
        self._require_table(table)
        return f" WHERE table_name = {quote_literal(table)}"

    def _require_table(self, table: str | None) -> None:
        from changelake.archive_tables import unknown_table_message
        from changelake.schemas.exceptions import ArchiveNotFoundError

        if table is not None and table not in self.tables:
            raise ArchiveNotFoundError(unknown_table_message(table, self.tables, self.uri))

    def _naming_unreadable_files(self, table: str | None, *, can_skip: bool = True) -> Any:
        from changelake.unreadable_files import list_archive_files, naming_unreadable_files

        return naming_unreadable_files(
            self.connection,
            lambda: list_archive_files(self.connection, self.location, table),
            can_skip=can_skip,
        )


@dataclass(frozen=True)
class ItemHistory:
    """One item's timeline: its table, its canonical key and its changes, oldest first."""

    table: str
    item_key: str
    changes: list[TimelineEntry]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (what ``changelake history --output json`` prints)."""
        return {
            "table": self.table,
            "item_key": self.item_key,
            "changes": [entry.to_dict() for entry in self.changes],
        }


def open_archive(
    uri: str = DEFAULT_ARCHIVE,
    *,
    table: str | None = None,
    skip_corrupt: bool = False,
    memory_limit: int | None = None,
    read_only: bool = False,
) -> Archive:
    """Open the archive at ``uri`` (``s3://bucket/prefix`` or a directory) with DuckDB.

    ``table`` narrows the views to one table. A missing archive or table raises
    ``ArchiveNotFoundError`` naming what is there. ``skip_corrupt`` reads around Parquet files
    that cannot be read (listed in ``skipped_files``); otherwise a query that meets one raises
    ``CorruptArchiveError`` naming it. ``read_only`` locks the connection as ``changelake sql``
    does: no file outside the archive, no extension, no statement that writes.
    """
    from changelake.unreadable_files import open_readable_archive

    location = parse_archive_uri(uri)
    tables = require_archive(location, table)
    opener = (lambda files: open_read_only_archive(location, files=files)) if read_only else None
    connection, skipped = open_readable_archive(
        location, table, skip_corrupt=skip_corrupt, opener=opener, memory_limit=memory_limit
    )
    if not read_only:
        for statement in archive_views_sql():
            connection.execute(statement)
    shown = tables if table is None else [table]
    return Archive(location, connection, shown, table, skipped, read_only)


# --- Writing to the archive ---------------------------------------------------------------------


def archive_records(
    records: Iterable[Mapping[str, Any]],
    archive: str = DEFAULT_ARCHIVE,
    *,
    table: str | None = None,
) -> BatchResult:
    """Append stream records (DynamoDB Streams or Kinesis, as delivered) to the archive.

    Records that cannot be decoded are kept under ``_quarantine/`` and listed in the result's
    ``quarantined``; ``failed`` holds the record whose quarantine write failed (the batch stopped
    there). ``table`` files every record under that table instead of its ARN's.
    """
    from changelake.archiver.batch import archive_records as archive_batch

    return archive_batch(records, make_store(parse_archive_uri(archive)), table_name=table)


def archive_event(
    event: Any, archive: str = DEFAULT_ARCHIVE, *, table: str | None = None
) -> BatchResult:
    """Archive a Lambda event (``{"Records": [...]}``), a Pipes batch or a quarantine document."""
    from changelake.archiver.stream_events import event_to_records

    return archive_records(event_to_records(event), archive, table=table)


# --- Rebuild, sync, verify ----------------------------------------------------------------------


class RecipeChoices(TypedDict, total=False):
    """What sync and verify follow: the index's recipe, which any of these given must match.

    ``archive`` and ``table`` (needed for an index changelake did not build), ``transform``
    (``MODULE:FUNCTION``), ``id_rule``, ``ttl_deletes``; ``accept_transform_change`` goes on
    although the transform's code changed since the rebuild.
    """

    archive: str | None
    table: str | None
    transform: str | None
    id_rule: str | None
    ttl_deletes: str | None
    accept_transform_change: bool


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did (or, dry, would do), and the mapping it created the index with."""

    summary: RebuildSummary
    mapping: MappingPlan
    skipped_files: list[UnreadableFile] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """The rebuild's warnings, and the mapping's notes once an index was made with it."""
        notes = [] if self.summary.dry_run else [note.to_text() for note in self.mapping.notes]
        return [*self.summary.warnings, *notes]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (what ``changelake rebuild --output json`` prints)."""
        return {**self.summary.to_dict(), "mapping": self.mapping.to_dict()}


def rebuild_index(
    archive: str,
    table: str,
    es_url: str,
    alias: str,
    *,
    search: SearchOptions | None = None,
    as_of: datetime | None = None,
    transform: str | None = None,
    mapping: str | None = None,
    id_rule: str = CANONICAL_ID,
    ttl_deletes: str = "delete",
    dry_run: bool = False,
    keep: int = 1,
    max_errors: int = 0,
    bulk_bytes: int = DEFAULT_MAX_BYTES,
    bulk_in_flight: int = DEFAULT_IN_FLIGHT,
    skip_corrupt: bool = False,
    memory_limit: int | None = None,
    runner: str = "duckdb",
    spark_master: str | None = None,
    on_start: Callable[[int], None] = _no_progress,
    on_progress: OnProgress = _no_progress,
    on_warning: Warn = log_warning,
) -> RebuildResult:
    """Replay ``table``'s change log into a fresh index and move ``alias`` to it atomically.

    The parameters are ``changelake rebuild``'s flags. The index is mapped from the archive's
    types unless ``mapping`` (a JSON file or a shipped name) says otherwise, and remembers its
    recipe in ``_meta``. Values the mapping cannot take exactly raise ``MappingConflictError``
    before anything is written. ``on_start(total)`` and ``on_progress(count)`` report the load.
    """
    from changelake.index_bodies import load_index_body
    from changelake.rebuild.documents import load_transform, transform_digest
    from changelake.rebuild.latest_images import latest_in_background
    from changelake.rebuild.mapping_plan import plan_index_body, plan_rebuild_mapping
    from changelake.rebuild.rebuild_index import rebuild_index as replay_into_index
    from changelake.rebuild.recipe import Recipe, archive_url

    now = datetime.now(UTC)
    if as_of is not None:
        as_of = _past(as_of, now)
    user_body = load_index_body(mapping) if mapping else None
    function = load_transform(transform) if transform else None
    census = function is None and runner == "duckdb"
    recipe = Recipe(
        table, archive_url(archive), transform=transform,
        transform_sha256=transform_digest(function) if function else None,
        mapping_source=mapping or ("inferred" if census else "dynamic"),
        id_rule=id_rule, ttl_deletes=ttl_deletes,
    )  # fmt: skip
    options = _replay_options(function, max_errors, bulk_bytes, bulk_in_flight)
    location = parse_archive_uri(archive)
    require_archive(location, table)  # before the lease: a mistyped archive gets no lock object
    if runner == "spark" and skip_corrupt:
        raise ValueError("skip_corrupt reads the archive with DuckDB; leave it out with Spark")
    selection = recipe.selection(as_of=as_of)
    rebuild_into = partial(
        replay_into_index, recipe=recipe, alias=alias, now=now, as_of=as_of, keep=keep,
        dry_run=dry_run, on_start=on_start, on_progress=on_progress,
    )  # fmt: skip
    skipped: list[UnreadableFile] = []
    with ExitStack() as stack:
        lease = None if dry_run else stack.enter_context(_alias_lease(location, table, alias))
        if runner == "spark":
            from changelake.search_options import SearchOptions
            from changelake.spark_session import spark_rebuild_runner

            # The census is DuckDB SQL over the latest images: Spark builds with the given
            # body, or the dynamic templates.
            plan = plan_index_body(None, user_body, mapping)
            sink = make_search_sink(es_url, search)
            spark_runner = spark_rebuild_runner(
                location, selection, es_url, search or SearchOptions(), sink, spark_master
            )
            summary = rebuild_into(
                None, sink, index_body=plan.body, options=plan.replay_options(options),
                runner=spark_runner, lease=lease,
            )  # fmt: skip
        else:
            connection, skipped = _open_table(
                stack, location, table, skip_corrupt, memory_limit, on_warning
            )
            # DuckDB works out the latest records while the search client is imported and set up.
            latest = stack.enter_context(
                latest_in_background(connection, selection, typed_images=census)
            )
            sink = make_search_sink(es_url, search)
            plan = plan_rebuild_mapping(
                connection, latest, table_name=table, user_body=user_body, user_spec=mapping,
                transform=not census,
            )  # fmt: skip
            refusal = plan.refusal()
            if refusal is not None and not dry_run:
                raise refusal
            summary = rebuild_into(
                connection, sink, index_body=plan.body, options=plan.replay_options(options),
                latest=latest, lease=lease,
            )  # fmt: skip
    return RebuildResult(summary, plan, skipped)


def sync_index(
    es_url: str,
    alias: str,
    *,
    search: SearchOptions | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    max_errors: int = 0,
    bulk_bytes: int = DEFAULT_MAX_BYTES,
    bulk_in_flight: int = DEFAULT_IN_FLIGHT,
    skip_corrupt: bool = False,
    memory_limit: int | None = None,
    on_start: Callable[[int], None] = _no_progress,
    on_progress: OnProgress = _no_progress,
    on_warning: Warn = log_warning,
    **choices: Unpack[RecipeChoices],
) -> SyncSummary:
    """Apply what was archived since ``alias``'s watermark, with external versions.

    Follows the recipe the index was rebuilt by; ``archive``, ``table`` and the other recipe
    parameters, when given, must agree with it (``RebuildError`` otherwise).
    """
    from changelake.rebuild.guarded_sink import GuardedSink
    from changelake.rebuild.recipe import follow_recipe
    from changelake.rebuild.sync import read_index_state, sync_alias

    sink = _checked_sink(es_url, search, choices)
    index, state = read_index_state(sink, alias, "sync")
    recipe = follow_recipe(state.recipe, _recipe_flags(choices), index)
    recipe, function, location = _load_recipe(recipe, index, choices)
    options = _replay_options(function, max_errors, bulk_bytes, bulk_in_flight)
    # One writer per alias at a time (sync, rebuild, repair), reading the archive only once it
    # holds the lease: a sync that read an older archive could otherwise send an item's older
    # version after another writer deleted it. See docs/rebuild-sync-verify.md.
    with ExitStack() as stack:
        lease = stack.enter_context(_alias_lease(location, recipe.table_name, alias))
        connection, _ = _open_table(
            stack, location, recipe.table_name, skip_corrupt, memory_limit, on_warning
        )
        return sync_alias(
            connection, GuardedSink(sink, lease), alias=alias, index=index, recipe=recipe,
            overlap=overlap, options=options, on_start=on_start, on_progress=on_progress,
        )  # fmt: skip


@dataclass(frozen=True)
class VerifyResult:
    """A drift report, and the Parquet files ``skip_corrupt`` read around."""

    report: DriftReport
    skipped_files: list[UnreadableFile] = field(default_factory=list)

    @property
    def remaining_drift(self) -> int:
        """Documents still drifted: after a repair, what it left; else all that drifted."""
        repair = self.report.repair
        return int(repair["remaining_drifted"]) if repair else self.report.drifted

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (what ``changelake verify --output json`` prints)."""
        skipped = [item.to_dict() for item in self.skipped_files]
        return {**self.report.to_dict(), "skipped_files": skipped}


class MissingTableError(MissingSettingError):
    """An index changelake did not build has no recipe to name its table: pass ``table``."""


def verify_index(
    es_url: str,
    alias: str,
    *,
    search: SearchOptions | None = None,
    repair: bool = False,
    sample: int | None = None,
    examples: int = 5,
    max_errors: int = 0,
    skip_corrupt: bool = False,
    memory_limit: int | None = None,
    on_compare: Callable[[str, str], None] | None = None,
    on_warning: Warn = log_warning,
    **choices: Unpack[RecipeChoices],
) -> VerifyResult:
    """Compare the index behind ``alias`` with the archive; with ``repair``, rewrite the drift.

    Follows the index's recipe and the instant of an index rebuilt as of one. An index without
    a recipe is compared with the latest state of ``table`` (``MissingTableError`` without one).
    ``on_compare(index, archive)`` is called when the comparison starts.
    """
    from changelake.rebuild.aliases import single_alias_target
    from changelake.rebuild.guarded_sink import GuardedSink
    from changelake.rebuild.recipe import Recipe, archive_url, follow_recipe
    from changelake.rebuild.repair import verify_index as compare_index
    from changelake.rebuild.watermark import read_state

    sink = _checked_sink(es_url, search, choices)
    index = single_alias_target(sink, alias, "verify")
    state = read_state(sink.get_meta(index), index)
    flags = _recipe_flags(choices)
    if state is not None:
        recipe, as_of = follow_recipe(state.recipe, flags, index), state.as_of
    elif flags.table_name is None:
        raise MissingTableError(
            f"{index} was not built by changelake rebuild, so it names no table: give the table"
        )
    else:  # an index changelake did not build: compared with the latest state, as the flags say
        recipe = Recipe(
            flags.table_name, archive_url(flags.archive or DEFAULT_ARCHIVE),
            transform=flags.transform, id_rule=flags.id_rule or CANONICAL_ID,
            ttl_deletes=flags.ttl_deletes or "delete",
        )  # fmt: skip
        as_of = None
    recipe, function, location = _load_recipe(recipe, index, choices)
    table = recipe.table_name
    with ExitStack() as stack:
        writer = sink
        if repair:
            # A repair writes like a sync, so it holds the alias's lease before reading the
            # archive (see docs/rebuild-sync-verify.md); a plain verify only reads.
            writer = GuardedSink(sink, stack.enter_context(_alias_lease(location, table, alias)))
        connection, skipped = _open_table(
            stack, location, table, skip_corrupt, memory_limit, on_warning
        )
        if on_compare is not None:
            on_compare(index, recipe.archive)
        report = compare_index(
            connection, writer, alias=alias, index=index, recipe=recipe, transform=function,
            as_of=as_of, examples=examples, sample=sample, repair=repair, max_errors=max_errors,
        )  # fmt: skip
    return VerifyResult(report, skipped)


def history(archive: str, table: str, key: str | Mapping[str, str] | KeyQuery) -> ItemHistory:
    """One item's timeline (see :meth:`Archive.history`), opening and closing the archive."""
    with open_archive(archive, table=table) as opened:
        return opened.history(table, key)


def _past(moment: datetime, now: datetime) -> datetime:
    """``moment`` with a zone (UTC if it had none); a future one is a mistake, not "latest"."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > now:
        raise ValueError(
            f"as_of {moment.isoformat()} is in the future (it is now {now:%Y-%m-%dT%H:%M:%SZ}); "
            "leave it out for the latest state"
        )
    return moment


def _checked_sink(es_url: str, search: SearchOptions | None, choices: RecipeChoices) -> SearchSink:
    """The sink, once a given archive and table are known to exist (named before the engine)."""
    archive = choices.get("archive")
    if archive is not None:
        require_archive(parse_archive_uri(archive), choices.get("table"))
    return make_search_sink(es_url, search)


def _recipe_flags(choices: RecipeChoices) -> RecipeFlags:
    from changelake.rebuild.recipe import RecipeFlags

    return RecipeFlags(
        choices.get("table"),
        choices.get("archive"),
        choices.get("transform"),
        choices.get("id_rule"),
        choices.get("ttl_deletes"),
    )


def _load_recipe(
    recipe: Recipe, index: str, choices: RecipeChoices
) -> tuple[Recipe, Transform | None, ArchiveLocation]:
    """The recipe with its transform loaded (its code's digest checked), and its archive."""
    from changelake.rebuild.recipe import load_recipe_transform

    accept = choices.get("accept_transform_change", False)
    recipe, function = load_recipe_transform(recipe, index, accept_change=accept)
    location = parse_archive_uri(recipe.archive)
    require_archive(location, recipe.table_name)  # before the lease: a mistyped archive gets none
    return recipe, function, location


def _open_table(
    stack: ExitStack,
    location: ArchiveLocation,
    table: str,
    skip_corrupt: bool,
    memory_limit: int | None,
    on_warning: Warn,
) -> tuple[DuckDBPyConnection, list[UnreadableFile]]:
    """A connection over ``table``'s archive for the ``stack``'s block: a failed read names the
    bad file, and each file ``skip_corrupt`` read around is warned about."""
    from changelake.unreadable_files import naming_archive_files, open_readable_archive

    connection, skipped = open_readable_archive(
        location, table, skip_corrupt=skip_corrupt, memory_limit=memory_limit
    )
    for item in skipped:
        on_warning(f"skipped unreadable {item.url}: {item.error}")
    stack.enter_context(naming_archive_files(connection, location, table))
    return connection, skipped


def _replay_options(
    transform: Transform | None,
    max_errors: int,
    bulk_bytes: int,
    bulk_in_flight: int,
) -> ReplayOptions:
    return ReplayOptions(
        transform=transform, max_bytes=bulk_bytes, max_errors=max_errors, in_flight=bulk_in_flight
    )


# ``changelake follow`` and the sync Lambda hold the lease a second or so per step: a command
# started meanwhile waits for the step to end rather than fail.
LEASE_WAIT = timedelta(seconds=10)


@contextmanager
def _alias_lease(location: ArchiveLocation, table_name: str, alias: str) -> Iterator[Lease]:
    """Hold the lease that makes rebuild, sync and repair of ``alias`` take turns.

    It lasts 15 minutes, or ``CHANGELAKE_LEASE_SECONDS``, and is renewed every third of that. A
    lease held by another writer is waited for up to ``LEASE_WAIT``.
    """
    try:
        duration = lease_duration(DEFAULT_LEASE)
    except ValueError as error:
        raise MissingSettingError(str(error)) from None
    key = lock_key(table_name, f"sync-{alias}")
    with held_lock(make_store(location), key, duration=duration, wait=LEASE_WAIT) as lease:
        yield lease
