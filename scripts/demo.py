"""``make demo``: archive the sample events into the local default archive and summarize it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from changelake.clients import open_archive
from schemas.archive_layout import DEFAULT_ARCHIVE, parse_archive_uri

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
