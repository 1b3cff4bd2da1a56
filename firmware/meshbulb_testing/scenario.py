# The standard MiniMesh scenario used by the demo, the benchmark and the scenario tests:
# a random geometric mesh with a few gateways, lossy links, convergence, steady-state
# overhead, and one packet per bulb to the internet.
#
# Rules kept here:
# 1. Seeded: the same arguments give the same figures.
# 2. Delivery ratio counts only bulbs that have a path to a gateway in the true link graph.
# 3. Overhead is measured in steady state: control bytes sent by all nodes over
#    measure_ms, after convergence plus warmup_ms (Trickle needs about a minute to reach its
#    longest HELLO interval), divided by nodes and seconds.

from meshbulb.config import Config
from meshbulb_testing.minimesh import MiniMesh, random_geometric

_STEP_MS = 500


def radius_for_degree(count, degree):
    """Radius in the unit square that gives about `degree` neighbours per node."""
    return (degree / (3.14159 * count)) ** 0.5


def hops_to_gateway(mesh, i):
    """Hop count along i's selected route to its best gateway, or None."""
    node = mesh.nodes[i]
    gw = node.best_gateway()
    if gw is None:
        return None
    hops = 0
    seen = set()
    while mesh.nodes[i].address != gw:
        if i in seen:
            return None
        seen.add(i)
        route = mesh.nodes[i].gateways.find(gw)
        if route is None:
            return None
        i = mesh.index_of(route.next_hop)
        hops += 1
    return hops


def run(nodes=200, gateways=3, loss=0.1, seed=1, degree=10, warmup_ms=60000, measure_ms=120000,
        packets_per_node=5, max_converge_ms=300000, config=None):
    mesh = MiniMesh(seed=seed, loss=loss, config=config or Config())
    random_geometric(mesh, nodes, radius_for_degree(nodes, degree), gateways, seed=seed + 100)
    reachable = mesh.connected_to_gateway()
    convergence_ms = None
    while mesh.now_ms < max_converge_ms:
        mesh.run(_STEP_MS)
        if mesh.converged():
            convergence_ms = mesh.now_ms
            break
    mesh.run(warmup_ms)
    start_bytes = mesh.control_bytes()
    start_ms = mesh.now_ms
    loops = 0
    for _ in range(measure_ms // 10000):
        mesh.run(10000)
        loops += mesh.routing_loops()
    control_rate = (mesh.control_bytes() - start_bytes) / nodes / ((mesh.now_ms - start_ms) / 1000)
    senders = [i for i in reachable if not mesh.nodes[i].is_gateway]
    delivered_before = len(mesh.delivered)
    sent = 0
    for k in range(packets_per_node):
        for i in senders:
            mesh.send_internet(i, b"%d:%d" % (i, k))
            sent += 1
        mesh.run(1000)
        loops += mesh.routing_loops()
    mesh.run(5000)
    got = set()
    for _, receiver, _, _, payload, _ in mesh.delivered[delivered_before:]:
        if mesh.nodes[receiver].is_gateway:
            got.add(payload)
    hops = [h for h in (hops_to_gateway(mesh, i) for i in senders) if h is not None]
    return {
        "nodes": nodes,
        "gateways": gateways,
        "loss": loss,
        "seed": seed,
        "reachable_fraction": len(reachable) / nodes,
        "convergence_s": None if convergence_ms is None else convergence_ms / 1000,
        "control_bytes_per_node_s": round(control_rate, 2),
        "delivery_ratio": (len(got) / sent) if sent else 0.0,
        "packets_sent": sent,
        "loops": loops,
        "mean_hops": (sum(hops) / len(hops)) if hops else 0.0,
        "max_hops": max(hops) if hops else 0,
        "mesh": mesh,
    }
