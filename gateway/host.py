"""The asyncio driver around one protocol-core Node: its links, its timer, its applications.

Rules kept here:
1. Time given to the core is the event loop's clock in milliseconds, wrapped to the core's
   30-bit tick; deadlines come back as ticks and are turned into loop.call_at delays.
2. After every call into the node (a frame, a timer, an application send) the driver executes
   the returned actions at once and re-arms one timer for the earliest of the node's and the
   applications' deadlines.
3. Unicast verdicts from a link (True = acknowledged, False = failed) are reported to the node
   as link_ok/link_failed; links without acknowledgements (UDP, serial) return None.
4. An application is any object with on_deliver(src, port, payload, now_ms), tick(now_ms)
   (both returning node actions) and next_deadline_ms(). It sees every delivered payload.
5. Errors raised by one application are caught here, counted and logged once per kind, so one
   bad stream never stops the node. Nothing logs destinations or payloads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from meshbulb.compat import ticks_diff, ticks_earliest
from meshbulb.node import ACT_DELIVER, ACT_TX, Node

log = logging.getLogger("meshbulb.host")
_TICK_MASK = (1 << 30) - 1
Action = tuple[Any, ...]


class Link(Protocol):
    link_id: int

    def send(self, link_addr: bytes | None, frame: bytes) -> bool | None: ...


class App(Protocol):
    def on_deliver(self, src: bytes, port: int, payload: bytes, now_ms: int) -> list[Action]: ...

    def tick(self, now_ms: int) -> list[Action]: ...

    def next_deadline_ms(self) -> int | None: ...


class HostNode:
    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.node = node
        self.loop = loop or asyncio.get_event_loop()
        self.links: dict[int, Link] = {}
        self.apps: list[App] = []
        self.app_errors = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running = False

    def now_ms(self) -> int:
        return int(self.loop.time() * 1000) & _TICK_MASK

    def add_link(self, link: Link) -> None:
        self.links[link.link_id] = link

    def add_app(self, app: App) -> None:
        self.apps.append(app)
        self.schedule()

    def start(self) -> None:
        self._running = True
        self.schedule()

    async def retract(self, max_wait_s: float, poll_s: float = 0.05) -> bool:
        """A gateway's own shutdown: announce the uplink down (health 0) and wait until the
        node has repeated that retraction in full, at most max_wait_s. True if it has."""
        self.execute(self.node.set_uplink(0, 0, self.now_ms()))
        deadline_s = self.loop.time() + max_wait_s
        while not self.node.down_announced():
            if self.loop.time() >= deadline_s:
                return False
            await asyncio.sleep(poll_s)
        return True

    def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_frame(self, link_id: int) -> Any:
        """The callback a link calls with (frame, link_src, rssi_dbm)."""

        def receive(frame: bytes, link_src: bytes, rssi_dbm: int) -> None:
            if self._running:
                self.execute(self.node.receive(frame, link_id, link_src, rssi_dbm,
                                               self.now_ms()))

        return receive

    def execute(self, actions: Iterable[Action]) -> None:
        """Rule 2."""
        for action in list(actions):
            if action[0] == ACT_TX:
                _, link_id, link_addr, frame = action
                link = self.links.get(link_id)
                if link is None:
                    continue
                verdict = link.send(link_addr, frame)
                if verdict is True:
                    self.node.link_ok(link_id, link_addr, self.now_ms())
                elif verdict is False:
                    self.node.link_failed(link_id, link_addr, self.now_ms())
            elif action[0] == ACT_DELIVER:
                _, src, port, payload, _flags = action
                for app in self.apps:
                    self._run_app(app.on_deliver, src, port, payload, self.now_ms())
        self.schedule()

    def _run_app(self, fn: Any, *args: Any) -> None:
        try:
            actions = fn(*args)
        except Exception as e:  # rule 5: one application must not stop the node
            self.app_errors += 1
            log.warning("application error %s: %s", type(e).__name__, e)
            return
        if actions:
            self.execute(actions)

    def schedule(self) -> None:
        if not self._running:
            return
        deadline = self.node.next_deadline_ms()
        for app in self.apps:
            deadline = ticks_earliest(deadline, app.next_deadline_ms())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None:
            return
        delay_ms = max(0, ticks_diff(deadline, self.now_ms()))
        self._timer = self.loop.call_later(delay_ms / 1000, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._running:
            return
        now_ms = self.now_ms()
        self.execute(self.node.tick(now_ms))
        for app in self.apps:
            self._run_app(app.tick, now_ms)
        self.schedule()
