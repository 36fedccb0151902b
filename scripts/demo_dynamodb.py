"""``make demo-dynamodb``: the whole pipeline on Amazon's DynamoDB Local and the search server.

Creates a ``posts`` table with a stream, writes posts, takes a snapshot, writes more, polls the
stream, rebuilds the search index and searches it. Both servers run on free loopback ports and
are stopped by their PIDs at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from scripts.services import start_dynamodb_local, start_elasticsearch_api, stop

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".services" / "demo-dynamodb"
ARCHIVE = str(ROOT / "changelake-data" / "demo-dynamodb")
TABLE = "posts"
POSTS = 300


def run(*args: str) -> None:
    """Run a changelake command, printing it first."""
    print("$ changelake", " ".join(args), flush=True)
    subprocess.run([str(Path(sys.executable).parent / "changelake"), *args], check=True)


def write_posts(client: object, first: int, count: int, title: str) -> None:
    """Put ``count`` posts (``post#NNNN``) with a title, a view count and a cover image."""
    for n in range(first, first + count):
        client.put_item(  # type: ignore[attr-defined]
            TableName=TABLE,
            Item={
                "id": {"S": f"post#{n:04d}"},
                "title": {"S": f"{title} {n}"},
                "views": {"N": str(n * 3)},
                "cover": {"B": n.to_bytes(2, "big")},
            },
        )


def search(url: str, query: str) -> dict[str, object]:
    """A match query on the alias; the engine's JSON answer."""
    body = json.dumps({"query": {"match": {"title": query}}, "size": 3}).encode()
    request = urllib.request.Request(
        f"{url}/{TABLE}/_search", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


def main(argv: list[str]) -> int:
    """Start the servers, run the steps, stop the servers.

    ``argv`` may name another scratch folder and archive: ``[WORKDIR [ARCHIVE]]``.
    """
    workdir = Path(argv[0]) if argv else WORKDIR
    archive = argv[1] if len(argv) > 1 else ARCHIVE
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(archive, ignore_errors=True)
    dynamodb = start_dynamodb_local(workdir / "dynamodb-local")
    try:
        search_server = start_elasticsearch_api(workdir / "elasticsearch-api")
    except BaseException:
        stop(dynamodb)
        raise
    try:
        os.environ.update(dynamodb.env)
        print(f"DynamoDB Local at {dynamodb.url}, search server at {search_server.url}")
        from changelake.clients import dynamodb_client

        client = dynamodb_client()
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        write_posts(client, 0, POSTS, "First post")
        print(f"Wrote {POSTS} posts before the snapshot")
        run("snapshot", "--table", TABLE, "--archive", archive, "--segments", "4")
        write_posts(client, 0, 20, "Edited post")
        write_posts(client, POSTS, 30, "Newer post")
        for n in range(20, 30):
            client.delete_item(TableName=TABLE, Key={"id": {"S": f"post#{n:04d}"}})
        print("Edited 20 posts, wrote 30 new ones and deleted 10 after the snapshot")
        run("poll", "--table", TABLE, "--archive", archive, "--max-seconds", "120")
        run("rebuild", "--archive", archive, "--table", TABLE, "--es-url", search_server.url,
            "--alias", TABLE)  # fmt: skip
        items = client.scan(TableName=TABLE, Select="COUNT")["Count"]
        answer = search(search_server.url, "edited")
        hits = answer["hits"]
        assert isinstance(hits, dict)
        total = hits["total"]["value"]
        print(f"\nThe table holds {items} items; searching the index for 'edited': {total} hits")
        for hit in hits["hits"]:
            print(f"  {hit['_id']}: {hit['_source']['title']}")
        return 0 if total == 20 else 1
    finally:
        stop(search_server)
        stop(dynamodb)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
