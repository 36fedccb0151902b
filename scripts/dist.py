"""Build changelake's distributions into one folder: what ``make dist`` runs.

* ``changelake-<v>.tar.gz`` and ``changelake-<v>-py3-none-any.whl``: the pure-Python package,
  built from the sdist (so the sdist is known to build), installing only ``changelake.*``;
* ``changelake_native-<v>.tar.gz`` and a manylinux2014 wheel of the compiled hot path for this
  machine's architecture (``native/``, Rust via maturin, linked with zig as for the Lambda
  package). Without a Rust toolchain only the native sdist is built, with a note: the compiled
  path is optional at run time.

    python -m scripts.dist [--out dist]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.package import build_native_wheel

ROOT = Path(__file__).resolve().parent.parent
# This machine's architecture as deploy/package.py names it.
_HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class Distributions:
    """The files one build wrote."""

    sdist: Path
    wheel: Path
    native_sdist: Path
    native_wheel: Path | None

    def files(self) -> list[Path]:
        """Every file, the native wheel only if it was built."""
        return [
            path
            for path in (self.sdist, self.wheel, self.native_sdist, self.native_wheel)
            if path is not None
        ]


def build_distributions(out: Path) -> Distributions:
    """Build every distribution into ``out``, replacing earlier builds of the same names."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("changelake-*"), *out.glob("changelake_native-*")]:
        old.unlink()
    python = sys.executable
    subprocess.run([python, "-m", "build", "--quiet", "--outdir", str(out), str(ROOT)], check=True)
    maturin = str(Path(python).parent / "maturin")
    native = ROOT / "native" / "Cargo.toml"
    sdist = [maturin, "sdist", "--manifest-path", str(native), "--out", str(out)]
    subprocess.run(sdist, check=True)
    arch = _HOST_ARCH[platform.machine().lower()]
    native_wheel = build_native_wheel(arch, out)
    return Distributions(
        sdist=_one(out, "changelake-*.tar.gz"),
        wheel=_one(out, "changelake-*.whl"),
        native_sdist=_one(out, "changelake_native-*.tar.gz"),
        native_wheel=native_wheel,
    )


def _one(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def main(argv: list[str] | None = None) -> int:
    """Build the distributions and list them with their sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    args = parser.parse_args(argv)
    built = build_distributions(args.out)
    for path in built.files():
        print(f"{path.stat().st_size / 1024:8.0f} KiB  {path}")
    if built.native_wheel is None:
        print("no compiled wheel: changelake runs its pure-Python path", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
