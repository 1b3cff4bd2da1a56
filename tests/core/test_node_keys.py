# Keys over time through the Node: counters that survive reboots, and a key refresh rolled
# out bulb by bulb. Runs under CPython and MicroPython.
# micropython-heap: 150k  (holds a mesh of two or three nodes, keyed ones need more)

from meshkit import detour, line, small_config

from meshbulb.auth import Keyring
from meshbulb.seqstore import MemoryStore
from meshbulb.wire import T_RREQ
from meshbulb_testing.minimesh import MiniMesh, NodePair

KEY = b"community key 16"


def test_a_rebooted_bulb_is_still_accepted_because_its_counter_persists():
    store = MemoryStore()
    mesh = MiniMesh(config=small_config(), mesh_key=KEY)
    mesh.add_node(seq_store=store)
    mesh.add_node(gateway=True)
    mesh.link(0, 1)
    mesh.run(5000)
    last_seq = mesh.nodes[0]._seq
    mesh.nodes[0] = mesh.nodes[0].__class__(
        mesh.nodes[0].address, mesh.config, mesh.rng.below, mesh.clock(),
        keyring=Keyring(1, KEY), seq_store=store)  # the same bulb after a power cycle
    mesh._schedule_tick(0)
    mesh.run(8000)
    assert mesh.nodes[0]._seq > last_seq
    assert mesh.nodes[1].stats.drop_count("replay") == 0
    mesh.send_internet(0, b"after reboot")
    mesh.run(500)
    assert mesh.delivered[-1][4] == b"after reboot"


def test_a_key_refresh_rolls_out_without_partitioning_the_mesh():
    mesh = line(3, gateways=(2,), config=small_config())
    for i in range(3):
        mesh.nodes[i].keyring = Keyring(1, KEY)
        from meshbulb.replay import ReplayTable

        mesh.nodes[i].replay = ReplayTable(8)
    mesh.run(8000)
    new_key = b"next community k"
    steps = []
    for i in (2, 0, 1):  # phase 1 reaches the bulbs one by one
        steps.append(lambda i=i: mesh.nodes[i].keyring.begin_refresh(2, new_key))
    for i in (0, 2, 1):  # then phase 2, in another order
        steps.append(lambda i=i: mesh.nodes[i].keyring.start_sending_new())
    for i in (1, 2, 0):
        steps.append(lambda i=i: mesh.nodes[i].keyring.finish())
    for k, step in enumerate(steps):
        step()
        mesh.run(3000)
        mesh.send_internet(0, b"step %d" % k)
        mesh.run(1000)
        assert mesh.delivered and mesh.delivered[-1][4] == b"step %d" % k, "lost at step %d" % k
    assert all(n.keyring.send_id == 2 and n.keyring.accepts(1) is None for n in mesh.nodes)


def test_keyless_nodes_still_work_as_before():
    pair = NodePair(gateway=True, config=small_config())
    pair.run(3000)
    assert pair.nodes[0].keyring is None and pair.nodes[0].best_gateway() is not None


def test_a_route_request_heard_faintly_first_does_not_spend_its_replay_slot():
    mesh = detour(mesh_key=KEY)
    mesh.run(8000)
    mesh.send(0, 3, b"far")
    mesh.run(2000)
    assert [(d[1], d[4]) for d in mesh.delivered] == [(3, b"far")]
    assert mesh.nodes[1].stats.drop_count("weak_link") >= 1
    assert mesh.nodes[1].stats.drop_count("duplicate") == 0
    assert mesh.nodes[1].stats.frames_out[T_RREQ] == 1  # it relayed the copy 2 passed on
    route = mesh.nodes[0].routes.find(mesh.nodes[3].address, mesh.clock())
    assert route is not None and route.next_hop == mesh.nodes[2].address
