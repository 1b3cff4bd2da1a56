"""`meshbulb emulate`: N live host nodes and G gateways in one process, joined by the
loopback medium, with real proxies and a real exit in front of them.

Rules kept here:
1. Every node runs the real core with a mesh key (authenticated frames); gateways run the
   real exit service under the default owner policy, opened only for the --allow entries.
2. Layouts are seeded: "grid" (4-neighbour grid, gateways in opposite corners and spread
   between), "random" (random geometric graph, resampled until connected) or "line" (a
   chain, for measuring a known number of hops).
3. The proxies sit on the bulb farthest from every gateway (by hop count in the true graph),
   so what works there works anywhere in the mesh.
4. stop_gateway() is a gateway's own shutdown: it retracts (health 0) and goes quiet once the
   retraction has been repeated (HostNode.retract).
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

from meshbulb.auth import Keyring
from meshbulb.config import Config
from meshbulb.identity import Identity
from meshbulb.node import Node

from .connector import ExitConnector
from .exit import ExitService
from .host import HostNode
from .medium import LoopbackMedium
from .metrics import Metrics, declare_gateway_metrics
from .policy import FairBandwidth, OwnerPolicy, Refusals, SessionLimits
from .proxy import HttpConnectProxy, Socks5Proxy

MESH_KEY = b"meshbulb emulator mesh key"


def grid_edges(count: int) -> list[tuple[int, int]]:
    cols = math.ceil(math.sqrt(count))
    edges = []
    for i in range(count):
        if (i + 1) % cols and i + 1 < count:
            edges.append((i, i + 1))
        if i + cols < count:
            edges.append((i, i + cols))
    return edges


def random_edges(count: int, rng: random.Random, degree: float = 4.0) -> list[tuple[int, int]]:
    radius = math.sqrt(degree / (math.pi * count))
    while True:
        points = [(rng.random(), rng.random()) for _ in range(count)]
        edges = [(i, j) for i in range(count) for j in range(i + 1, count)
                 if math.dist(points[i], points[j]) <= radius]
        if len(hops_from(count, edges, [0])) == count:
            return edges


def hops_from(count: int, edges: list[tuple[int, int]], sources: list[int]) -> dict[int, int]:
    adjacent: dict[int, list[int]] = {i: [] for i in range(count)}
    for a, b in edges:
        adjacent[a].append(b)
        adjacent[b].append(a)
    hops = {s: 0 for s in sources}
    frontier = list(sources)
    while frontier:
        nxt = []
        for i in frontier:
            for j in adjacent[i]:
                if j not in hops:
                    hops[j] = hops[i] + 1
                    nxt.append(j)
        frontier = nxt
    return hops


@dataclass
class Endpoint:
    node: int
    hops: int
    socks_port: int
    http_port: int


class Emulator:
    def __init__(self, nodes: int, gateways: int, layout: str = "grid", loss: float = 0.0,
                 allow: tuple[str, ...] = (), seed: int = 1, latency_ms: float = 1.0,
                 config: Config | None = None, bandwidth_kbit_s: int = 0) -> None:
        if nodes < 2 or not 1 <= gateways < nodes:
            raise ValueError("need at least 2 nodes and 1..nodes-1 gateways")
        if layout not in ("grid", "random", "line"):
            raise ValueError("layout must be grid, random or line")
        self.count = nodes
        self.rng = random.Random(seed)
        self.medium = LoopbackMedium(loss=loss, latency_ms=latency_ms, seed=seed)
        self.config = config or Config(gateway_settle_ms=2000)
        if layout == "grid":
            self.edges = grid_edges(nodes)
        elif layout == "line":
            self.edges = [(i, i + 1) for i in range(nodes - 1)]
        else:
            self.edges = random_edges(nodes, self.rng)
        step = (nodes - 1) / max(1, gateways - 1)
        self.gateway_indices = sorted({round(k * step) for k in range(gateways)})
        self.allow = allow
        self.bandwidth_bytes_per_s = bandwidth_kbit_s * 1000 // 8  # each gateway's cap
        self.hosts: list[HostNode] = []
        self.exits: dict[int, ExitService] = {}
        self.metrics = Metrics()
        self.refusals = Refusals(declare_gateway_metrics(self.metrics).refusals)
        self.connector: ExitConnector | None = None
        self.endpoint: Endpoint | None = None
        self._servers: list[asyncio.Server] = []
        self._proxies: list[Socks5Proxy | HttpConnectProxy] = []

    def farthest(self) -> tuple[int, int]:
        hops = hops_from(self.count, self.edges, self.gateway_indices)
        node = max(range(self.count), key=lambda i: (hops.get(i, -1), i))
        return node, hops[node]

    async def start(self, socks_port: int = 0, http_port: int = 0,
                    listen: str = "127.0.0.1") -> Endpoint:
        loop = asyncio.get_running_loop()
        identities = [Identity(self.rng.randbytes(32)) for _ in range(self.count)]
        now_ms = int(loop.time() * 1000) & ((1 << 30) - 1)
        for i, identity in enumerate(identities):
            gateway = i in self.gateway_indices
            node = Node(identity.address, self.config, self.rng.randrange, now_ms,
                        gateway=gateway, keyring=Keyring(1, MESH_KEY))
            host = HostNode(node, loop)
            host.add_link(self.medium.attach(identity.address, 0, host.on_frame(0)))
            self.hosts.append(host)
            if gateway:
                service = ExitService(host, identity, OwnerPolicy.for_emulator(self.allow),
                                      SessionLimits(128, 512),
                                      FairBandwidth(self.bandwidth_bytes_per_s), self.refusals)
                self.exits[i] = service
                host.add_app(service)
        for a, b in self.edges:
            self.medium.connect(identities[a].address, identities[b].address)
        for host in self.hosts:
            host.start()
        far, hops = self.farthest()
        connector = ExitConnector(self.hosts[far])
        self.hosts[far].add_app(connector)
        self.connector = connector
        self._proxies = [Socks5Proxy(connector), HttpConnectProxy(connector)]
        socks = await self._proxies[0].start(listen, socks_port)
        http = await self._proxies[1].start(listen, http_port)
        self._servers = [socks, http]
        self.endpoint = Endpoint(far, hops, socks.sockets[0].getsockname()[1],
                                 http.sockets[0].getsockname()[1])
        return self.endpoint

    async def wait_for_routes(self, timeout_s: float = 30.0) -> None:
        """Until every node has a route to a gateway."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while any(h.node.best_gateway() is None for i, h in enumerate(self.hosts)
                  if i not in self.gateway_indices):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the mesh did not converge")
            await asyncio.sleep(0.1)

    def serving_gateway(self) -> int | None:
        if self.connector is None or self.connector.gateway is None:
            return None
        for i in self.gateway_indices:
            if self.hosts[i].node.address == self.connector.gateway:
                return i
        return None

    async def stop_gateway(self, index: int, max_wait_s: float = 5.0) -> None:
        """Rule 4."""
        host = self.hosts[index]
        await host.retract(max_wait_s)
        host.stop()
        for link in host.links.values():
            close = getattr(link, "close", None)
            if close is not None:
                close()
        service = self.exits.pop(index, None)
        if service is not None:
            await service.aclose()

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for proxy in self._proxies:
            await proxy.aclose()
        for index in list(self.exits):
            await self.exits.pop(index).aclose()
        for host in self.hosts:
            host.stop()
