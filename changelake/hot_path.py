"""Which archiver path runs: the compiled hot path (``changelake_native``) or pure Python.

The compiled wheel is optional: without it the archiver's Python code gives the same rows, slower.
"""

from __future__ import annotations

from importlib import metadata

NATIVE_MODULE = "changelake_native"
NATIVE_DISTRIBUTION = "changelake-native"


def hot_path() -> str:
    """``compiled hot path: changelake_native 0.1.0`` when it imports, else ``pure Python``."""
    try:
        __import__(NATIVE_MODULE)
    except ImportError:
        return "pure Python"
    try:
        version = metadata.version(NATIVE_DISTRIBUTION)
    except metadata.PackageNotFoundError:  # imported from a build tree, not installed
        version = "(not installed as a distribution)"
    return f"compiled hot path: {NATIVE_MODULE} {version}"


def version_text(version: str) -> str:
    """What ``changelake --version`` prints: the version and the path that runs."""
    return f"changelake {version}, {hot_path()}"
