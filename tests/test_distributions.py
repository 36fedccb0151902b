"""The built distributions install into a fresh virtualenv and work there, checkout out of reach.

Slow: builds the sdist and wheels once (``scripts/dist.py``, as ``make dist`` does), then
pip-installs them with their dependencies from the index (or pip's cache).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from changelake import __version__
from scripts.dist import Distributions, build_distributions
from tests.helpers import EVENTS, load_event

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

SUBPACKAGES = ("archiver", "ask", "rebuild", "schemas")
EVENT = "lambda-event-posts.json"


@dataclass(frozen=True)
class Venv:
    """A fresh virtualenv and a working directory outside the checkout."""

    root: Path
    cwd: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a program of the venv from ``cwd``, with no PYTHONPATH."""
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        environment.update(env or {})
        program = str(self.root / "bin" / args[0])
        return subprocess.run(
            [program, *args[1:]], cwd=self.cwd, env=environment, capture_output=True, text=True
        )

    def python(self, code: str, env: dict[str, str] | None = None) -> str:
        """Run ``code`` in the venv's interpreter; its stdout (fails on a non-zero exit)."""
        completed = self.run("python", "-c", code, env=env)
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    def pip_install(self, *requirements: str) -> None:
        """pip-install into the venv."""
        completed = self.run(
            "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            *requirements,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """Every distribution, built once."""
    return build_distributions(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv(distributions: Distributions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A virtualenv with the pure-Python wheel alone (no extras), and an empty working dir."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    installed = Venv(root=root, cwd=tmp_path_factory.mktemp("cwd"))
    installed.pip_install(str(distributions.wheel))
    yield installed


def test_the_wheel_holds_only_the_changelake_package(distributions: Distributions) -> None:
    with zipfile.ZipFile(distributions.wheel) as wheel:
        names = wheel.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"changelake", f"changelake-{__version__}.dist-info"}
    assert {name.split("/")[1] for name in names if name.count("/") == 2} >= {
        *SUBPACKAGES,
        "commands",
    }
    assert "changelake/examples/posts.json" in names
    assert "changelake/py.typed" in names


def test_the_compiled_wheel_is_built_for_this_platform(distributions: Distributions) -> None:
    assert distributions.native_wheel is not None
    assert "manylinux" in distributions.native_wheel.name
    assert distributions.native_sdist.name == f"changelake_native-{__version__}.tar.gz"


def test_the_installed_package_runs_from_the_venv_alone(venv: Venv) -> None:
    found = venv.python(
        "import importlib.util, json, changelake; "
        f"print(json.dumps([changelake.__file__, [m for m in {SUBPACKAGES!r} "
        "if importlib.util.find_spec(m)]]))"
    )
    location, top_level = json.loads(found)
    assert location.startswith(str(venv.root)), location
    assert top_level == []
    site = venv.python("import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    assert sorted(p.name for p in Path(site).iterdir() if p.name in SUBPACKAGES) == []


def test_version_names_the_pure_python_path_without_the_compiled_wheel(venv: Venv) -> None:
    completed = venv.run("changelake", "--version")
    assert completed.stdout == f"changelake {__version__}, pure Python\n"


def test_the_cli_archives_an_event_and_answers_sql_over_it(venv: Venv) -> None:
    archive = venv.cwd / "cli-archive"
    completed = venv.run("changelake", "archive", "--archive", str(archive), str(EVENTS / EVENT))
    assert completed.returncode == 0, completed.stderr
    records = load_event(EVENT)["Records"]
    assert completed.stdout.startswith(f"Archived {len(records)} of {len(records)} records")
    answer = venv.run(
        "changelake", "sql", "--archive", str(archive), "--output", "csv",
        "select count(*) as changes, count(distinct item_key) as items from changes",
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    keys = {json.dumps(r["dynamodb"]["Keys"], sort_keys=True) for r in records}
    assert list(csv.reader(answer.stdout.splitlines())) == [
        ["changes", "items"],
        [str(len(records)), str(len(keys))],
    ]


def test_the_lambda_handler_runs_from_the_venv(venv: Venv) -> None:
    archive = venv.cwd / "lambda-archive"
    code = (
        "import json, sys; from changelake.lambda_handler import archive; "
        f"response = archive(json.loads(open({str(EVENTS / EVENT)!r}).read()), None); "
        "print(json.dumps(response), file=sys.stderr)"
    )
    completed = venv.run("python", "-c", code, env={"CHANGELAKE_ARCHIVE": str(archive)})
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stderr.strip().splitlines()[-1]) == {"batchItemFailures": []}
    assert list(archive.glob("table=*/dt=*/*.parquet"))


def test_a_search_command_without_a_client_names_the_extras(venv: Venv) -> None:
    archive = str(venv.cwd / "client-less")
    archived = venv.run("changelake", "archive", "--archive", archive, str(EVENTS / EVENT))
    assert archived.returncode == 0, archived.stderr
    completed = venv.run(
        "changelake", "rebuild", "--archive", archive, "--table", "Posts-prod.v2",
        "--alias", "posts", "--es-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert completed.returncode == 1
    assert completed.stderr == (
        "Error: no search engine client is installed; install the one for your engine: "
        "pip install 'changelake[opensearch]' or 'changelake[elasticsearch]'\n"
    )


def test_the_compiled_wheel_switches_the_path_and_archives_the_same_rows(
    venv: Venv, distributions: Distributions
) -> None:
    assert distributions.native_wheel is not None
    pure = venv.cwd / "pure-archive"
    completed = venv.run("changelake", "archive", "--archive", str(pure), str(EVENTS / EVENT))
    assert completed.returncode == 0, completed.stderr
    venv.pip_install(str(distributions.native_wheel))
    try:
        version = venv.run("changelake", "--version").stdout
        assert version == (
            f"changelake {__version__}, compiled hot path: changelake_native {__version__}\n"
        )
        compiled = venv.cwd / "compiled-archive"
        completed = venv.run(
            "changelake", "archive", "--archive", str(compiled), str(EVENTS / EVENT)
        )
        assert completed.returncode == 0, completed.stderr
        query = (
            "select * exclude (archived_at, source_file, source_row) from changes order by event_id"
        )
        rows = [
            venv.run("changelake", "sql", "--archive", str(a), "--output", "csv", query).stdout
            for a in (pure, compiled)
        ]
        assert rows[0] == rows[1]
        assert len(rows[0].splitlines()) == 1 + len(load_event(EVENT)["Records"])
    finally:
        venv.run("python", "-m", "pip", "uninstall", "--yes", "--quiet", "changelake-native")
