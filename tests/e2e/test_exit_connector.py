"""The host node's exit connector while the node's routes move: a stream opened after the
route to the session's gateway went opens in the next gateway's session, and one asked for
before the node has any gateway opens once it has one; neither hangs or fails."""

from __future__ import annotations

import asyncio

from e2e_harness import origin

from meshbulb_gateway.connector import ExitConnector
from meshbulb_gateway.emulator import Emulator


async def _line_mesh(port: int, nodes: int, gateways: int) -> tuple[Emulator, ExitConnector]:
    """A started emulated line of bulbs, the exit open to the origin on port."""
    emulator = Emulator(nodes=nodes, gateways=gateways, layout="line", seed=5,
                        allow=(f"127.0.0.1:{port}",))
    await emulator.start()
    assert emulator.connector is not None
    return emulator, emulator.connector


def test_a_stream_opened_after_the_route_went_opens_through_the_next_gateway() -> None:
    async def scenario(port: int) -> tuple[bytes | None, bytes | None, bytes | None]:
        emulator, connector = await _line_mesh(port, nodes=6, gateways=2)
        try:
            await emulator.wait_for_routes(30.0)
            first = await connector.open(f"127.0.0.1:{port}")
            first.close()
            serving = emulator.serving_gateway()
            assert serving is not None
            before = connector.gateway
            # The serving gateway's uplink goes down while the connector sends nothing: the
            # node drops its route and selects the other gateway; the session stays until the
            # next send, the new stream's OPEN, ends it.
            host = emulator.hosts[serving]
            host.execute(host.node.set_uplink(0, 0, host.now_ms()))
            node = connector.host.node
            for _ in range(200):
                if node.gateways.find(before) is None and node.best_gateway() is not None:
                    break
                await asyncio.sleep(0.05)
            assert node.gateways.find(before) is None and node.best_gateway() != before
            assert connector.gateway == before  # the session has not noticed yet
            stream = await asyncio.wait_for(connector.open(f"127.0.0.1:{port}"), 15.0)
            stream.close()
            return before, connector.gateway, node.best_gateway()
        finally:
            await emulator.stop()

    with origin() as port:
        before, after, best = asyncio.run(scenario(port))
    assert after is not None and after != before and after == best


def test_a_stream_asked_for_before_the_node_has_a_gateway_opens_once_it_has_one() -> None:
    async def scenario(port: int) -> bytes | None:
        emulator, connector = await _line_mesh(port, nodes=4, gateways=1)
        try:
            assert connector.host.node.best_gateway() is None  # it has only just started
            stream = await asyncio.wait_for(connector.open(f"127.0.0.1:{port}"), 15.0)
            stream.close()
            return connector.gateway
        finally:
            await emulator.stop()

    with origin() as port:
        assert asyncio.run(scenario(port)) is not None
