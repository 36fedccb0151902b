"""A 10k-record batch of 400 KB items: archived whole, in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from changelake.clients import open_archive
from changelake.schemas.archive_layout import parse_archive_uri

ROOT = Path(__file__).resolve().parents[2]

# Items share one 400 KB string, so the input costs little memory and the peak is the archiver's.
SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from changelake.archiver.batch import archive_records
    from changelake.clients import make_store
    from changelake.schemas.archive_layout import parse_archive_uri
    from tests.helpers import make_record

    body = ("0123456789abcdef" * 25_000)[:399_000]
    records = (
        make_record(n, key=f"post#{n % 500}", new_image={"id": {"S": f"post#{n % 500}"},
                    "body": {"S": body}, "n": {"N": str(n)}})
        for n in range(1, 10_001)
    )
    result = archive_records(records, make_store(parse_archive_uri(sys.argv[1])))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"archived": result.archived, "files": len(result.files), "peak_mb": peak_mb}))
    """
)


def test_ten_thousand_records_of_400_kb_in_bounded_memory(tmp_path: Path) -> None:
    archive = str(tmp_path / "archive")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, archive],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout)
    assert summary["archived"] == 10_000
    # 10k x 400 KB is 4 GB of images, written twice (plain and typed JSON): 8 GB if held at once.
    assert summary["peak_mb"] < 1_500, summary
    assert summary["files"] > 10
    connection = open_archive(parse_archive_uri(archive))
    counts = connection.execute(
        "SELECT count(*), count(DISTINCT event_id), max(size_bytes) FROM changes"
    ).fetchone()
    assert counts == (10_000, 10_000, 100)
    (length,) = connection.execute(
        "SELECT length(new_image) FROM changes WHERE event_id = 'event-10000'"
    ).fetchone()
    assert length > 399_000
