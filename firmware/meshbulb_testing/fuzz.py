# Frame fuzzer for the core: a corpus of real frames, mutations of them, and the invariants
# every node must keep whatever it receives. Used by the test suite (a fixed, seeded number of
# frames) and by `meshbulb fuzz core` (as many as asked for).
#
# Rules kept here:
# 1. The corpus is captured from a real MiniMesh run (every frame type), plus crafted frames
#    for types a short run may not produce.
# 2. The victim is an established node of that mesh, so mutated frames reach deep handlers.
# 3. After every frame: receive() returned normally, no internal error was counted, every
#    table is within its bound, and a frame rejected as malformed left every table unchanged.

from meshbulb import wire
from meshbulb.config import Config
from meshbulb.stats import DROP_REASONS
from meshbulb_testing.minimesh import MiniMesh, addr_of
from meshbulb_testing.rng import Rng

# Drop reasons that mean "this frame was refused before any table was touched".
REJECT_REASONS = (
    "short", "oversize", "bad_version", "bad_type", "bad_flags", "bad_addr", "bad_payload",
    "unknown_key", "bad_mic", "replay", "own", "not_neighbour", "table_full",
)
_INTERESTING = (0, 1, 0x7F, 0x80, 0xFE, 0xFF)
_PER_TYPE = 6


def build_corpus(seed=5, config=None, mesh_key=None):
    """Return (mesh, victim index, list of frames) from a small converged mesh with traffic:
    bulb 0 - bulb 1 - gateway 2, plus crafted frames for what three nodes do not produce."""
    mesh = MiniMesh(seed=seed, loss=0.05, config=config or Config(), mesh_key=mesh_key)
    mesh.add_node()
    mesh.add_node()
    mesh.add_node(gateway=True)
    mesh.link(0, 1)
    mesh.link(1, 2)
    corpus = []
    per_type = {}

    def keep(frame):  # at most _PER_TYPE frames of each type and flag combination
        kind = (frame[0], frame[1])
        if per_type.get(kind, 0) < _PER_TYPE:
            per_type[kind] = per_type.get(kind, 0) + 1
            corpus.append(frame)

    mesh.tap = keep
    mesh.run(15000)
    mesh.send_internet(0, b"to the internet", ack=True)
    mesh.send(0, 2, b"bulb to gateway", ack=True)
    mesh.send(2, 0, b"x" * 250)
    to_nobody = mesh.nodes[0].send(addr_of(77), 1, b"no such bulb: discover, then flood",
                                   mesh.clock())
    mesh._handle(0, to_nobody)
    mesh.broadcast(1, b"scene 4")
    mesh.run(4000)
    mesh.tap = None
    buf = bytearray(wire.HEADER_LEN + 4)
    wire.pack_header(buf, wire.T_SEQREQ, 0, 0, 8, 1, addr_of(1), mesh.nodes[2].address, 77)
    buf[wire.HEADER_LEN] = 0
    buf[wire.HEADER_LEN + 1] = 9
    corpus.append(bytes(buf[: wire.HEADER_LEN + 2]))
    wire.pack_header(buf, wire.T_RREP, 0, 0, 8, 1, addr_of(77), mesh.nodes[0].address, 78)
    corpus.append(bytes(buf))
    return mesh, 1, corpus


def mutate(frame, rng, corpus):
    """One random mutation of frame (bytes in, bytes out). Uses slicing only, because
    MicroPython's bytearray has no item deletion."""
    data = bytes(frame)
    n = len(data)
    choice = rng.below(9)
    if choice == 0 and n:  # flip one bit
        i = rng.below(n)
        data = data[:i] + bytes((data[i] ^ (1 << rng.below(8)),)) + data[i + 1 :]
    elif choice == 1 and n:  # set a byte to an interesting value
        i = rng.below(n)
        data = data[:i] + bytes((_INTERESTING[rng.below(len(_INTERESTING))],)) + data[i + 1 :]
    elif choice == 2:  # truncate
        data = data[: rng.below(n + 1)]
    elif choice == 3:  # extend with random bytes
        data = data + bytes(rng.below(256) for _ in range(1 + rng.below(16)))
    elif choice == 4 and n:  # delete a byte
        i = rng.below(n)
        data = data[:i] + data[i + 1 :]
    elif choice == 5:  # insert a byte
        i = rng.below(n + 1)
        data = data[:i] + bytes((rng.below(256),)) + data[i:]
    elif choice == 6 and n > wire.HEADER_LEN:  # rewrite a payload count or length byte
        i = wire.HEADER_LEN + rng.below(min(8, n - wire.HEADER_LEN))
        data = data[:i] + bytes((rng.below(256),)) + data[i + 1 :]
    elif choice == 7:  # splice with another corpus frame
        other = corpus[rng.below(len(corpus))]
        data = data[: rng.below(n + 1)] + other[rng.below(len(other) + 1) :]
    else:  # several bit flips
        buf = bytearray(data)
        for _ in range(2 + rng.below(6)):
            if n:
                buf[rng.below(n)] ^= 1 << rng.below(8)
        data = bytes(buf)
    return data


def fingerprint(node):
    """A summary of every table; equal fingerprints mean nothing was changed."""
    neighbours = sorted(
        (e.node_addr, e.rx_q, e.tx_q, e.hello_seq, e.expires_ms) for e in node.neighbours.entries()
    )
    routes = sorted(
        (r.gw, r.next_hop, r.seqno, r.metric, r.expires_ms) for r in node.gateways.entries()
    )
    return (
        tuple(neighbours), tuple(routes), len(node.control.sources), len(node.routes),
        len(node.dedup), len(node.flood), len(node.discoveries), node.reassembly.busy(),
    )


def check_bounds(node):
    cfg = node.config
    sizes = node.table_sizes()
    assert sizes["neighbours"] <= cfg.max_neighbours, sizes
    assert sizes["gateways"] <= cfg.max_gateways, sizes
    assert sizes["sources"] <= cfg.max_sources, sizes
    assert sizes["routes"] <= cfg.max_routes, sizes
    assert sizes["dedup"] <= cfg.dedup_entries, sizes
    assert sizes["pending_relays"] <= cfg.max_pending_relays, sizes
    assert sizes["discoveries"] <= cfg.max_discoveries, sizes
    assert sizes["reassembly"] <= cfg.reassembly_slots, sizes
    assert sizes["held"] <= cfg.gateway_wait_packets, sizes


def truncations_rejected(seed=15, config=None, mesh_key=None):
    """Feed every strict truncation of every corpus frame to the victim. Returns the number
    fed; raises AssertionError if any was accepted or changed a table."""
    mesh, victim_index, corpus = build_corpus(seed=seed, config=config, mesh_key=mesh_key)
    node = mesh.nodes[victim_index]
    now_ms = mesh.clock()
    mesh = None  # only the victim is needed from here on
    link_src = next(iter(node.neighbours.entries())).link_addr
    fed = 0
    for frame in corpus:
        for cut in range(len(frame)):
            before = fingerprint(node)
            rejects = [node.stats.drop_count(r) for r in REJECT_REASONS]
            node.receive(frame[:cut], 0, link_src, -60, now_ms)
            fed += 1
            if [node.stats.drop_count(r) for r in REJECT_REASONS] == rejects:
                raise AssertionError("truncated frame accepted: %s" % frame[:cut].hex())
            if fingerprint(node) != before:
                raise AssertionError("truncated frame changed a table: %s" % frame[:cut].hex())
    return fed


def run(count, seed=1, config=None, report_every=0, progress=None, mesh_key=None):
    """Feed `count` mutated frames to the victim; raise AssertionError on any violation.
    Returns a dict of figures: frames, rejected (a drop was counted), accepted (processed
    without a drop) and drops by reason."""
    mesh, victim_index, corpus = build_corpus(seed=seed + 10, config=config, mesh_key=mesh_key)
    node = mesh.nodes[victim_index]
    now_ms = mesh.clock()
    mesh = None  # only the victim is needed from here on
    neighbour_addrs = [e.link_addr for e in node.neighbours.entries()]
    if mesh_key is not None:
        # The corpus mesh is lossy, so the victim missed some of its frames; let it hear each
        # once, so that an unchanged frame is a replay and only forgeries remain to reject.
        for frame in corpus:
            node.receive(frame, 0, neighbour_addrs[0], -60, now_ms)
    rng = Rng(seed)
    rejected = 0
    before_drops = list(node.stats.drops)
    for n in range(count):
        frame = mutate(corpus[rng.below(len(corpus))], rng, corpus)
        if rng.below(4) == 0:
            link_src = addr_of(1000 + rng.below(50))
        else:
            link_src = neighbour_addrs[rng.below(len(neighbour_addrs))]
        before = fingerprint(node)
        drops_before = [node.stats.drop_count(r) for r in REJECT_REASONS]
        total_before = node.stats.total_drops()
        node.receive(frame, 0, link_src, -40 - rng.below(50), now_ms)
        if node.stats.drop_count("internal_error"):
            raise AssertionError("internal error on frame %s" % frame.hex())
        drops_after = [node.stats.drop_count(r) for r in REJECT_REASONS]
        if drops_after != drops_before and fingerprint(node) != before:
            raise AssertionError("rejected frame changed a table: %s" % frame.hex())
        if node.stats.total_drops() != total_before:
            rejected += 1
        check_bounds(node)
        if n % 64 == 63:
            now_ms = (now_ms + 50 + rng.below(500)) & 0x3FFFFFFF
            node.tick(now_ms)
            check_bounds(node)
        if progress is not None and report_every and n % report_every == report_every - 1:
            progress(n + 1)
    drops = {}
    for i, name in enumerate(DROP_REASONS):
        delta = node.stats.drops[i] - before_drops[i]
        if delta:
            drops[name] = delta
    return {"frames": count, "rejected": rejected, "accepted": count - rejected,
            "corpus": len(corpus), "drops": drops}
