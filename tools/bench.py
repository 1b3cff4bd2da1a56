"""`meshbulb bench core|crypto`: figures, printed, never asserted.

core:

- cpython_frames_per_s / micropython_frames_per_s: Node.receive()+tick() on the workload mix
  (meshbulb_testing/workload.py), the MicroPython figure from the real unix port running the
  core as mpy-cross bytecode;
- micropython_node_bytes: heap held by one node with full tables, from gc.mem_alloc();
- minimesh: 200 nodes, 3 gateways, 10 % frame loss (meshbulb_testing/scenario.py).

gateway (meshbulb_gateway/bench.py): stream throughput through a 5-hop emulated mesh and
through the exit over UDP, CPU seconds per MB, memory per held stream.

crypto (meshbulb_testing/bench_crypto.py, on both interpreters): one X25519, verifying one
frame's MIC, sealing and opening a 200-byte payload; and how verifying a frame compares with
the core's whole per-frame cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from meshbulb_testing import bench as core_bench
from meshbulb_testing import bench_crypto, scenario

from .errors import ToolError
from .mpy import build_tree, micropython_exe

TARGETS = {
    "micropython_node_bytes_max": 40_000,
    "minimesh_delivery_ratio_min": 0.99,
    "minimesh_loops": 0,
    "minimesh_control_bytes_per_node_s_max": 30,
}
MICROPYTHON_HEAP = "512k"
_DRIVER = """\
import sys
sys.path.insert(0, {tree!r})
from meshbulb_testing import {module}
{module}.main(['bench', {arg!r}])
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["core", "crypto", "gateway"],
                        help="what to benchmark")
    parser.add_argument("--frames", type=int, default=50_000, help="frames per interpreter")
    parser.add_argument("--nodes", type=int, default=200, help="MiniMesh size")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def micropython_figures(module: str, arg: int) -> dict[str, Any]:
    """Run meshbulb_testing.<module>.main under the MicroPython unix port, on mpy-cross
    bytecode, and return the JSON object it printed."""
    with tempfile.TemporaryDirectory(prefix="meshbulb-bench-") as tmp:
        tree = build_tree(Path(tmp) / "mpy")
        driver = Path(tmp) / "driver.py"
        driver.write_text(_DRIVER.format(tree=str(tree), module=module, arg=str(arg)))
        cmd = [micropython_exe(), "-X", f"heapsize={MICROPYTHON_HEAP}", str(driver)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise ToolError(f"micropython benchmark failed ({proc.returncode}):\n"
                        f"{proc.stdout}{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def core_figures(frames: int, nodes: int) -> dict[str, Any]:
    rate, internal = core_bench.frames_per_s(frames)
    if internal:
        raise ToolError(f"the core counted {internal} internal errors during the benchmark")
    micro = micropython_figures("bench", frames)
    started = time.perf_counter()
    mesh = scenario.run(nodes=nodes, gateways=3, loss=0.1, seed=1)
    mesh_wall_s = time.perf_counter() - started
    return {
        "cpython_frames_per_s": int(rate),
        "micropython_frames_per_s": micro["frames_per_s"],
        "micropython_node_bytes": micro.get("node_bytes"),
        "micropython_node_tables": micro.get("tables"),
        "micropython_heap": MICROPYTHON_HEAP,
        "frames": frames,
        "minimesh": {
            "nodes": mesh["nodes"],
            "gateways": mesh["gateways"],
            "loss": mesh["loss"],
            "delivery_ratio": mesh["delivery_ratio"],
            "loops": mesh["loops"],
            "control_bytes_per_node_s": mesh["control_bytes_per_node_s"],
            "convergence_s": mesh["convergence_s"],
            "mean_hops": round(mesh["mean_hops"], 2),
            "wall_s": round(mesh_wall_s, 2),
        },
        "targets": TARGETS,
    }


def crypto_figures(frames: int) -> dict[str, Any]:
    host = bench_crypto.figures()
    micro = micropython_figures("bench_crypto", 200)
    host_rate, _ = core_bench.frames_per_s(frames)
    micro_rate = micropython_figures("bench", frames)["frames_per_s"]
    host_frame_us = 1e6 / host_rate
    micro_frame_us = 1e6 / micro_rate
    return {
        "x25519_ms_cpython": host["x25519_ms"],
        "x25519_ms_micropython": micro["x25519_ms"],
        "frame_verify_us_cpython": host["frame_verify_us"],
        "frame_verify_us_micropython": micro["frame_verify_us"],
        "seal_open_us_cpython": host["seal_open_us"],
        "seal_open_us_micropython": micro["seal_open_us"],
        "core_frame_us_cpython": round(host_frame_us, 2),
        "core_frame_us_micropython": round(micro_frame_us, 2),
        "verify_to_frame_ratio_cpython": round(host["frame_verify_us"] / host_frame_us, 3),
        "verify_to_frame_ratio_micropython": round(micro["frame_verify_us"] / micro_frame_us, 3),
        "payload_bytes": 200,
    }


def run(args: argparse.Namespace) -> int:
    if args.frames < 1000:
        raise ToolError("--frames must be at least 1000")
    if args.target == "gateway":
        from meshbulb_gateway.bench import gateway_figures

        result = asyncio.run(gateway_figures())
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    if args.target == "crypto":
        figures = crypto_figures(args.frames)
        if args.json:
            print(json.dumps(figures))
        else:
            print("bench crypto")
            for key, value in figures.items():
                print(f"  {key:36} {value}")
        return 0
    figures = core_figures(args.frames, args.nodes)
    if args.json:
        print(json.dumps(figures))
        return 0
    mm = figures["minimesh"]
    print("bench core")
    print(f"  cpython_frames_per_s       {figures['cpython_frames_per_s']:,}")
    print(f"  micropython_frames_per_s   {figures['micropython_frames_per_s']:,}  (unix port)")
    print(f"  micropython_node_bytes     {figures['micropython_node_bytes']:,}  "
          f"(target <= {TARGETS['micropython_node_bytes_max']:,})")
    print(f"  minimesh ({mm['nodes']} nodes, {mm['gateways']} gateways, {mm['loss']:.0%} loss)")
    for key in ("delivery_ratio", "loops", "control_bytes_per_node_s", "convergence_s",
                "mean_hops", "wall_s"):
        print(f"    {key:26} {mm[key]}")
    return 0
