"""How much memory DuckDB may use: ``--memory-limit``, or a default from the machine or container.

Past its limit DuckDB spills to a temporary directory instead of growing, so a rebuild's memory
stays flat however many items the table has (issue #18). The default is a quarter of the memory
the process may use (the cgroup limit of a container, an ECS task or a Lambda function when there
is one, else the machine's), and at most ``PER_THREAD_CAP`` per DuckDB thread: the rebuild streams
its work, so more memory buys little time and a larger default only crowds the other processes.
"""

from __future__ import annotations

import os
from pathlib import Path

from changelake.schemas.byte_sizes import MIB

# Below this DuckDB refuses some queries outright rather than spilling.
MINIMUM = 128 * MIB
PER_THREAD_CAP = 256 * MIB
_CGROUP_FILES = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def physical_memory() -> int:
    """Bytes of RAM of the machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def cgroup_memory_limit(files: tuple[Path, ...] = _CGROUP_FILES) -> int | None:
    """The memory limit of the process's cgroup (a container or task), None when unlimited."""
    for path in files:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        # "max" (v2) or a huge number close to 2**63 (v1) both mean no limit.
        if text.isdigit() and int(text) < physical_memory():
            return int(text)
        return None
    return None


def default_memory_limit(threads: int | None = None) -> int:
    """A quarter of the memory the process may use, at most ``PER_THREAD_CAP`` per thread."""
    available = cgroup_memory_limit() or physical_memory()
    threads = threads or os.cpu_count() or 1
    return max(MINIMUM, min(available // 4, PER_THREAD_CAP * threads))
