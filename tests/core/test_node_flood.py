# Managed flooding of broadcasts.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k (multi-node meshes share the heap of one bulb; at 110k they fit only
# by a few hundred bytes, so the length of the temporary path decided the outcome)

from meshkit import MICRO, line, small_config

from meshbulb_testing.minimesh import MiniMesh


def test_broadcast_reaches_everyone_once_and_dense_clusters_stay_quiet():
    mesh = MiniMesh(config=small_config())
    count = 5 if MICRO else 12
    for _ in range(count):
        mesh.add_node()
    for i in range(count):
        for j in range(i + 1, count):
            mesh.link(i, j, -50)
    mesh.run(5000)
    mesh.broadcast(0, b"lights off")
    mesh.run(2000)
    receivers = sorted(d[1] for d in mesh.delivered if d[4] == b"lights off")
    assert receivers == list(range(1, count))
    relayed = sum(n.stats.relayed for n in mesh.nodes)
    # Counter-based suppression: after `threshold` copies nobody else relays; one more relay
    # can slip out while those copies are still in the air (2 ms link latency here).
    assert relayed <= mesh.config.flood_counter_threshold + 1, relayed
    if count >= 10:
        assert relayed < count // 2


def test_scoped_broadcast_stops_after_its_hops():
    mesh = line(4 if MICRO else 6)
    mesh.run(5000)
    mesh._handle(0, mesh.nodes[0].broadcast(1, b"this street", mesh.clock(), hops=2))
    mesh.run(2000)
    receivers = sorted(d[1] for d in mesh.delivered if d[4] == b"this street")
    assert receivers == [1, 2]


def test_scoped_broadcast_rejects_a_hop_count_out_of_range():
    mesh = MiniMesh(config=small_config())
    mesh.add_node()
    for bad in (0, mesh.config.flood_hop_limit + 1):
        try:
            mesh.nodes[0].broadcast(1, b"x", mesh.clock(), hops=bad)
        except ValueError:
            continue
        raise AssertionError("hops=%d accepted" % bad)
