"""`meshbulb bench core`: figures for the protocol core, printed, never asserted.

- cpython_frames_per_s / micropython_frames_per_s: Node.receive()+tick() on the workload mix
  (meshbulb_testing/workload.py), the MicroPython figure from the real unix port running the
  core as mpy-cross bytecode;
- micropython_node_bytes: heap held by one node with full tables, from gc.mem_alloc();
- minimesh: 200 nodes, 3 gateways, 10 % frame loss (meshbulb_testing/scenario.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from meshbulb_testing import bench as core_bench
from meshbulb_testing import scenario

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
from meshbulb_testing import bench
bench.main(['bench', {frames!r}])
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["core"], help="what to benchmark")
    parser.add_argument("--frames", type=int, default=50_000, help="frames per interpreter")
    parser.add_argument("--nodes", type=int, default=200, help="MiniMesh size")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def micropython_figures(frames: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="meshbulb-bench-") as tmp:
        tree = build_tree(Path(tmp) / "mpy")
        driver = Path(tmp) / "driver.py"
        driver.write_text(_DRIVER.format(tree=str(tree), frames=str(frames)))
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
    micro = micropython_figures(frames)
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


def run(args: argparse.Namespace) -> int:
    if args.frames < 1000:
        raise ToolError("--frames must be at least 1000")
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
