# Node.timers_kept (node.py rule 1): after a frame that receive() dropped before setting any
# timer, next_deadline_ms() is no earlier than it was (a flood duplicate may cancel a pending
# relay), so a driver may skip asking.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k  (four small nodes: tables of two neighbours)

from meshkit import line, small_config

from meshbulb.compat import ticks_diff
from meshbulb.stats import DROP_REASONS
from meshbulb_testing.minimesh import MiniMesh

COUNT = 4


def _watch(mesh, node, seen):
    """Wrap node.receive: check the deadline around every frame reported as kept."""
    receive = node.receive

    def checked(frame, link, link_src, rssi_dbm, now_ms):
        before = node.next_deadline_ms()
        drops = list(node.stats.drops)
        actions = receive(frame, link, link_src, rssi_dbm, now_ms)
        if node.timers_kept:
            assert not actions
            after = node.next_deadline_ms()
            assert after is None or ticks_diff(after, before) >= 0, (mesh.now_ms, before, after)
            if after != before:
                seen["later"] = seen.get("later", 0) + 1
            for k in range(len(drops)):
                if node.stats.drops[k] != drops[k]:
                    seen[DROP_REASONS[k]] = seen.get(DROP_REASONS[k], 0) + 1
        else:
            seen["other"] = seen.get("other", 0) + 1
        return actions

    node.receive = checked


def test_frames_dropped_untouched_leave_every_deadline_as_it_was():
    # Four bulbs that all hear each other, with room for two neighbours each: most HELLOs
    # find a full table, most route updates come from non-neighbours, and broadcasts
    # bring flood duplicates.
    mesh = MiniMesh(seed=9, loss=0.1, config=small_config(max_neighbours=2))
    for i in range(COUNT):
        mesh.add_node(gateway=i == 0)
    for a in range(COUNT):
        for b in range(a + 1, COUNT):
            mesh.link(a, b, rssi_dbm=-50 - 3 * ((a + b) % 9))
    seen = {}
    for node in mesh.nodes:
        _watch(mesh, node, seen)
    for step in range(30):
        mesh.run(3000)
        del mesh.delivered[:]  # keeps the heap small under MicroPython
        mesh.broadcast(1 + step % (COUNT - 1), b"scene")
        mesh.send_internet(1 + (step * 3) % (COUNT - 1), b"reading")
    for reason in ("table_full", "not_neighbour", "duplicate"):
        assert seen.get(reason, 0) > 10, seen
    assert seen["other"] > 50, seen
    assert seen.get("later", 0) > 0, seen  # duplicates did cancel pending relays


def test_a_frame_that_retracts_a_route_is_not_reported_as_kept():
    # 0 (gateway) - 1 - 2. Relay 1 advertised the gateway, then lost it; traffic for it from
    # bulb 2 makes 1 retract it at once (routing.py rule 3) before the frame is held for a
    # route (node.py rule 13): a driver that skipped asking would miss the triggered update.
    mesh = line(3, gateways=(0,))
    mesh.run(20000)
    gateway, relay = mesh.nodes[0].address, mesh.nodes[1]
    assert mesh.nodes[2].best_gateway() == gateway
    mesh.unlink(0, 1)
    relay.gateways.remove(gateway)
    relay.neighbours.remove(gateway)
    mesh.run(1500)  # past the relay's last triggered update
    before = relay.next_deadline_ms()
    mesh.send_internet(2, b"reading")
    mesh.run(mesh.latency_ms)
    assert relay.table_sizes()["held"] == 1
    assert not relay.timers_kept
    assert ticks_diff(relay.next_deadline_ms(), before) < 0
