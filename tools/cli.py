"""The `meshbulb` command: one table of subcommands, one error type, one place that reports.

Each entry of _COMMANDS maps a name to (handler, add_arguments). A handler takes the parsed
arguments and returns an exit code; it raises ToolError for anything the user should read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import bench, demo, emulate, fuzz, gateway, hugepages, node, sim
from .errors import ToolError

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {
    "demo": (demo.run, demo.add_arguments, "simulate a small in-memory mesh and print a report"),
    "bench": (bench.run, bench.add_arguments, "benchmarks that print figures"),
    "fuzz": (fuzz.run, fuzz.add_arguments, "feed mutated frames to the protocol core"),
    "gateway": (gateway.run, gateway.add_arguments, "share this internet connection with the mesh"),
    "node": (node.run, node.add_arguments, "join the mesh and offer SOCKS5/HTTP CONNECT proxies"),
    "emulate": (emulate.run, emulate.add_arguments, "a live mesh of host nodes on this machine"),
    "sim": (sim.run, sim.add_arguments, "the city simulator: run, bench, sweep"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshbulb", description="meshbulb mesh tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, add_arguments, summary) in _COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary)
        add_arguments(command)
        command.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None and args.command == "sim":  # started from the shell: a city's heap
        hugepages.reexec_on_huge_pages()
    try:
        code: int = args.handler(args)
    except ToolError as e:
        print(f"meshbulb: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("meshbulb: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
