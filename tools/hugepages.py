"""Run the simulator's heap on transparent huge pages where that helps.

A city of 100,000 bulbs holds 3 GB of small Python objects, visited in no particular order.
With 4 KB pages the processor's page-table walks miss the cache; on 2 MB pages they do not.
CPython's own allocator (pymalloc) cannot ask for huge pages, glibc's malloc can
(the glibc.malloc.hugetlb=1 tunable, glibc 2.35 and later). Both settings are read when the
interpreter starts, so `meshbulb sim` re-executes itself once with them.

Measured on the 2-core development machine, 100,000 bulbs x 1 simulated minute: 551.5 s with
pymalloc, 472.0 s on huge pages. At 10,000 bulbs the page tables fit the cache, and the two
take the same time (44.5 and 44.3 s).

MESHBULB_HUGE_PAGES=0 turns this off.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

SWITCH = "MESHBULB_HUGE_PAGES"  # "0" turns it off; "1" marks a process already re-executed
TUNABLE = "glibc.malloc.hugetlb=1"
_THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
_GLIBC_WITH_HUGETLB = (2, 35)


def thp_mode() -> str | None:
    """The kernel's transparent huge page mode (always, madvise or never), None if unknown."""
    try:
        text = _THP_MODE.read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def glibc_version() -> tuple[int, int] | None:
    lib, version = platform.libc_ver()
    if lib != "glibc":
        return None
    try:
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def huge_page_env(environ: Mapping[str, str], glibc: tuple[int, int] | None,
                  mode: str | None) -> dict[str, str] | None:
    """The environment to re-execute with, or None when huge pages are off, unavailable or
    already in use."""
    if environ.get(SWITCH) in ("0", "1"):
        return None
    if glibc is None or glibc < _GLIBC_WITH_HUGETLB or mode not in ("always", "madvise"):
        return None
    env = dict(environ)
    env[SWITCH] = "1"
    env["PYTHONMALLOC"] = "malloc"
    tunables = environ.get("GLIBC_TUNABLES", "")
    env["GLIBC_TUNABLES"] = f"{tunables}:{TUNABLE}" if tunables else TUNABLE
    return env


def heap_in_use() -> str:
    """What this process's objects live on, for benchmark figures."""
    if os.environ.get(SWITCH) == "1" and os.environ.get("PYTHONMALLOC") == "malloc":
        return "glibc malloc on huge pages"
    return "pymalloc"


def reexec_on_huge_pages() -> None:
    """Replace this process by the same command on huge pages, when that applies; otherwise
    return. Only for a command started from the shell: sys.orig_argv must be this process's
    own command line."""
    env = huge_page_env(os.environ, glibc_version(), thp_mode())
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
