# When route updates go out (routing.py rules 2 and 3): periodic updates space out while
# nothing changes, news brings them back to the base interval, and traffic for an unknown
# gateway retracts it only where a neighbour could still be routing it through us.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k (three-node meshes share the heap of one bulb, as in the other mesh files)

from meshkit import line, small_config

from meshbulb import wire
from meshbulb_testing.minimesh import MiniMesh, NodePair

BASE_DS = small_config().route_update_interval_ms // 100
LONGEST_DS = BASE_DS << small_config().route_update_doublings


def _route_log(mesh, sender):
    """Every ROUTE frame sender transmits: (time_ms, announced interval_ds, entries)."""
    log = []

    def tap(frame):
        header = wire.parse_header(frame, 250)
        if isinstance(header, str) or header[0] != wire.T_ROUTE or header[5] != sender:
            return
        interval_ds, count = wire.parse_route(frame, wire.HEADER_LEN, header[8])
        entries = [wire.route_entry(frame, wire.HEADER_LEN + wire.ROUTE_FIXED
                                    + k * wire.ROUTE_ENTRY) for k in range(count)]
        log.append((mesh.now_ms, interval_ds, entries))

    mesh.tap = tap
    return log


def test_quiet_updates_space_out_to_the_longest_interval_and_announce_it():
    pair = NodePair(gateway=True, config=small_config())
    log = _route_log(pair, pair.nodes[0].address)
    pair.run(15 * 60000)
    assert pair.nodes[0].best_gateway() == pair.nodes[1].address
    announced = [entry[1] for entry in log]
    assert announced[0] == BASE_DS and announced[-3:] == [LONGEST_DS] * 3
    # Each update comes within the interval the one before announced (receivers hold its
    # routes for a multiple of it); quiet ones no sooner than the jitter allows.
    for before, after in zip(log, log[1:]):
        assert after[0] - before[0] <= before[1] * 100 + 50, (before, after)
    for before, after in zip(log[-4:], log[-3:]):
        assert after[0] - before[0] >= before[1] * 75, (before, after)
    assert len(log) <= 2 + 15 * 60 // (LONGEST_DS * 3 // 40)


def test_news_brings_updates_back_to_the_base_interval():
    pair = NodePair(gateway=True, config=small_config())
    log = _route_log(pair, pair.nodes[0].address)
    pair.run(10 * 60000)
    assert log[-1][1] == LONGEST_DS
    quiet = len(log)
    down_ms = pair.now_ms
    pair._handle(1, pair.nodes[1].set_uplink(0, 0, pair.clock()))  # the gateway goes down
    pair.run(5000)
    assert len(log) > quiet, "the lost gateway went unannounced"
    assert log[quiet][1] == BASE_DS
    assert log[quiet][0] - down_ms < 2000


def test_a_gateway_going_down_repeats_its_retraction_a_triggered_interval_apart():
    cfg = small_config()
    pair = NodePair(gateway=True, config=cfg)
    gw = pair.nodes[1]
    log = _route_log(pair, gw.address)
    pair.run(10 * 60000)
    quiet = len(log)
    down_ms = pair.now_ms
    pair._handle(1, gw.set_uplink(0, 0, pair.clock()))
    assert not gw.down_announced()
    pair.run(5000)
    own = [(t, entry) for t, _, entries in log[quiet:] for entry in entries
           if entry[0] == gw.address]
    # Sent once, a neighbour missed it one time in ten at 10 % loss.
    assert len(own) == 3, own
    for _, entry in own:
        assert entry[2] == wire.METRIC_INF and entry[3] == wire.LOAD_GATEWAY_DOWN
    times = [t for t, _ in own]
    assert times[1] - times[0] >= cfg.triggered_min_interval_ms
    assert times[2] - times[1] >= cfg.triggered_min_interval_ms
    assert times[2] - down_ms < 3 * cfg.triggered_min_interval_ms
    assert gw.down_announced()
    pair._handle(1, gw.set_uplink(0, 255, pair.clock()))
    assert not gw.down_announced()


def test_a_bulb_that_loses_its_last_route_says_so_in_a_hello_at_once():
    pair = NodePair(gateway=True, config=small_config())
    bulb = pair.nodes[0].address
    hellos = []

    def tap(frame):
        header = wire.parse_header(frame, 250)
        if isinstance(header, str) or header[0] != wire.T_HELLO or header[5] != bulb:
            return
        hellos.append((pair.now_ms, wire.parse_hello(frame, wire.HEADER_LEN, header[8])[0]))

    pair.tap = tap
    pair.run(10 * 60000)  # quiet: Trickle beacons every 32 to 64 s
    assert pair.nodes[0].best_gateway() == pair.nodes[1].address
    down_ms = pair.now_ms
    pair._handle(1, pair.nodes[1].set_uplink(0, 0, pair.clock()))
    pair.run(3000)
    assert pair.nodes[0].best_gateway() is None
    told = [t for t, flags in hellos if t > down_ms and flags & wire.F_NO_ROUTE]
    # Neighbours that still have routes answer such a HELLO with theirs (routing rule 1).
    assert told and told[0] - down_ms < 2 * small_config().triggered_min_interval_ms, hellos[-3:]


def _second_gateway_next_to(bulb_hops):
    """A quiet line gateway - ... - bulb (bulb_hops links), then a second gateway one link
    from the bulb. Returns the bulb's ROUTE log, when the gateway came and its address."""
    mesh = line(bulb_hops + 1, gateways=(0,))
    bulb = mesh.nodes[bulb_hops]
    log = _route_log(mesh, bulb.address)
    mesh.run(10 * 60000)
    assert bulb.best_gateway() == mesh.nodes[0].address
    start_ms = mesh.now_ms
    mesh.add_node(gateway=True)
    mesh.link(bulb_hops, bulb_hops + 1)
    mesh.run(150000)
    return log, start_ms, mesh.nodes[bulb_hops + 1].address


def test_a_better_gateway_is_told_at_once_leaving_the_interval_spaced_out():
    log, start_ms, second = _second_gateway_next_to(bulb_hops=2)
    told = _mentions(log, second)
    assert told, "the better gateway went unannounced"
    assert told[0][0] - start_ms < 45000  # its first periodic update, then our triggered one
    assert told[0][1] == LONGEST_DS


def test_a_gateway_no_better_than_ours_waits_for_the_periodic_update():
    log, start_ms, second = _second_gateway_next_to(bulb_hops=1)
    told = _mentions(log, second)
    assert told, "the second gateway was never advertised"
    before = [entry for entry in log if entry[0] < told[0][0]][-1]
    # Told in a periodic update: the one the update before it announced, not sooner.
    assert told[0][0] - before[0] >= before[1] * 75, (before, told[0], start_ms)


def _quiet_gateway_and_bulb():
    mesh = MiniMesh(config=small_config())
    mesh.add_node(gateway=True)
    mesh.add_node()
    mesh.link(0, 1)
    mesh.run(5 * 60000)
    assert mesh.nodes[1].best_gateway() == mesh.nodes[0].address
    return mesh


def test_a_new_neighbour_without_routes_gets_an_update_at_once():
    mesh = _quiet_gateway_and_bulb()
    log = _route_log(mesh, mesh.nodes[1].address)
    start_ms = mesh.now_ms
    mesh.add_node()  # a bulb screwed in next to bulb 1 only
    mesh.link(1, 2)
    mesh.run(5000)
    assert log and log[0][0] - start_ms < 5000
    assert mesh.nodes[2].best_gateway() == mesh.nodes[0].address


def test_a_new_neighbour_that_has_routes_waits_for_the_next_update():
    mesh = _quiet_gateway_and_bulb()
    mesh.add_node()
    mesh.link(0, 2)  # bulb 2 learns its routes from the gateway
    mesh.run(10000)
    assert mesh.nodes[2].best_gateway() == mesh.nodes[0].address
    log = _route_log(mesh, mesh.nodes[1].address)
    mesh.link(1, 2)
    mesh.run(5000)
    assert mesh.nodes[1].neighbours.find(mesh.nodes[2].address).tx_q > 0
    assert log == []


def test_a_neighbour_still_without_routes_gets_an_update_after_its_next_hello():
    mesh = _quiet_gateway_and_bulb()
    mesh.add_node()
    mesh.link(1, 2)
    mesh.run(10000)
    gw = mesh.nodes[0].address
    assert mesh.nodes[2].best_gateway() == gw
    mesh.run(5 * 60000)  # quiet: HELLOs and route updates at their longest intervals
    # Bulb 2 loses its route without anything changing on the link (as if it had missed
    # bulb 1's update): its next HELLO says so.
    bulb2 = mesh.nodes[2]
    bulb2.gateways.remove(gw)
    bulb2.gateways.reselect(mesh.now_ms)
    assert bulb2.best_gateway() is None
    heard = []  # (time_ms, sender, frame type, HELLO flags)

    def tap(frame):
        header = wire.parse_header(frame, 250)
        if not isinstance(header, str) and header[0] in (wire.T_HELLO, wire.T_ROUTE):
            flags = frame[wire.HEADER_LEN] if header[0] == wire.T_HELLO else 0
            heard.append((mesh.now_ms, header[5], header[0], flags))

    mesh.tap = tap
    mesh.run(bulb2.control.trickle.imax_ms + 1000)
    asked = [t for t, src, ftype, flags in heard if src == bulb2.address
             and ftype == wire.T_HELLO and flags & wire.F_NO_ROUTE]
    assert asked, "bulb 2 sent no HELLO"
    told = [t for t, src, ftype, _ in heard if src == mesh.nodes[1].address
            and ftype == wire.T_ROUTE and asked[0] <= t]
    assert told and told[0] - asked[0] <= small_config().improvement_min_interval_ms + 1000
    assert bulb2.best_gateway() == gw


def _mentions(log, gw):
    return [entry for entry in log if any(e[0] == gw for e in entry[2])]


def test_traffic_for_a_gateway_never_advertised_retracts_nothing():
    mesh = line(3, gateways=(2,))
    mesh.run(20000)
    relay = mesh.nodes[1]
    log = _route_log(mesh, relay.address)
    stranger = b"\x06\x00\x00\x00\x00\x77"
    relay.control.stale_forward(stranger, mesh.clock())
    mesh._schedule_tick(1)
    mesh.run(5000)
    assert _mentions(log, stranger) == []


def test_traffic_for_a_gateway_advertised_and_lost_retracts_it():
    mesh = line(3, gateways=(2,))
    mesh.run(20000)
    relay = mesh.nodes[1]
    gw = mesh.nodes[2].address
    log = _route_log(mesh, relay.address)
    relay.gateways.remove(gw)  # as if the route had just been lost
    relay.control.stale_forward(gw, mesh.clock())
    mesh._schedule_tick(1)
    mesh.run(3000)
    retractions = _mentions(log, gw)
    assert retractions, "the relay kept quiet about a gateway it had advertised"
    assert [e[2] for e in retractions[0][2] if e[0] == gw] == [wire.METRIC_INF]
