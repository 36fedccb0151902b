"""The baseline of the census benchmark: ``changelake rebuild --mapping FILE`` without the census.

``python -m bench.rebuild_without_census ARCHIVE TABLE URL ALIAS BODY IN_FLIGHT`` runs what the
command runs, in the same order and in a process of its own (the archive opened, the latest
records picked on a worker thread while the search client is set up, the load), but picks the
latest records without their typed images and takes no type census: the index is created with
the body in BODY as it is. Prints the summary as JSON, like ``--output json``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from changelake.clients import make_search_sink
from changelake.rebuild.latest_images import Selection, latest_in_background
from changelake.rebuild.rebuild_index import rebuild_index
from changelake.rebuild.recipe import Recipe, archive_url
from changelake.rebuild.replay import ReplayOptions
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.search_options import SearchOptions
from changelake.unreadable_files import naming_archive_files, open_command_archive


def main(argv: list[str]) -> int:
    """Rebuild ALIAS from ARCHIVE with the body in BODY; print the summary."""
    archive, table, url, alias, body_path, in_flight = argv
    body = json.loads(Path(body_path).read_text())
    location = parse_archive_uri(archive)
    connection = open_command_archive(location, table, skip_corrupt=False)
    with (
        naming_archive_files(connection, location, table),
        latest_in_background(connection, Selection(table)) as latest,
    ):
        sink = make_search_sink(url, SearchOptions())
        summary = rebuild_index(
            connection,
            sink,
            recipe=Recipe(table, archive_url(archive), mapping_source=body_path),
            alias=alias,
            index_body=body,
            now=datetime.now(UTC),
            keep=0,
            options=ReplayOptions(in_flight=int(in_flight)),
            latest=latest,
        )
    print(json.dumps(summary.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
