# Node configuration: every tunable of the core, with units in the names and hard bounds.
#
# Rules kept here:
# 1. Unknown keys and out-of-range values raise ConfigError naming the key; nothing is guessed.
# 2. Defaults fit an ESP32 bulb on ESP-NOW: 250-byte MTU, 20 neighbours (the peer limit).
# 3. Tables are sized here once; the core never grows a table past these bounds.
# 4. Defaults are class attributes, so a Config costs RAM only for what it overrides, and
#    one Config may be shared by every node of a simulation.
# 5. Every timer the settings imply stays below 2**28 ms, well inside the 2**29 ms range in
#    which ticks can be compared (compat.py).


class ConfigError(ValueError):
    """A configuration key is unknown or its value is out of range (the caller's mistake)."""


_TIMER_LIMIT_MS = 1 << 28

# (name, minimum, maximum); the default is the class attribute of the same name.
_BOUNDS = (
    ("mtu", 64, 1470),
    ("max_neighbours", 1, 64),
    ("max_gateways", 1, 16),
    ("max_sources", 1, 64),
    ("max_routes", 1, 1024),
    ("dedup_entries", 16, 4096),
    ("max_pending_relays", 1, 128),
    ("max_discoveries", 1, 32),
    ("discovery_queue", 1, 32),
    ("reassembly_slots", 1, 16),
    ("reassembly_max_bytes", 64, 4096),
    ("reassembly_timeout_ms", 100, 600000),
    ("hello_imin_ms", 50, 60000),
    ("hello_doublings", 0, 16),
    ("gateway_hello_interval_ms", 200, 60000),
    ("neighbour_hold_factor", 2, 16),
    ("link_fail_limit", 1, 100),
    ("weak_rssi_dbm", -120, 0),
    ("hop_cost", 0, 256),
    ("announce_rssi_dbm", -120, 0),
    ("route_update_interval_ms", 1000, 600000),
    ("route_update_doublings", 0, 8),
    ("route_hold_factor", 2, 16),
    ("triggered_delay_ms", 10, 10000),
    ("triggered_min_interval_ms", 10, 60000),
    ("improvement_min_interval_ms", 10, 60000),
    ("seqreq_min_interval_ms", 100, 60000),
    ("gateway_seqno_min_interval_ms", 100, 60000),
    ("gateway_replace_holdoff_ms", 0, 600000),
    ("gateway_settle_ms", 0, 600000),
    ("neighbour_evict_holdoff_ms", 0, 600000),
    ("flood_jitter_ms", 1, 10000),
    ("flood_counter_threshold", 1, 64),
    ("flood_hop_limit", 1, 65535),
    ("flood_edge_hops", 0, 8),
    ("discovery_ttls", 1, 12),
    ("discovery_first_ttl", 1, 255),
    ("discovery_per_hop_ms", 1, 10000),
    ("discovery_max_link_cost", 16, 1024),
    ("route_lifetime_ms", 1000, 3600000),
    ("reverse_route_lifetime_ms", 1000, 3600000),
    ("load_weight", 0, 4096),
    ("health_weight", 0, 1024),
    ("max_replay_sources", 4, 4096),
    ("seq_reserve_block", 1, 1 << 20),
    ("gateway_penalty_ms", 1000, 3600000),
    ("gateway_wait_packets", 0, 32),
    ("gateway_wait_ms", 100, 600000),
)


class Config:
    """Validated node configuration. `Config(mtu=250, max_gateways=3)`."""

    mtu = 250  # bytes per frame; ESP-NOW's limit
    max_neighbours = 20  # ESP-NOW peer limit
    max_gateways = 4  # best k gateways kept
    max_sources = 16  # feasibility distances kept (outlive gateway routes)
    max_routes = 64  # bulb-to-bulb route cache
    dedup_entries = 256
    max_pending_relays = 16
    max_discoveries = 4
    discovery_queue = 4  # payloads waiting per discovery
    reassembly_slots = 2
    reassembly_max_bytes = 1500
    reassembly_timeout_ms = 5000
    hello_imin_ms = 1000
    hello_doublings = 6  # Imax = 64 s
    gateway_hello_interval_ms = 2000  # fixed, so a dead gateway is noticed within seconds
    neighbour_hold_factor = 4
    link_fail_limit = 3
    weak_rssi_dbm = -85  # weaker links cost more than their ETX says (13 dB above ESP32 sensitivity)
    hop_cost = 8  # added to every hop's link cost (1/16 ETX): relaying costs beyond airtime
    announce_rssi_dbm = -90  # links heard weaker than this get no extra HELLO (routing rule 1)
    route_update_interval_ms = 30000  # after any news; doubles while nothing changes
    route_update_doublings = 2  # so a quiet bulb sends one every 120 s
    route_hold_factor = 4
    triggered_delay_ms = 200
    triggered_min_interval_ms = 1000
    improvement_min_interval_ms = 5000  # triggered updates carrying only good news
    seqreq_min_interval_ms = 2000
    gateway_seqno_min_interval_ms = 1000
    gateway_replace_holdoff_ms = 10000
    gateway_settle_ms = 5000
    neighbour_evict_holdoff_ms = 10000
    flood_jitter_ms = 100
    flood_counter_threshold = 3
    flood_hop_limit = 1024
    flood_edge_hops = 1  # a hop-scoped broadcast is relayed this many hops beyond its scope
    discovery_ttls = 4
    discovery_first_ttl = 2
    discovery_per_hop_ms = 40
    discovery_max_link_cost = 32  # bulb-to-bulb routes use links of ETX <= 2 (1/16 ETX units)
    route_lifetime_ms = 60000
    reverse_route_lifetime_ms = 10000
    load_weight = 256
    health_weight = 4
    max_replay_sources = 64  # sources whose replay window is remembered
    seq_reserve_block = 256  # frame counters reserved per write to the persistent store
    gateway_penalty_ms = 60000  # how long a gateway that failed a session is avoided
    gateway_wait_packets = 4  # internet packets held while there is no gateway route yet
    gateway_wait_ms = 10000  # ... for at most this long

    def __init__(self, **overrides):
        for name in overrides:
            bounds = _bounds_of(name)
            if bounds is None:
                raise ConfigError("unknown config key: %s" % name)
            value = overrides[name]
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError("%s must be an integer, got %r" % (name, value))
            if value < bounds[1] or value > bounds[2]:
                raise ConfigError(
                    "%s=%d is out of range [%d, %d]" % (name, value, bounds[1], bounds[2])
                )
            setattr(self, name, value)
        if self.hello_imin_ms << self.hello_doublings >= _TIMER_LIMIT_MS:
            raise ConfigError("hello_doublings=%d makes the longest HELLO interval exceed %d ms"
                              % (self.hello_doublings, _TIMER_LIMIT_MS))
        widest_ring = min(self.flood_hop_limit,
                          self.discovery_first_ttl << (self.discovery_ttls - 1))
        if 2 * widest_ring * self.discovery_per_hop_ms >= _TIMER_LIMIT_MS:
            raise ConfigError("discovery_per_hop_ms=%d makes the widest discovery ring wait "
                              "longer than %d ms" % (self.discovery_per_hop_ms, _TIMER_LIMIT_MS))
        longest_update_ms = self.route_update_interval_ms << self.route_update_doublings
        if longest_update_ms * self.route_hold_factor >= _TIMER_LIMIT_MS:
            raise ConfigError("route_hold_factor=%d with route_update_doublings=%d makes routes "
                              "live longer than %d ms" % (self.route_hold_factor,
                                                          self.route_update_doublings,
                                                          _TIMER_LIMIT_MS))

    @staticmethod
    def keys():
        return tuple(b[0] for b in _BOUNDS)

    def as_dict(self):
        return {b[0]: getattr(self, b[0]) for b in _BOUNDS}


def _bounds_of(name):
    for bounds in _BOUNDS:
        if bounds[0] == name:
            return bounds
    return None
