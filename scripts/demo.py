"""``make demo``: archive the sample events, summarize them, rebuild a search index, search it.

The search engine is the local Elasticsearch-API server, started by ``scripts/services.py`` on a
free port and stopped by its PID however the demo ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from changelake.clients import open_archive
from changelake.schemas.archive_layout import DEFAULT_ARCHIVE, parse_archive_uri
from scripts.services import start_elasticsearch_api, stop

ROOT = Path(__file__).resolve().parent.parent
EVENTS = sorted((ROOT / "tests" / "events").glob("lambda-event-*.json"))


def main() -> int:
    """Run the demo steps, printing each command first."""
    changelake = str(Path(sys.executable).parent / "changelake")
    command = [changelake, "archive", "--archive", DEFAULT_ARCHIVE, *map(str, EVENTS)]
    print("$", " ".join(command[:3] + [Path(c).name for c in command[3:]]), flush=True)
    subprocess.run(command, check=True)
    connection = open_archive(parse_archive_uri(DEFAULT_ARCHIVE))
    print("\nChanges per table, day and event:")
    connection.sql(
        "SELECT table_name, dt, event_name, count(*) AS records, "
        "min(approximate_creation_time) AS first, max(approximate_creation_time) AS last "
        "FROM changes GROUP BY ALL ORDER BY ALL"
    ).show()
    with tempfile.TemporaryDirectory(prefix="changelake-demo-") as workdir:
        print("$ python scripts/services.py start elasticsearch-api", flush=True)
        service = start_elasticsearch_api(Path(workdir))
        try:
            search_demo(changelake, service.url)
        finally:
            stop(service)
            print(f"\nStopped the search server (pid {service.pid}).")
    return 0


def run(command: list[str]) -> None:
    """Print a command, then run it."""
    print("\n$", " ".join([Path(command[0]).name, *command[1:]]), flush=True)
    subprocess.run(command, check=True)


def search_demo(changelake: str, url: str) -> None:
    """Rebuild the posts index as it was before the posts were deleted, search it, then today."""
    rebuild = [
        changelake, "rebuild", "--archive", DEFAULT_ARCHIVE, "--table", "Posts-prod.v2",
        "--es-url", url, "--alias", "posts", "--transform",
        "changelake.examples.posts:post_document", "--mapping", "posts", "-s",
    ]  # fmt: skip
    run([*rebuild, "--as-of", "2025-11-27T23:59:55Z"])
    query = {
        "query": {"multi_match": {"query": "diagram DynamoDB", "fields": ["text", "image_alts"]}}
    }
    print(f"\n$ curl {url}/posts/_search -d '{json.dumps(query)}'")
    request = urllib.request.Request(
        f"{url}/posts/_search",
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        hits = json.load(response)["hits"]["hits"]
    for hit in hits:
        source = hit["_source"]
        print(
            f"  {hit['_id']}: {source.get('title')!r} text={source.get('text')!r} "
            f"image_alts={source.get('image_alts')}"
        )
    print(f"  ({len(hits)} hits)")
    run([*rebuild, "--dry-run"])


if __name__ == "__main__":
    sys.exit(main())
