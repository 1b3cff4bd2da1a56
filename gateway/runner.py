"""`meshbulb gateway --config FILE`: a volunteer's gateway, from config to shutdown.

Rules kept here:
1. Startup refuses to run on any config or key problem, with one clear message.
2. A background check opens a TCP connection to the uplink check address every interval;
   two failures in a row announce health 0 (a retraction: bulbs move to other gateways at
   once), the next success announces full health again. Load is the share of session slots
   in use. The owner policy re-reads the router's own addresses whenever the uplink changes.
3. SIGINT/SIGTERM retract the gateway from the mesh first, wait until the node has repeated
   the retraction (about 2 s, at most RETRACT_MAX_WAIT_S), then close everything.
4. Logs carry counts and states, never destinations, clients or payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
from typing import Any

from meshbulb.auth import Keyring
from meshbulb.config import Config
from meshbulb.identity import Identity
from meshbulb.node import Node
from meshbulb.wire import TYPE_NAMES

from .config import GatewayConfig, load_mesh_key, load_or_create_key
from .exit import ExitService
from .host import HostNode
from .metrics import GatewayMetrics, Metrics, declare_gateway_metrics, serve_metrics
from .policy import FairBandwidth, OwnerPolicy, Refusals, SessionLimits
from .serial_link import SerialLink
from .store import FileStore
from .udp_link import UdpLink

log = logging.getLogger("meshbulb.gateway")
RETRACT_MAX_WAIT_S = 5.0  # the retraction's repeats take about 2.2 s


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"ts": round(record.created, 3), "level": record.levelname.lower(),
                           "logger": record.name, "msg": record.getMessage()})


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


async def open_links(host: HostNode, cfg: GatewayConfig) -> list[Any]:
    links: list[Any] = []
    for link_id, spec in enumerate(cfg.links):
        link: Any
        if spec.type == "udp":
            link = UdpLink(link_id, spec.bind_address, spec.peer_addresses, host.on_frame(link_id))
        else:
            link = SerialLink(link_id, spec.port, host.on_frame(link_id), spec.baudrate)
        await link.open()
        host.add_link(link)
        links.append(link)
    return links


class Gateway:
    def __init__(self, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        self.loop = asyncio.get_running_loop()
        identity = Identity(load_or_create_key(cfg.node.key_file))
        keyring = Keyring(cfg.node.key_id, load_mesh_key(cfg.node.mesh_key_file))
        now_ms = int(self.loop.time() * 1000) & ((1 << 30) - 1)
        node = Node(identity.address, Config(mtu=cfg.node.mtu), random.SystemRandom().randrange,
                    now_ms, gateway=True, links=tuple(range(len(cfg.links))), keyring=keyring,
                    seq_store=FileStore(cfg.node.counter_file))
        self.host = HostNode(node, self.loop)
        self.metrics = Metrics()
        self.gm: GatewayMetrics = declare_gateway_metrics(self.metrics)
        self.policy = OwnerPolicy(cfg.policy)
        self.limits = SessionLimits(cfg.policy.max_sessions_per_client, cfg.policy.max_sessions)
        self.bandwidth = FairBandwidth(cfg.policy.bandwidth_bytes_per_s)
        self.refusals = Refusals(self.gm.refusals)
        self.service = ExitService(self.host, identity, self.policy, self.limits, self.bandwidth,
                                   self.refusals, connect_timeout_s=cfg.exit.connect_timeout_s)
        self.links: list[Any] = []
        self.uplink_up = True
        self._failures = 0
        self._seen: dict[tuple[str, str], int] = {}
        self.metrics.before_render(self._update_metrics)

    async def start(self) -> None:
        self.links = await open_links(self.host, self.cfg)
        self.host.add_app(self.service)
        self.host.start()
        log.info("gateway %s up on %d link(s)", self.host.node.address.hex(":"), len(self.links))

    def _announce(self) -> None:
        load = min(255, self.limits.total * 255 // max(1, self.cfg.policy.max_sessions))
        health = 255 if self.uplink_up else 0
        self.host.execute(self.host.node.set_uplink(load, health, self.host.now_ms()))

    async def check_uplink(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.cfg.exit.uplink_check_host,
                                        self.cfg.exit.uplink_check_port), 5.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def uplink_loop(self) -> None:
        """Rule 2."""
        while True:
            ok = await self.check_uplink()
            self._failures = 0 if ok else self._failures + 1
            up = ok or self._failures < 2
            if up != self.uplink_up:
                self.uplink_up = up
                self.policy.refresh()
                log.warning("uplink %s", "back up" if up else "down: retracting from the mesh")
            self._announce()
            await asyncio.sleep(self.cfg.exit.uplink_check_interval_s)

    def _sync_counter(self, counter: Any, label: str, key: str, value: int) -> None:
        old = self._seen.get((label, key), 0)
        if value > old:
            counter.inc(value - old, **{label: key})
            self._seen[(label, key)] = value

    def _update_metrics(self) -> None:
        node = self.host.node
        stats = node.stats.snapshot()
        self.gm.uplink_up.set(1 if self.uplink_up else 0)
        self.gm.uplink_health.set(node.control.gw_health)
        self.gm.neighbours.set(len(node.neighbours))
        self.gm.routes.set(len(node.gateways), table="gateways")
        self.gm.routes.set(len(node.routes), table="bulbs")
        for link in self.links:
            self.gm.link_up.set(1 if link.is_open else 0, link=str(link.link_id))
        for name in TYPE_NAMES[1:]:
            self._sync_counter(self.gm.frames_in, "type", name, stats["frames_in"][name])
            self._sync_counter(self.gm.frames_out, "type", name, stats["frames_out"][name])
        for reason, count in stats["drops"].items():
            self._sync_counter(self.gm.drops, "reason", reason, count)
        self.gm.sessions.set(self.service.open_streams())
        self.gm.clients.set(self.service.sharing_clients())
        self.gm.upload_backlog.set(self.service.upload_backlog_bytes())
        self._sync_counter(self.gm.exit_bytes, "direction", "up", self.service.bytes_up)
        self._sync_counter(self.gm.exit_bytes, "direction", "down", self.service.bytes_down)

    async def shutdown(self) -> None:
        """Rule 3."""
        log.info("shutting down: retracting from the mesh")
        await self.host.retract(RETRACT_MAX_WAIT_S)
        self.host.stop()
        await self.service.aclose()
        for link in self.links:
            link.close()


async def run_gateway(cfg: GatewayConfig) -> None:
    setup_logging(cfg.log.level, cfg.log.format)
    gateway = Gateway(cfg)
    await gateway.start()
    tasks = []
    if cfg.exit.enabled:
        tasks.append(asyncio.create_task(gateway.uplink_loop()))
    server = None
    if cfg.metrics.listen_address is not None:
        host, port = cfg.metrics.listen_address
        server = await serve_metrics(gateway.metrics, host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    for task in tasks:
        task.cancel()
    if server is not None:
        server.close()
    await gateway.shutdown()
