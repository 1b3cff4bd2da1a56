"""`meshbulb demo`: a seeded in-memory mesh of real protocol-core nodes, and what it did."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from meshbulb_testing import scenario

from .errors import ToolError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=200, help="bulbs, gateways included")
    parser.add_argument("--gateways", type=int, default=3)
    parser.add_argument("--loss", type=float, default=0.1, help="frame loss per attempt")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    if args.nodes < 2 or args.nodes > 5000:
        raise ToolError("--nodes must be between 2 and 5000")
    if not 1 <= args.gateways < args.nodes:
        raise ToolError("--gateways must be at least 1 and fewer than --nodes")
    if not 0.0 <= args.loss < 1.0:
        raise ToolError("--loss must be in [0, 1)")
    print(
        f"meshbulb demo: {args.nodes} bulbs ({args.gateways} gateways) on a random geometric "
        f"graph, {args.loss:.0%} frame loss, seed {args.seed}"
    )
    started = time.perf_counter()
    result = scenario.run(nodes=args.nodes, gateways=args.gateways, loss=args.loss,
                          seed=args.seed)
    wall_s = time.perf_counter() - started
    mesh = result["mesh"]
    convergence = result["convergence_s"]
    print(f"  reachable bulbs      {result['reachable_fraction']:.1%} have a path to a gateway")
    if convergence is None:
        print("  convergence          not reached")
    else:
        print(f"  convergence          {convergence:.1f} s until every reachable bulb had a route")
    users: Counter[int] = Counter()
    for node in mesh.nodes:
        best = node.best_gateway()
        if best is not None and not node.is_gateway:
            users[mesh.index_of(best)] += 1
    for gw in mesh.gateway_indices():
        print(f"  gateway {mesh.nodes[gw].address.hex(':')}  carries {users[gw]} bulbs")
    hops = Counter(
        h for h in (scenario.hops_to_gateway(mesh, i) for i in range(len(mesh.nodes)))
        if h
    )
    histogram = "  ".join(f"{h}:{hops[h]}" for h in sorted(hops))
    print(f"  hops to gateway      mean {result['mean_hops']:.2f}, max {result['max_hops']}"
          f"   ({histogram})")
    far = max(range(len(mesh.nodes)), key=lambda i: scenario.hops_to_gateway(mesh, i) or 0)
    node = mesh.nodes[far]
    print(f"  farthest bulb        {node.address.hex(':')} routes:")
    for route in sorted(node.gateways.entries(), key=lambda r: r.metric):
        chosen = "*" if route is node.gateways.best() else " "
        print(f"    {chosen} gw {route.gw.hex(':')} via {route.next_hop.hex(':')} "
              f"metric {route.metric} seqno {route.seqno}")
    print(f"  delivery             {result['delivery_ratio']:.2%} of "
          f"{result['packets_sent']} packets to the internet")
    print(f"  routing loops        {result['loops']}")
    print(f"  control overhead     {result['control_bytes_per_node_s']:.1f} B/s per bulb "
          "in steady state")
    print(f"  simulated            {mesh.now_ms / 1000:.0f} s in {wall_s:.1f} s of wall time")
    return 0
