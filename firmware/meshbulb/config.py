# Node configuration: every tunable of the core, with units in the names and hard bounds.
#
# Rules kept here:
# 1. Unknown keys and out-of-range values raise ConfigError naming the key; nothing is guessed.
# 2. Defaults fit an ESP32 bulb on ESP-NOW: 250-byte MTU, 20 neighbours (the peer limit).
# 3. Tables are sized here once; the core never grows a table past these bounds.


class ConfigError(ValueError):
    """A configuration key is unknown or its value is out of range (the caller's mistake)."""


# name: (default, minimum, maximum)
_FIELDS = {
    "mtu": (250, 64, 1470),
    "max_neighbours": (20, 1, 64),
    "max_gateways": (4, 1, 16),
    "max_sources": (16, 1, 64),
    "max_routes": (64, 1, 1024),
    "dedup_entries": (256, 16, 4096),
    "max_pending_relays": (16, 1, 128),
    "max_discoveries": (4, 1, 32),
    "discovery_queue": (4, 1, 32),
    "reassembly_slots": (2, 1, 16),
    "reassembly_max_bytes": (1500, 64, 4096),
    "reassembly_timeout_ms": (5000, 100, 600000),
    "hello_imin_ms": (1000, 50, 60000),
    "hello_doublings": (5, 0, 16),
    "neighbour_hold_factor": (4, 2, 16),
    "link_fail_limit": (3, 1, 100),
    "weak_rssi_dbm": (-75, -120, 0),
    "route_update_interval_ms": (20000, 1000, 600000),
    "route_hold_factor": (4, 2, 16),
    "triggered_delay_ms": (200, 10, 10000),
    "triggered_min_interval_ms": (1000, 10, 60000),
    "seqreq_min_interval_ms": (2000, 100, 60000),
    "gateway_seqno_min_interval_ms": (1000, 100, 60000),
    "gateway_replace_holdoff_ms": (10000, 0, 600000),
    "neighbour_evict_holdoff_ms": (10000, 0, 600000),
    "flood_jitter_ms": (100, 1, 10000),
    "flood_counter_threshold": (3, 1, 64),
    "flood_hop_limit": (1024, 1, 65535),
    "discovery_ttls": (4, 1, 12),
    "discovery_first_ttl": (2, 1, 255),
    "discovery_per_hop_ms": (40, 1, 10000),
    "route_lifetime_ms": (60000, 1000, 3600000),
    "reverse_route_lifetime_ms": (10000, 1000, 3600000),
    "load_weight": (256, 0, 4096),
    "health_weight": (4, 0, 1024),
}


class Config:
    """Validated node configuration. `Config(mtu=250, max_gateways=3)`."""

    def __init__(self, **overrides):
        for name in overrides:
            if name not in _FIELDS:
                raise ConfigError("unknown config key: %s" % name)
        for name in _FIELDS:
            default, low, high = _FIELDS[name]
            value = overrides.get(name, default)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError("%s must be an integer, got %r" % (name, value))
            if value < low or value > high:
                raise ConfigError("%s=%d is out of range [%d, %d]" % (name, value, low, high))
            setattr(self, name, value)

    @staticmethod
    def keys():
        return tuple(_FIELDS)

    def as_dict(self):
        return {name: getattr(self, name) for name in _FIELDS}
