"""Cold import time of the archive Lambda's handler, from its built package.

Each run is a fresh interpreter (-I -S) with only the package and boto3 on ``sys.path``, as in
the Lambda runtime. The baseline, measured in the same run, is ``import boto3`` alone: what any
Python handler pays. Prints medians and the ratio.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from deploy.package import build_package, link_runtime_packages

RUNS = 15
TIMED_IMPORT = """
import sys, time
sys.path[:0] = sys.argv[1:3]
started = time.perf_counter()
import {module}
print(time.perf_counter() - started)
"""


def cold_import_seconds(module: str, package: Path, runtime: Path) -> float:
    """Seconds to import ``module`` in a fresh interpreter."""
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            TIMED_IMPORT.format(module=module),
            str(package),
            str(runtime),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout)


def main() -> None:
    """Build the host package from the current code, then time the imports."""
    arch = {"x86_64": "x86_64", "aarch64": "arm64"}[platform.machine()]
    package = build_package(arch).package_dir
    with tempfile.TemporaryDirectory() as scratch:
        runtime = link_runtime_packages(Path(scratch))
        baseline, handler = [], []
        for _ in range(RUNS):  # interleaved, so that machine noise hits both alike
            baseline.append(cold_import_seconds("boto3", package, runtime))
            handler.append(cold_import_seconds("changelake.lambda_handler", package, runtime))
    result = {
        "runs": RUNS,
        "import_boto3_ms": round(statistics.median(baseline) * 1000, 1),
        "import_handler_ms": round(statistics.median(handler) * 1000, 1),
        "ratio": round(statistics.median(handler) / statistics.median(baseline), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
