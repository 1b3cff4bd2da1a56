"""`meshbulb node`: join the mesh from a laptop through a UDP link or a USB-attached bulb, and
offer SOCKS5 and HTTP CONNECT proxies that reach the internet through the best gateway."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
from typing import Any

from meshbulb.auth import Keyring
from meshbulb.identity import Identity
from meshbulb.node import Node
from meshbulb_gateway.config import ConfigError, load_mesh_key, parse_host_port
from meshbulb_gateway.connector import ExitConnector
from meshbulb_gateway.framing import LinkError
from meshbulb_gateway.host import HostNode
from meshbulb_gateway.proxy import HttpConnectProxy, Socks5Proxy
from meshbulb_gateway.serial_link import SerialLink
from meshbulb_gateway.udp_link import UdpLink

from .errors import ToolError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    link = parser.add_mutually_exclusive_group(required=True)
    link.add_argument("--link", metavar="udp://BIND@PEER[,PEER]",
                      help="UDP link, e.g. udp://0.0.0.0:4210@192.168.1.50:4210")
    link.add_argument("--serial", metavar="PORT", help="a bulb on USB serial, e.g. /dev/ttyUSB0")
    parser.add_argument("--mesh-key", required=True, metavar="FILE", help="the mesh key file")
    parser.add_argument("--key-id", type=int, default=1)
    parser.add_argument("--socks", default="127.0.0.1:1080", metavar="HOST:PORT")
    parser.add_argument("--http", default="127.0.0.1:8080", metavar="HOST:PORT")


def parse_udp_link(text: str) -> tuple[tuple[str, int], list[tuple[str, int]]]:
    if not text.startswith("udp://") or "@" not in text:
        raise ToolError(f"--link {text!r}: expected udp://BIND_HOST:PORT@PEER_HOST:PORT[,...]")
    bind, _, peers = text[len("udp://"):].partition("@")
    try:
        return (parse_host_port(bind, allow_port_zero=True),
                [parse_host_port(p) for p in peers.split(",") if p])
    except ValueError as e:
        raise ToolError(f"--link: {e}") from None


async def _run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    identity = Identity(os.urandom(32))
    try:
        keyring = Keyring(args.key_id, load_mesh_key(args.mesh_key))
        socks_host, socks_port = parse_host_port(args.socks, allow_port_zero=True)
        http_host, http_port = parse_host_port(args.http, allow_port_zero=True)
    except ConfigError as e:
        raise ToolError(str(e)) from None
    except ValueError as e:
        raise ToolError(f"--socks/--http: {e}") from None
    node = Node(identity.address, None, random.SystemRandom().randrange,
                int(loop.time() * 1000) & ((1 << 30) - 1), keyring=keyring)
    host = HostNode(node, loop)
    link: Any
    if args.serial:
        link = SerialLink(0, args.serial, host.on_frame(0))
    else:
        bind, peers = parse_udp_link(args.link)
        link = UdpLink(0, bind, peers, host.on_frame(0))
    try:
        await link.open()
    except LinkError as e:
        raise ToolError(str(e)) from None
    host.add_link(link)
    connector = ExitConnector(host)
    host.add_app(connector)
    host.start()
    socks = await Socks5Proxy(connector).start(socks_host, socks_port)
    http = await HttpConnectProxy(connector).start(http_host, http_port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    socks_port = socks.sockets[0].getsockname()[1]
    http_port = http.sockets[0].getsockname()[1]
    print(f"node {identity.address.hex(':')}: SOCKS5 {socks_host}:{socks_port}, "
          f"HTTP CONNECT {http_host}:{http_port}", flush=True)
    await stop.wait()
    socks.close()
    http.close()
    host.stop()
    link.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(_run(args))
    return 0
