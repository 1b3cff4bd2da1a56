"""`meshbulb emulate`: a live mesh of real host nodes on this machine, with a SOCKS5 and an
HTTP CONNECT proxy on the bulb farthest from every gateway. It prints one line on stdout,
"SOCKS5 127.0.0.1:<port> at node <id>, <h> hops from its gateway" (the HTTP CONNECT port goes
to stderr), and runs until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from meshbulb_gateway.emulator import Emulator

from .errors import ToolError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--layout", choices=["grid", "random", "line"], default="grid")
    parser.add_argument("--loss", type=float, default=0.0, help="frame loss per attempt")
    parser.add_argument("--allow", action="append", default=[], metavar="HOST:PORT",
                        help="let the exits reach this (otherwise refused) origin")
    parser.add_argument("--socks-port", type=int, default=1080)
    parser.add_argument("--http-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)


async def _run(args: argparse.Namespace) -> None:
    emulator = Emulator(args.nodes, args.gateways, layout=args.layout, loss=args.loss,
                        allow=tuple(args.allow), seed=args.seed)
    try:
        endpoint = await emulator.start(socks_port=args.socks_port, http_port=args.http_port)
    except OSError as e:
        raise ToolError(f"cannot listen: {e.strerror}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    node_address = emulator.hosts[endpoint.node].node.address.hex(":")
    print(f"SOCKS5 127.0.0.1:{endpoint.socks_port} at node {node_address}, "
          f"{endpoint.hops} hops from its gateway", flush=True)
    print(f"HTTP CONNECT 127.0.0.1:{endpoint.http_port} at the same node", file=sys.stderr,
          flush=True)
    await stop.wait()
    await emulator.stop()


def run(args: argparse.Namespace) -> int:
    if args.nodes < 2 or not 1 <= args.gateways < args.nodes:
        raise ToolError("need --nodes >= 2 and 1 <= --gateways < --nodes")
    if not 0.0 <= args.loss < 1.0:
        raise ToolError("--loss must be in [0, 1)")
    asyncio.run(_run(args))
    return 0
