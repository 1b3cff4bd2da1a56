"""`meshbulb fuzz core`: mutated frames against an established node, checking its invariants."""

from __future__ import annotations

import argparse
import json
import sys
import time

from meshbulb_testing import fuzz as core_fuzz

from .errors import ToolError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["core"], help="what to fuzz")
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ToolError("--frames must be positive")
    started = time.perf_counter()

    def progress(done: int) -> None:
        rate = done / max(1e-9, time.perf_counter() - started)
        print(f"\r  {done:,} frames  ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)

    try:
        truncated = core_fuzz.truncations_rejected(seed=args.seed)
        figures = core_fuzz.run(args.frames, seed=args.seed, report_every=10_000,
                                progress=progress)
    except AssertionError as e:
        raise ToolError(f"fuzz found a violation (seed {args.seed}): {e}") from e
    finally:
        print(file=sys.stderr)
    figures["truncations_rejected"] = truncated
    figures["wall_s"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"fuzz core: {figures['frames']:,} mutated frames, {truncated:,} truncations, "
          f"seed {args.seed}: no violation in {figures['wall_s']} s")
    print(f"  rejected {figures['rejected']:,}, accepted {figures['accepted']:,}")
    for reason, count in sorted(figures["drops"].items(), key=lambda kv: -kv[1]):
        print(f"  {reason:16} {count:,}")
    return 0
