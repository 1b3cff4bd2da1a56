"""`meshbulb sim` re-executes itself once on glibc malloc with huge pages (tools/hugepages.py):
when it does, what it passes on, and that the switch turns it off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from meshbulb_tools.hugepages import (
    SWITCH,
    TUNABLE,
    glibc_version,
    huge_page_env,
    thp_mode,
)

MESHBULB = str(Path(sys.executable).parent / "meshbulb")


def test_a_recent_glibc_with_huge_pages_gets_malloc_and_the_tunable() -> None:
    env = huge_page_env({"HOME": "/root"}, (2, 36), "madvise")
    assert env is not None
    assert env["PYTHONMALLOC"] == "malloc" and env["GLIBC_TUNABLES"] == TUNABLE
    assert env[SWITCH] == "1" and env["HOME"] == "/root"


def test_the_users_own_tunables_are_kept() -> None:
    env = huge_page_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, (2, 39), "always")
    assert env is not None
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + TUNABLE


def test_no_reexec_where_it_cannot_help_or_was_done() -> None:
    assert huge_page_env({}, (2, 31), "always") is None  # no hugetlb tunable before 2.35
    assert huge_page_env({}, None, "always") is None  # musl and others
    assert huge_page_env({}, (2, 36), "never") is None
    assert huge_page_env({}, (2, 36), None) is None  # no THP in this kernel
    assert huge_page_env({SWITCH: "1"}, (2, 36), "madvise") is None  # already re-executed
    assert huge_page_env({SWITCH: "0"}, (2, 36), "madvise") is None  # turned off


def _bench_heap(env: dict[str, str]) -> str:
    proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", "16", "--minutes", "0.2",
                           "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    heap: str = json.loads(proc.stdout.strip().splitlines()[-1])["heap"]
    return heap


def test_the_command_runs_on_huge_pages_where_the_machine_has_them() -> None:
    env = {k: v for k, v in os.environ.items() if k not in (SWITCH, "PYTHONMALLOC")}
    expected = ("glibc malloc on huge pages"
                if huge_page_env(env, glibc_version(), thp_mode()) is not None else "pymalloc")
    assert _bench_heap(env) == expected


def test_the_switch_keeps_pymalloc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    env[SWITCH] = "0"
    assert _bench_heap(env) == "pymalloc"
