"""The meshbulb command as a user runs it: a real subprocess, real output, real exit codes."""

import json
import subprocess
import sys
from pathlib import Path

MESHBULB = str(Path(sys.executable).parent / "meshbulb")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHBULB, *args], capture_output=True, text=True, timeout=600)


def test_demo_prints_convergence_routes_delivery_and_overhead() -> None:
    proc = run("demo", "--nodes", "60", "--gateways", "2", "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for needle in ("convergence", "carries", "hops to gateway", "delivery", "routing loops",
                   "control overhead", "routes:"):
        assert needle in out, needle
    assert "routing loops        0" in out


def test_bench_core_prints_every_figure_as_json() -> None:
    proc = run("bench", "core", "--json", "--frames", "2000", "--nodes", "60")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["cpython_frames_per_s"] > 0
    assert figures["micropython_frames_per_s"] > 0
    assert 0 < figures["micropython_node_bytes"] < 200_000
    assert figures["micropython_node_tables"]["neighbours"] == 20
    assert figures["micropython_node_tables"]["gateways"] == 8
    assert figures["micropython_node_tables"]["routes"] == 64
    assert figures["micropython_node_tables"]["dedup"] == 256
    mesh = figures["minimesh"]
    for key in ("delivery_ratio", "loops", "control_bytes_per_node_s", "convergence_s"):
        assert key in mesh, key


def test_fuzz_core_runs_and_reports() -> None:
    proc = run("fuzz", "core", "--frames", "3000", "--json")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["frames"] == 3000 and figures["truncations_rejected"] > 0


def test_bad_arguments_get_one_clear_error_line() -> None:
    proc = run("demo", "--nodes", "1")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "meshbulb: --nodes must be between 2 and 5000"
    proc = run("bench", "core", "--frames", "5")
    assert proc.returncode == 1 and proc.stderr.startswith("meshbulb: --frames")
    proc = run("bench", "nothing")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_bench_crypto_prints_every_figure_on_both_interpreters() -> None:
    proc = run("bench", "crypto", "--json", "--frames", "2000")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    for name in ("x25519_ms", "frame_verify_us", "seal_open_us", "core_frame_us",
                 "verify_to_frame_ratio"):
        for interpreter in ("cpython", "micropython"):
            assert figures[f"{name}_{interpreter}"] > 0, (name, interpreter)
