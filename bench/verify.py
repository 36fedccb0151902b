"""Verify benchmark: comparing an index with the archive, against reading each side alone.

Starts the Elasticsearch-API server (scripts/services.py), rebuilds a synthetic archive into it,
then prints medians over --runs of:

* reading the index alone (every document through a point in time), the baseline;
* computing the archive's latest state alone (the latest-record SQL);
* ``verify_alias``: both, hashed, and joined.

    python -m bench.verify --changes 400000 --items 40000
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.synthetic_archive import archive_bench_parser, synthetic_archive
from changelake.clients import make_search_sink, open_archive
from changelake.rebuild.index_mapping import dynamic_body
from changelake.rebuild.latest_images import Selection, drop_latest, materialize_latest
from changelake.rebuild.rebuild_index import rebuild_index
from changelake.rebuild.recipe import Recipe
from changelake.rebuild.verify import drop_verify_tables, verify_alias
from changelake.schemas.archive_layout import parse_archive_uri
from scripts.services import start_elasticsearch_api, stop


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print medians and ratios."""
    args = archive_bench_parser(__doc__, changes=400_000, items=40_000).parse_args(argv)
    archive = str(synthetic_archive(args.changes, args.items, days=2, rows_per_file=400))
    location = parse_archive_uri(archive)
    recipe = Recipe("posts", location.url())
    with tempfile.TemporaryDirectory(prefix="changelake-bench-es-") as workdir:
        service = start_elasticsearch_api(Path(workdir))
        try:
            sink = make_search_sink(service.url)
            summary = rebuild_index(
                open_archive(location, "posts"), sink, recipe=recipe, alias="bench",
                index_body=dynamic_body(), now=datetime.now(UTC),
            )  # fmt: skip
            index_alone, archive_alone, verify = [], [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                documents = sum(1 for _ in sink.iter_documents(summary.index))
                index_alone.append(time.perf_counter() - started)

                connection = open_archive(location, "posts")
                started = time.perf_counter()
                materialize_latest(connection, Selection("posts"))
                archive_alone.append(time.perf_counter() - started)
                drop_latest(connection)

                started = time.perf_counter()
                report = verify_alias(
                    connection, sink, recipe=recipe, alias="bench", index=summary.index
                )
                verify.append(time.perf_counter() - started)
                drop_verify_tables(connection)
                assert report.drifted == 0, report.to_dict()
        finally:
            stop(service)
    both = statistics.median(index_alone) + statistics.median(archive_alone)
    print(f"{documents:,} documents, {args.changes:,} changes, {args.runs} runs (medians)")
    print(f"  read the index alone (baseline)   {statistics.median(index_alone):7.2f} s")
    print(f"  latest state of the archive alone {statistics.median(archive_alone):7.2f} s")
    print(
        f"  verify (both, hashed, joined)     {statistics.median(verify):7.2f} s  "
        f"({statistics.median(verify) / both:.2f}x the two reads, "
        f"{documents / statistics.median(verify):,.0f} documents/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
