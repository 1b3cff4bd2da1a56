"""The gateway's own loop: uplink checks drive the health it announces, and shutdown
retracts it from the mesh first."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

from meshbulb_gateway.config import GatewayConfig, parse_config
from meshbulb_gateway.runner import Gateway


def config_text(tmp: Path, check_port: int) -> str:
    (tmp / "mesh.key").write_bytes(os.urandom(16))
    return f"""
[node]
key_file = "{tmp / 'node.key'}"
mesh_key_file = "{tmp / 'mesh.key'}"
key_id = 1
counter_file = "{tmp / 'counter'}"

[[link]]
type = "udp"
bind = "127.0.0.1:0"

[exit]
uplink_check_host = "127.0.0.1"
uplink_check_port = {check_port}
uplink_check_interval_s = 1

[metrics]
listen = ""
"""


def fast_checks(cfg: GatewayConfig) -> GatewayConfig:
    """The same config with checks every 50 ms (below what a config file may ask for)."""
    return dataclasses.replace(cfg, exit=dataclasses.replace(cfg.exit,
                                                             uplink_check_interval_s=0.05))


async def _health_becomes(gateway: Gateway, value: int, within_s: float = 10.0) -> int:
    """The health the gateway announces once it is value, or when within_s has passed: the
    checks run every 50 ms, but a loaded machine may run them late (fixed sleeps flaked)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while (gateway.host.node.control.gw_health != value
           and asyncio.get_running_loop().time() < deadline):
        await asyncio.sleep(0.02)
    return int(gateway.host.node.control.gw_health)


def test_two_failed_uplink_checks_retract_and_one_success_restores(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        gateway = Gateway(fast_checks(parse_config(config_text(tmp_path, port))))
        await gateway.start()
        loop_task = asyncio.create_task(gateway.uplink_loop())
        health = [await _health_becomes(gateway, 255)]  # uplink reachable
        server.close()
        await server.wait_closed()
        health.append(await _health_becomes(gateway, 0))  # after two failed checks
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        health.append(await _health_becomes(gateway, 255))  # back
        loop_task.cancel()
        await gateway.shutdown()
        health.append(gateway.host.node.control.gw_health)  # retracted on shutdown
        assert gateway.host.node.down_announced()  # and only after repeating it
        server.close()
        return health

    assert asyncio.run(scenario()) == [255, 0, 255, 0]


def test_the_counter_file_survives_a_restart_and_never_goes_back(tmp_path: Path) -> None:
    async def boot() -> int:
        gateway = Gateway(parse_config(config_text(tmp_path, 9)))
        await gateway.start()
        seq = gateway.host.node.fresh_nonce()  # a number from the persistent counter
        await gateway.shutdown()
        return int(seq)

    first = asyncio.run(boot())
    second = asyncio.run(boot())
    assert second > first
    assert int((tmp_path / "counter").read_text()) > second
