"""Build the archive Lambda's zip for linux x86_64 and arm64 from PyPI wheels.

The package holds only what ``changelake.lambda_handler`` imports: our modules in its import
closure, pyarrow and orjson (pinned to the versions installed here, so the zip runs what the tests
ran), and the compiled hot path (``native/``) built as a manylinux2014 wheel when this machine has
the Rust target for the architecture. boto3 comes with the Lambda Python runtime; DuckDB and the
search clients never ride along.
Usage::

    python deploy/package.py                      # both architectures, this Python's version
    python deploy/package.py --arch x86_64 --python-version 3.12
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "lambda"
HANDLER_MODULE = "changelake.lambda_handler"
ARCHITECTURES = ("x86_64", "arm64")
# Lambda's arm64 is aarch64 to the wheel tags. manylinux_2_28 wheels run on the Amazon Linux 2023
# runtimes (glibc 2.34); manylinux2014 is listed too for packages that publish only that tag.
_WHEEL_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# Third-party distributions the package carries, pinned to the installed versions.
BUNDLED = ("pyarrow", "orjson")
# Built from native/ for each architecture; without it the archiver runs its Python code.
NATIVE_DISTRIBUTION = "changelake-native"
_RUST_TARGET = {"x86_64": "x86_64-unknown-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}
# Provided by the Lambda Python runtime (boto3 and its dependencies).
RUNTIME_PROVIDED = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
# Imported by a bundled distribution when it happens to be installed, and not needed by it:
# pyarrow loads numpy if the host has it, and runs without it in the package.
OPTIONAL_OF_BUNDLED = ("numpy",)
# Parts of pyarrow the archiver never loads: Flight RPC, the Substrait module (not its library:
# pyarrow.lib links that), C++ tests, headers and Cython sources.
_PYARROW_UNUSED = (
    "tests",
    "include",
    "includes",
    "src",
    "*flight*",
    "_substrait*",
    "substrait.py",
    "_pyarrow_cpp_tests*",
    "*.pyx",
    "*.pxd",
    "*.pxi",
    # wheels hold copies, not symlinks, of a library's versioned names; the loader uses the
    # SONAME (libarrow_python.so.NNNN), so the other two copies are dead weight.
    "libarrow_python.so",
    "libarrow_python.so.*.*",
    "libarrow_python_parquet_encryption.so",
    "libarrow_python_parquet_encryption.so.*.*",
)
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


@dataclass(frozen=True)
class PackageReport:
    """What one build produced."""

    arch: str
    python_version: str
    zip_path: Path
    package_dir: Path
    zip_bytes: int
    unzipped_bytes: int
    files: int
    compiled: bool

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "arch": self.arch,
            "python_version": self.python_version,
            "zip": str(self.zip_path),
            "zip_mb": round(self.zip_bytes / 2**20, 1),
            "unzipped_mb": round(self.unzipped_bytes / 2**20, 1),
            "files": self.files,
            "compiled_path": self.compiled,
        }


def host_python_version() -> str:
    """This interpreter's ``major.minor``."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def handler_source_files() -> list[Path]:
    """Our modules that importing the handler loads, found by importing it in a fresh process.

    Modules already loaded by boto3 (the runtime's own) are left out of the check.
    """
    probe = (
        "import json, sys, boto3, botocore.config, botocore.httpsession; "
        "before = set(sys.modules); import " + HANDLER_MODULE + "; "
        "print(json.dumps(sorted({getattr(sys.modules[m], '__file__', None) or '' "
        "for m in set(sys.modules) - before})))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    files = [Path(name) for name in json.loads(completed.stdout) if name]
    ours = sorted(path for path in files if ROOT in path.parents and ".venv" not in path.parts)
    check_third_party_imports(files)
    return ours


def check_third_party_imports(files: list[Path]) -> None:
    """Fail when the handler imports a distribution that is neither bundled nor in the runtime."""
    bundled = (*BUNDLED, NATIVE_DISTRIBUTION, *RUNTIME_PROVIDED, *OPTIONAL_OF_BUNDLED)
    allowed = {name.replace("-", "_").lower() for name in bundled}
    by_module = importlib.metadata.packages_distributions()
    unexpected = set()
    for path in files:
        if "site-packages" not in path.parts:
            continue
        top = path.parts[path.parts.index("site-packages") + 1].split(".")[0]
        for distribution in by_module.get(top, []):
            if distribution.replace("-", "_").lower() not in allowed:
                unexpected.add(distribution)
    if unexpected:
        raise SystemExit(
            f"{HANDLER_MODULE} imports {sorted(unexpected)}, which the Lambda package does not "
            "carry; import them inside the functions that need them (see changelake/clients.py) "
            "or add them to BUNDLED in deploy/package.py"
        )


def install_wheels(target: Path, arch: str, python_version: str) -> None:
    """pip-install the bundled distributions' Linux wheels for ``arch`` into ``target``."""
    machine = _WHEEL_MACHINE[arch]
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in BUNDLED]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "--platform",
        f"manylinux_2_28_{machine}",
        "--platform",
        f"manylinux2014_{machine}",
        *pins,
    ]
    subprocess.run(command, check=True)


def build_native_wheel(arch: str, wheel_dir: Path) -> Path | None:
    """The compiled hot path as a manylinux2014 wheel for ``arch`` (Rust, linked with zig).

    None, with a note, when this machine's Rust lacks the architecture's target: the package then
    runs the archiver's Python code, which gives the same rows, slower.
    """
    target = _RUST_TARGET[arch]
    try:
        installed = subprocess.run(
            ["rustup", "target", "list", "--installed"], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        installed = []
    if target not in installed:
        print(
            f"note: the Rust target {target} is not installed here, so the {arch} package has no "
            f"compiled path (rows are the same, slower); `rustup target add {target}` adds it",
            file=sys.stderr,
        )
        return None
    tools = Path(sys.executable).parent  # maturin, and zig (ziglang) which it links with
    environment = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(tools / "maturin"), "build", "--release", "--quiet", "--zig"]
    command += ["--compatibility", "manylinux2014", "--target", target]
    command += ["--manifest-path", str(ROOT / "native" / "Cargo.toml"), "--out", str(wheel_dir)]
    subprocess.run(command, check=True, env=environment)
    return next(wheel_dir.glob("changelake_native-*.whl"))


def install_native(target: Path, arch: str, python_version: str, wheel_dir: Path) -> bool:
    """Add the compiled hot path to the package; whether it could be built."""
    wheel = build_native_wheel(arch, wheel_dir)
    if wheel is None:
        return False
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--only-binary=:all:", "--target", str(target)]
    command += ["--implementation", "cp", "--python-version", python_version]
    command += ["--platform", f"manylinux2014_{_WHEEL_MACHINE[arch]}", str(wheel)]
    subprocess.run(command, check=True)
    return True


def trim_pyarrow(target: Path) -> None:
    """Delete the parts of pyarrow that the archiver never loads."""
    package = target / "pyarrow"
    for pattern in _PYARROW_UNUSED:
        for path in package.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache)


def copy_sources(target: Path, sources: list[Path]) -> None:
    """Copy our modules, keeping their package paths."""
    for source in sources:
        destination = target / source.relative_to(ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def zip_directory(source: Path, zip_path: Path) -> None:
    """Zip a directory reproducibly: sorted names, fixed times, so unchanged code hashes alike."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def build_package(
    arch: str, python_version: str | None = None, build_dir: Path = BUILD_DIR
) -> PackageReport:
    """Build one architecture's package directory and zip, and measure them."""
    python_version = python_version or host_python_version()
    name = f"changelake-archive-{arch}-py{python_version}"
    package_dir = build_dir / name
    if package_dir.exists():
        shutil.rmtree(package_dir)
    package_dir.mkdir(parents=True)
    install_wheels(package_dir, arch, python_version)
    compiled = install_native(package_dir, arch, python_version, build_dir / f"native-{arch}")
    trim_pyarrow(package_dir)
    copy_sources(package_dir, handler_source_files())
    if python_version == host_python_version():
        # /var/task is read-only, so Lambda cannot cache bytecode: ship it, or every cold start
        # compiles pyarrow's and our modules again. Only possible for this interpreter's version.
        compileall.compile_dir(package_dir, quiet=1, workers=0)
    zip_path = build_dir / f"{name}.zip"
    zip_directory(package_dir, zip_path)
    files = [path for path in package_dir.rglob("*") if path.is_file()]
    report = PackageReport(
        arch=arch,
        python_version=python_version,
        zip_path=zip_path,
        package_dir=package_dir,
        zip_bytes=zip_path.stat().st_size,
        unzipped_bytes=sum(path.stat().st_size for path in files),
        files=len(files),
        compiled=compiled,
    )
    if report.unzipped_bytes > LAMBDA_UNZIPPED_LIMIT:
        raise SystemExit(
            f"{zip_path.name} unzips to {report.unzipped_bytes / 2**20:.0f} MB, over Lambda's "
            "250 MB limit; see what the handler imports (deploy/package.py BUNDLED)"
        )
    return report


def link_runtime_packages(target: Path) -> Path:
    """A directory with boto3 and its dependencies linked from here: what the Lambda runtime adds.

    Used to run a package as Lambda would, with nothing else on ``sys.path``.
    """
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        distribution = importlib.metadata.distribution(name)
        tops = {
            Path(str(file)).parts[0]
            for file in distribution.files or ()
            if not Path(str(file)).parts[0].endswith((".dist-info", ".pth"))
            and ".." not in str(file)
        }
        for top in tops - {"bin", "__pycache__"}:
            link = target / top
            if not link.exists():
                link.symlink_to(Path(str(distribution.locate_file(top))))
    return target


def main() -> None:
    """Build the requested packages and print one JSON line per package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=[*ARCHITECTURES, "all"], default="all")
    parser.add_argument(
        "--python-version",
        default=host_python_version(),
        help="Lambda runtime's Python (3.11, 3.12, ...); bytecode is shipped only for this one's",
    )
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    args = parser.parse_args()
    for arch in ARCHITECTURES if args.arch == "all" else (args.arch,):
        report = build_package(arch, args.python_version, args.build_dir)
        print(json.dumps(report.to_dict()))


if __name__ == "__main__":
    main()
