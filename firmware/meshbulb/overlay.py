# Exit sessions: end-to-end encrypted request/reply traffic between a bulb and a gateway
# over the mesh, and the bulb's defence against gateways that drop or tamper with it.
#
# Rules kept here:
# 1. Ports: KEY_PORT carries "what is your static key?" (1 byte, 0x3F) and the answer (the
#    32-byte key); HANDSHAKE_PORT carries session.py's message1/message2; SESSION_PORT carries
#    session packets. All go as unicast DATA to one gateway (never F_ANY_GW: only the
#    gateway holding the session can read it).
# 2. A bulb accepts a gateway's static key only when identity.address_of(key) is the
#    gateway's mesh address; keys of up to KEY_CACHE gateways are remembered.
# 3. A gateway fails when it does not answer a key request or a handshake within
#    handshake_timeout_ms, when it presents a key that is not bound to its address, when its
#    message2 does not verify, when a session packet from it does not open, or when a
#    request gets no reply within reply_timeout_ms. A failing gateway is penalised in the
#    node (Node.penalise_gateway), which moves internet traffic to the next best gateway,
#    and the client starts over with that one.
# 4. The client keeps one session, opened with the gateway the node selected, for as long as
#    it works and the node has a route to that gateway, even when the node meanwhile prefers
#    another (moving would cut every stream inside the session); and at most QUEUE_LEN
#    requests waiting for it or for their replies (replies come in order). When a gateway
#    fails, its unanswered requests go to the next one. It re-handshakes when the session
#    asks for a rekey. send() carries datagrams that expect no reply (a stream layer above
#    keeps its own timers and calls fail() when the gateway stops answering).
# 5. The server keeps at most max_clients clients; a new client replaces the oldest. A new
#    handshake from a known client does not displace its working session until a packet
#    opens under the new one (session.py's `confirmed`), so a replayed message1 cannot cut
#    a client off. The server never raises on a message; bad ones are counted in `rejected`.

from meshbulb.compat import ticks_add, ticks_diff
from meshbulb.identity import address_of
from meshbulb.session import Initiator, Responder, SessionError

KEY_PORT = 250
HANDSHAKE_PORT = 251
SESSION_PORT = 252
KEY_CACHE = 4
QUEUE_LEN = 4
_KEY_REQUEST = b"?"


class ExitClient:
    """The bulb side. Feed it deliveries on the three ports and call tick() at its deadline;
    every method returns the node actions to execute."""

    def __init__(self, node, random_bytes, handshake_timeout_ms=3000, reply_timeout_ms=5000,
                 on_message=None, on_session=None):
        self.node = node
        self._on_message = on_message  # called with (gateway, plaintext) instead of `replies`
        self._on_session = on_session  # called with (gateway or None) when the session changes
        self._random = random_bytes
        self.handshake_timeout_ms = handshake_timeout_ms
        self.reply_timeout_ms = reply_timeout_ms
        self._keys = {}
        self._gw = None
        self._initiator = None
        self._session = None
        self._deadline_ms = None
        self._queue = []
        self._inflight = []
        self._wanted = False  # a datagram user wants a session (send() was called)
        self.replies = []  # (gateway, plaintext) for the application
        self.failures = 0

    def _send(self, actions, dst, port, payload, now_ms):
        actions.extend(self.node.send(dst, port, payload, now_ms))

    def request(self, payload, now_ms):
        """Send payload to the gateway inside a session (opening one if needed)."""
        actions = []
        gw = self._target()
        if gw is None:
            return actions
        if gw != self._gw:
            self._start(gw, now_ms, actions)
        if len(self._queue) + len(self._inflight) >= QUEUE_LEN:
            return actions
        if self._session is None:
            self._queue.append(payload)
            return actions
        self._seal_and_send(payload, now_ms, actions)
        return actions

    def _target(self):
        """Rule 4: the gateway to use now, or None."""
        if self._gw is not None and self.node.gateways.find(self._gw) is not None:
            return self._gw
        return self.node.best_gateway()

    def send(self, payload, now_ms):
        """Send a datagram that expects no reply; returns actions. Datagrams are dropped
        while no session is up (the layer above retransmits)."""
        actions = []
        self._wanted = True
        gw = self._target()
        if gw is None:
            return actions
        if gw != self._gw:
            self._start(gw, now_ms, actions)
        if self._session is not None:
            self._seal_and_send(payload, now_ms, actions, expect_reply=False)
        return actions

    def _seal_and_send(self, payload, now_ms, actions, expect_reply=True):
        try:
            packet = self._session.seal(payload, b"", now_ms)
        except SessionError:
            if expect_reply:
                self._queue.append(payload)
            self._start(self._gw, now_ms, actions)
            return
        if expect_reply:
            self._inflight.append(payload)
            if self._deadline_ms is None:
                self._deadline_ms = ticks_add(now_ms, self.reply_timeout_ms)
        self._send(actions, self._gw, SESSION_PORT, packet, now_ms)

    def _start(self, gw, now_ms, actions):
        if self._session is not None and self._on_session is not None:
            self._on_session(None)
        self._gw = gw
        self._session = None
        self._queue = self._inflight + self._queue
        self._inflight = []
        self._deadline_ms = ticks_add(now_ms, self.handshake_timeout_ms)
        key = self._keys.get(gw)
        if key is None:
            self._initiator = None
            self._send(actions, gw, KEY_PORT, _KEY_REQUEST, now_ms)
            return
        self._initiator = Initiator(key, self._random(32))
        self._send(actions, gw, HANDSHAKE_PORT, self._initiator.message1(b""), now_ms)

    def fail(self, now_ms):
        """The layer above found the gateway failing (rule 3); returns actions."""
        actions = []
        if self._gw is not None:
            self._fail(now_ms, actions)
        return actions

    def _fail(self, now_ms, actions):
        """Rule 3."""
        if self._session is not None and self._on_session is not None:
            self._on_session(None)
        self.failures += 1
        self.node.penalise_gateway(self._gw, now_ms)
        self._gw = None
        self._session = None
        self._initiator = None
        self._deadline_ms = None
        gw = self.node.best_gateway()
        if gw is not None and (self._queue or self._inflight or self._wanted):
            self._start(gw, now_ms, actions)

    def on_deliver(self, src, port, payload, now_ms):
        """A payload the node delivered; returns actions."""
        actions = []
        if src != self._gw:
            return actions
        if port == KEY_PORT:
            if self._initiator is not None or self._session is not None:
                return actions
            if len(payload) != 32 or address_of(payload) != src:
                self._fail(now_ms, actions)
                return actions
            if len(self._keys) >= KEY_CACHE:
                self._keys.pop(next(iter(self._keys)))
            self._keys[src] = bytes(payload)
            self._start(src, now_ms, actions)
        elif port == HANDSHAKE_PORT and self._initiator is not None:
            session = self._initiator.read_message2(payload, now_ms)
            self._initiator = None
            if session is None:
                self._fail(now_ms, actions)
                return actions
            self._session = session
            self._deadline_ms = None
            if self._on_session is not None:
                self._on_session(src)
            queued, self._queue = self._queue, []
            for item in queued:
                self._seal_and_send(item, now_ms, actions)
        elif port == SESSION_PORT and self._session is not None:
            plaintext = self._session.open(payload, b"", now_ms)
            if plaintext is None:
                self._fail(now_ms, actions)
                return actions
            if self._on_message is not None:
                self._on_message(src, plaintext)
            else:
                self.replies.append((src, plaintext))
            if self._inflight:
                self._inflight.pop(0)
            self._deadline_ms = (ticks_add(now_ms, self.reply_timeout_ms)
                                 if self._inflight else None)
            if self._session is not None and self._session.needs_rekey(now_ms):
                self._start(src, now_ms, actions)  # (the callback above may have failed it)
        return actions

    def tick(self, now_ms):
        actions = []
        if self._deadline_ms is not None and ticks_diff(now_ms, self._deadline_ms) >= 0:
            self._fail(now_ms, actions)
        return actions

    def next_deadline_ms(self):
        return self._deadline_ms

    @property
    def gateway(self):
        return self._gw if self._session is not None else None


class ExitServer:
    """The gateway side: answers key requests and handshakes, opens session packets and
    seals replies. `serve(client, plaintext, now_ms)` returns the reply plaintext or None."""

    def __init__(self, node, identity, random_bytes, serve, max_clients=64, on_session=None):
        self.node = node
        self.identity = identity
        self._random = random_bytes
        self._serve = serve
        self._responder = Responder(identity.private)
        self.max_clients = max_clients
        self._sessions = {}
        self._on_session = on_session  # called with the client address on every new session
        self.rejected = 0

    def on_deliver(self, src, port, payload, now_ms):
        actions = []
        if port == KEY_PORT:
            if payload == _KEY_REQUEST:
                actions.extend(self.node.send(src, KEY_PORT, self.identity.public, now_ms))
            else:
                self.rejected += 1
        elif port == HANDSHAKE_PORT:
            incoming = self._responder.read_message1(payload, self._random(32))
            if incoming is None:
                self.rejected += 1
                return actions
            reply, session = incoming.reply(b"", now_ms)
            known = self._sessions.get(src)
            if known is None and len(self._sessions) >= self.max_clients:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[src] = [known[0] if known else None, session]
            actions.extend(self.node.send(src, HANDSHAKE_PORT, reply, now_ms))
        elif port == SESSION_PORT:
            pair = self._sessions.get(src)
            session, plaintext = None, None
            if pair is not None and pair[1] is not None:
                plaintext = pair[1].open(payload, b"", now_ms)
                if plaintext is not None:  # the client proved the new keys: switch over
                    pair[0], pair[1] = pair[1], None
                    if self._on_session is not None:
                        self._on_session(src)
            if plaintext is None and pair is not None and pair[0] is not None:
                plaintext = pair[0].open(payload, b"", now_ms)
            if plaintext is None:
                self.rejected += 1
                return actions
            session = pair[0]
            answer = self._serve(src, plaintext, now_ms)
            if answer is not None:
                packet = session.seal(answer, b"", now_ms)
                actions.extend(self.node.send(src, SESSION_PORT, packet, now_ms))
        return actions

    def send_to(self, client, payload, now_ms):
        """Seal payload for a client with a session and send it; returns actions (none when
        the client has no confirmed session)."""
        pair = self._sessions.get(client)
        if pair is None or pair[0] is None:
            return []
        return list(self.node.send(client, SESSION_PORT, pair[0].seal(payload, b"", now_ms),
                                   now_ms))

    def tick(self, now_ms):
        return []  # the server has no timers: clients drive every exchange

    def next_deadline_ms(self):
        return None

