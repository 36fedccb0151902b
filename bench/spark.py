"""Spark runner benchmarks, as ratios against baselines measured in one run (make bench-spark).

1. ``changelake rebuild --runner spark --spark-master local[2]`` against ``--runner duckdb`` on
   the synthetic archives of 1M changes / 100k items and 5M / 500k, into the OpenSearch node.
   Both are processes of their own, timed from exec to exit: Spark's JVM start is part of its
   cost on one machine.
2. How the Spark runner scales with workers: ``local[1]`` against ``local[2]`` on the same
   archives. On two shared cores, with the engine on the same cores, this bounds what more
   workers buy here; on a cluster each executor brings its own cores.

3. The inputs of the sizing model in docs/spark.md, from one worker (``local[1]``): a
   ``--dry-run`` computes the latest records and counts them without loading; seconds per change
   of the dry run (the JVM's start included), and seconds per document of the rest of the full
   run (the load, the engine sharing the machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.synthetic_archive import synthetic_archive
from changelake.clients import make_search_sink
from scripts.services import start_opensearch, stop

CHANGELAKE = str(Path(sys.executable).parent / "changelake")
ARCHIVES = ((1_000_000, 100_000), (5_000_000, 500_000))
RUNNERS = {
    "duckdb": ("--runner", "duckdb"),
    "spark local[2]": ("--runner", "spark", "--spark-master", "local[2]"),
    "spark local[1]": ("--runner", "spark", "--spark-master", "local[1]"),
    "local[1] plan": ("--runner", "spark", "--spark-master", "local[1]", "--dry-run"),
}


def run_rebuild(archive: Path, url: str, runner: tuple[str, ...]) -> tuple[float, int]:
    """Seconds and documents of one ``changelake rebuild`` process; its indexes deleted after."""
    command = [
        CHANGELAKE, "rebuild", "--archive", str(archive), "--table", "posts", "--es-url", url,
        "--alias", "bench-spark", "--keep", "0", "--output", "json", "-s", *runner,
    ]  # fmt: skip
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"rebuild {runner} failed ({completed.returncode})")
    if "--dry-run" in runner:
        return seconds, int(json.loads(completed.stdout)["documents"])
    sink = make_search_sink(url)
    for index in sink.alias_targets("bench-spark"):
        sink.delete_index(index)
    return seconds, int(json.loads(completed.stdout)["documents"])


def bench_archive(url: str, changes: int, items: int, repeats: int) -> dict[str, float]:
    """Median seconds of each runner on one archive, printed with documents per second."""
    archive = synthetic_archive(changes=changes, items=items)
    times: dict[str, list[float]] = {name: [] for name in RUNNERS}
    documents = {}
    for _ in range(repeats):
        for name, runner in RUNNERS.items():
            seconds, documents[name] = run_rebuild(archive, url, runner)
            times[name].append(seconds)
    if len(set(documents.values())) != 1:
        raise RuntimeError(f"the runners indexed different numbers of documents: {documents}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    count = documents["duckdb"]
    print(f"rebuild of {changes:,} changes / {count:,} documents (median of {repeats}):")
    for name, seconds in medians.items():
        print(f"  {name:<15} {seconds:7.1f} s  {count / seconds:9,.0f} docs/s")
    spark2, spark1 = medians["spark local[2]"], medians["spark local[1]"]
    print(f"  spark local[2] / duckdb   {spark2 / medians['duckdb']:5.2f}x the time")
    print(f"  local[1] / local[2]       {spark1 / spark2:5.2f}x the time")
    plan = medians["local[1] plan"]
    print(
        f"  one worker: {plan / changes * 1e6:.1f} us per change to the latest records, "
        f"{(spark1 - plan) / count * 1e6:.1f} us per document loaded",
        flush=True,
    )
    return medians


def main(argv: list[str] | None = None) -> int:
    """Run the runners on each archive against one OpenSearch node and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--changes", type=int, nargs="*", help="only these archive sizes (1000000, 5000000)"
    )
    args = parser.parse_args(argv)
    archives = [(c, i) for c, i in ARCHIVES if not args.changes or c in args.changes]
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as workdir:
        service = start_opensearch(Path(workdir), quick_start=False)
        try:
            # One untimed rebuild first, so the engine's warm-up is charged to no runner.
            run_rebuild(synthetic_archive(*ARCHIVES[0]), service.url, RUNNERS["duckdb"])
            for changes, items in archives:
                bench_archive(service.url, changes, items, args.repeats)
        finally:
            stop(service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
