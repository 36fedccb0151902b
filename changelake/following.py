"""``changelake follow``: one long-running process per table that archives its stream and keeps a
search alias within seconds of each write.

Each loop reads a page of every open shard (:mod:`changelake.archiver.stream_follower`), archives
and checkpoints it, and hands the pages to the index thread (:mod:`changelake.follow_worker`),
which syncs their items into the alias while the next loop reads. Without an alias it only
archives: the poller as a service. A stop (SIGTERM) finishes the page in hand, makes what was
archived searchable if the engine answers, and returns; a killed process loses nothing, since the
next one goes on from the checkpoints and catches the index up from its watermark.

Each loop that did something writes one report (:class:`FollowReport`), and at least one a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from changelake.alias_sync import SHORT_LEASE, IndexTarget
from changelake.archiver.shard_reader import GET_RECORDS_LIMIT
from changelake.archiver.stream_follower import StreamFollower
from changelake.archiver.stream_shards import table_stream_arn
from changelake.aws_errors import explained_aws_errors
from changelake.clients import (
    connect_duckdb,
    dynamodb_client,
    make_search_sink,
    make_store,
    streams_client,
)
from changelake.follow_indexer import AliasIndexer
from changelake.follow_worker import Indexing, IndexState, IndexWorker
from changelake.metrics import summary_to_emf
from changelake.rebuild.recent_changes import RecentChanges
from changelake.rebuild.replay import ReplayOptions
from changelake.schemas.archive_layout import check_table_name, parse_archive_uri
from changelake.schemas.exceptions import SearchConfigError, TransientError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from changelake.archiver.stream_follower import ArchivedPage
    from changelake.follow_indexer import IndexStep
    from changelake.search_options import SearchOptions

# A loop that did nothing writes no report, but one is written at least this often.
HEARTBEAT_SECONDS = 60.0
# While indexing or archiving is down, it is said again this often.
NOTICE_SECONDS = 60.0
# A failed archiving round (S3 or the stream unreachable) is tried again after this long.
ARCHIVE_RETRY_SECONDS = 2.0
# How often the table's current stream is checked (a re-enabled stream is a gap).
STREAM_CHECK_SECONDS = 60.0

OFF = "off"


@dataclass(kw_only=True)
class FollowCounts:
    """What a loop's report and a run's totals both count."""

    records: int = 0
    archived: int = 0
    files: int = 0
    steps: int = 0
    catch_ups: int = 0
    indexed: int = 0
    deleted: int = 0
    waiting_records: int = 0


@dataclass
class FollowReport(FollowCounts):
    """One loop's line: what it archived and the index steps that finished since the last line.

    Lags run from a record's ApproximateCreationDateTime (the stream's precision: a second on
    DynamoDB, a minute on DynamoDB Local) to archived and to searchable, for the oldest record.
    """

    table: str
    alias: str | None
    at: datetime
    quarantined: list[str] = field(default_factory=list)
    archive_lag_seconds: float | None = None
    index: str = OFF
    index_error: str | None = None
    stale_writes: int = 0
    skipped: int = 0
    index_lag_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return dict(self.__dict__, at=self.at.isoformat())

    def to_emf(self) -> dict[str, Any]:
        """The same line as a CloudWatch embedded-metrics document (like the Lambda handlers')."""
        counts: dict[str, float] = {
            "ArchivedRecords": self.archived,
            "QuarantinedRecords": len(self.quarantined),
            "IndexedDocuments": self.indexed,
            "DeletedDocuments": self.deleted,
            "WaitingRecords": self.waiting_records,
        }
        lags = {
            "ArchiveLagSeconds": self.archive_lag_seconds,
            "IndexLagSeconds": self.index_lag_seconds,
        }
        counts.update({name: round(value, 3) for name, value in lags.items() if value is not None})
        summary = {k: v for k, v in self.to_dict().items() if k not in ("table", "at")}
        return summary_to_emf(
            "follow",
            summary,
            counts,
            timestamp_ms=int(self.at.timestamp() * 1000),
            units=dict.fromkeys(lags, "Seconds"),
            dimensions={"Table": self.table},
        )


@dataclass
class FollowTotals(FollowCounts):
    """What a whole run did."""

    table: str
    alias: str | None
    stream_arn: str
    quarantined: int = 0
    seconds: float = 0.0
    stopped: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return dict(self.__dict__, seconds=round(self.seconds, 3))

    def add(self, report: FollowReport) -> None:
        """Count one loop's report (what waits is the report's, not a sum)."""
        for name in _SUMMED_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(report, name))
        self.quarantined += len(report.quarantined)
        self.waiting_records = report.waiting_records


_SUMMED_COUNTS = [f.name for f in fields(FollowCounts) if f.name != "waiting_records"]


@dataclass
class FollowLoop:
    """Archive rounds on this thread, index steps on the worker's; reports and notices out."""

    follower: StreamFollower
    worker: IndexWorker | None
    alias: str | None
    stop: threading.Event
    interval: float
    on_report: Callable[[FollowReport], None]
    on_notice: Callable[[str], None]
    current_stream: Callable[[], str] | None = None
    max_seconds: float | None = None
    monotonic: Callable[[], float] = time.monotonic
    _index_state: IndexState = field(default_factory=IndexState)
    _down_since: datetime | None = None
    _noticed_at: dict[str, float] = field(default_factory=dict)
    _reported_at: float = 0.0
    _reported_state: str | None = None

    def run(self) -> FollowTotals:
        """Loop until ``stop`` is set or ``max_seconds`` have passed; the run's totals."""
        started = self.monotonic()
        totals = FollowTotals(self.follower.table_name, self.alias, self.follower.stream_arn)
        self.follower.start()
        if self.worker is not None:
            self.worker.start()
        checked_stream = started
        try:
            while not self.stop.is_set():
                began = self.monotonic()
                pages = self._archive_round()
                if self.worker is not None:
                    self.worker.submit(pages)
                    self._raise_fatal()
                self._report(totals, pages, self._finished_steps())
                self.follower.save_covered_until()
                if self.current_stream and began - checked_stream >= STREAM_CHECK_SECONDS:
                    self.follower.check_stream(self.current_stream())
                    checked_stream = began
                if self.max_seconds is not None and began - started >= self.max_seconds:
                    totals.stopped = f"--max-seconds {self.max_seconds:g}"
                    break
                full = any(page.records >= GET_RECORDS_LIMIT for page in pages)
                if not full:
                    self.stop.wait(max(0.0, began + self.interval - self.monotonic()))
        finally:
            self.follower.save_covered_until(force=True)
        totals.stopped = totals.stopped or "stopped"
        if self.worker is not None:
            self.worker.stop(timeout=max(5.0, 3 * self.interval))
            self._raise_fatal()
            self._report(totals, [], self._finished_steps(), final=True)
        totals.seconds = self.monotonic() - started
        return totals

    def _archive_round(self) -> list[ArchivedPage]:
        """One round; a transient failure (S3, the stream) is said and tried again later."""
        try:
            with explained_aws_errors(f"cannot read the stream {self.follower.stream_arn}"):
                return self.follower.read_round(self.stop.is_set)
        except TransientError as error:
            self._notice(
                "archive", f"archiving paused: {error}; retrying every {ARCHIVE_RETRY_SECONDS:g} s"
            )
            self.stop.wait(ARCHIVE_RETRY_SECONDS)
            return []

    def _finished_steps(self) -> list[IndexStep]:
        if self.worker is None:
            return []
        steps = self.worker.finished()
        self._watch_index(self.worker.state)
        return steps

    def _raise_fatal(self) -> None:
        if self.worker is not None and self.worker.fatal is not None:
            raise self.worker.fatal

    def _watch_index(self, state: IndexState) -> None:
        """Say when indexing stops, once a minute while it is down, and when it is back."""
        previous, self._index_state = self._index_state, state
        if state.state == Indexing.DOWN:
            if previous.state != Indexing.DOWN:
                self._down_since = datetime.now(UTC)
                self._noticed_at.pop("index", None)
            since = self._down_since.strftime("%H:%M:%S") if self._down_since else "?"
            self._notice(
                "index",
                f"indexing into {self.alias} is down since {since} UTC ({state.error}); "
                f"archiving goes on, {state.waiting_records} records wait, retrying",
            )
        elif state.state == Indexing.UP and previous.state == Indexing.DOWN:
            self.on_notice(f"indexing into {self.alias} is back: the index caught up")
            self._down_since = None

    def _notice(self, kind: str, message: str) -> None:
        """Say ``message`` unless one of its ``kind`` was said less than a minute ago."""
        now = self.monotonic()
        said = self._noticed_at.get(kind)
        if said is not None and now - said < NOTICE_SECONDS:
            return
        self._noticed_at[kind] = now
        self.on_notice(message)

    def _report(
        self,
        totals: FollowTotals,
        pages: Sequence[ArchivedPage],
        steps: Sequence[IndexStep],
        *,
        final: bool = False,
    ) -> None:
        now = self.monotonic()
        indexing = self.worker.state.state if self.worker is not None else None
        # A line when something happened, when indexing goes down or comes back, and once a
        # heartbeat otherwise.
        quiet = not pages and not steps and not final and indexing == self._reported_state
        if quiet and now - self._reported_at < HEARTBEAT_SECONDS:
            return
        self._reported_at = now
        self._reported_state = indexing
        report = loop_report(self.follower.table_name, self.alias, pages, steps)
        if self.worker is not None:
            state = self.worker.state
            report.index, report.index_error = state.state, state.error
            report.waiting_records = self.worker.waiting_records()
        totals.add(report)
        self.on_report(report)


def loop_report(
    table: str, alias: str | None, pages: Sequence[ArchivedPage], steps: Sequence[IndexStep]
) -> FollowReport:
    """The report of one loop's archived pages and finished index steps."""
    report = FollowReport(table=table, alias=alias, at=datetime.now(UTC))
    lags = [
        (page.archived_at - page.first_created).total_seconds()
        for page in pages
        if page.first_created is not None
    ]
    report.records = sum(page.records for page in pages)
    report.archived = sum(page.archived for page in pages)
    report.files = sum(len(page.files) for page in pages)
    report.quarantined = [key for page in pages for key in page.quarantined]
    report.archive_lag_seconds = max(lags, default=None)
    report.steps = len(steps)
    report.catch_ups = sum(step.is_catch_up for step in steps)
    report.indexed = sum(step.summary.indexed for step in steps)
    report.deleted = sum(step.summary.deleted for step in steps)
    report.stale_writes = sum(step.summary.version_conflicts for step in steps)
    report.skipped = sum(step.summary.skipped for step in steps)
    index_lags = [step.lag_seconds for step in steps if step.lag_seconds is not None]
    report.index_lag_seconds = max(index_lags, default=None)
    return report


@dataclass(frozen=True)
class FollowSettings:
    """What to follow and where to: the command's options."""

    archive: str
    table_name: str
    options: ReplayOptions = field(default_factory=ReplayOptions)
    stream_arn: str | None = None
    es_url: str | None = None
    search: SearchOptions | None = None
    alias: str | None = None
    transform: str | None = None
    interval: float = 1.0
    lease: timedelta = SHORT_LEASE
    max_seconds: float | None = None


def run_follow(
    settings: FollowSettings,
    *,
    stop: threading.Event,
    on_report: Callable[[FollowReport], None],
    on_notice: Callable[[str], None],
) -> FollowTotals:
    """Follow the table's stream (or ``stream_arn``) into the archive, and the alias if given,
    until ``stop`` is set; the clients are built here."""
    location = parse_archive_uri(settings.archive)
    table = check_table_name(settings.table_name)
    with explained_aws_errors(f"cannot follow the stream of {settings.stream_arn or table}"):
        stream_arn = settings.stream_arn or table_stream_arn(dynamodb_client(), table)
        follower = StreamFollower(streams_client(), make_store(location), stream_arn, table)
        worker = None
        if settings.alias is not None:
            if settings.es_url is None:
                raise SearchConfigError("--alias needs --es-url (or CHANGELAKE_ES_URL)")
            es_url, search = settings.es_url, settings.search
            recent = RecentChanges(connect_duckdb(location))
            target = IndexTarget(
                location, table, settings.alias, options=settings.options,
                transform=settings.transform, lease=settings.lease,
            )  # fmt: skip
            indexer = AliasIndexer(target, recent, lambda: make_search_sink(es_url, search))
            worker = IndexWorker(indexer, monotonic=time.monotonic)
        loop = FollowLoop(
            follower,
            worker,
            settings.alias,
            stop,
            settings.interval,
            on_report,
            on_notice,
            current_stream=(
                None if settings.stream_arn else lambda: table_stream_arn(dynamodb_client(), table)
            ),
            max_seconds=settings.max_seconds,
        )
        return loop.run()
