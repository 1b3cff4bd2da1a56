"""`meshbulb gateway --config FILE`: share this machine's internet connection with the mesh."""

from __future__ import annotations

import argparse
import asyncio

from meshbulb_gateway.config import ConfigError, load_config
from meshbulb_gateway.framing import LinkError
from meshbulb_gateway.runner import run_gateway
from meshbulb_gateway.store import StoreError

from .errors import ToolError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="gateway TOML config")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        raise ToolError(str(e)) from None
    if args.check:
        print(f"{args.config}: ok")
        return 0
    try:
        asyncio.run(run_gateway(cfg))
    except (ConfigError, LinkError, StoreError) as e:
        raise ToolError(str(e)) from None
    return 0
