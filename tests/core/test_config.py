# Unit tests for meshbulb.config: validated tunables with hard bounds.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.config import Config, ConfigError


def _rejects(key, value):
    """Return the ConfigError message for Config(key=value); fail if it is accepted."""
    try:
        Config(**{key: value})
    except ConfigError as e:
        return str(e)
    raise AssertionError("Config(%s=%r) was accepted" % (key, value))


def test_defaults_fit_an_esp_now_bulb():
    cfg = Config()
    assert cfg.mtu == 250
    assert cfg.max_neighbours == 20
    assert cfg.max_gateways == 4


def test_keys_and_as_dict_agree():
    cfg = Config()
    keys = Config.keys()
    assert isinstance(keys, tuple)
    assert len(keys) > 10
    assert "mtu" in keys and "max_neighbours" in keys
    d = cfg.as_dict()
    assert sorted(d) == sorted(keys)
    for key in keys:
        assert d[key] == getattr(cfg, key), key
        assert isinstance(d[key], int) and not isinstance(d[key], bool), key


def test_override_sets_only_that_key():
    base = Config().as_dict()
    cfg = Config(mtu=1470, max_gateways=3)
    assert cfg.mtu == 1470
    assert cfg.max_gateways == 3
    for key, value in cfg.as_dict().items():
        if key not in ("mtu", "max_gateways"):
            assert value == base[key], key


def test_instances_share_no_state():
    a = Config(mtu=100)
    b = Config()
    assert a.mtu == 100
    assert b.mtu == 250


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_unknown_key_rejected_and_named():
    msg = _rejects("max_neighbors", 20)  # US spelling is not a key
    assert "max_neighbors" in msg, msg
    msg = _rejects("bogus_key", 1)
    assert "bogus_key" in msg, msg


def test_unknown_key_rejected_even_beside_valid_keys():
    try:
        Config(mtu=250, frobnicate=3)
    except ConfigError as e:
        assert "frobnicate" in str(e), str(e)
    else:
        raise AssertionError("unknown key accepted")


def test_every_key_accepts_its_default_explicitly():
    defaults = Config().as_dict()
    keys = Config.keys()
    for key in keys:
        cfg = Config(**{key: defaults[key]})
        assert getattr(cfg, key) == defaults[key], key


def test_every_key_rejects_far_out_of_range_and_names_the_key():
    keys = Config.keys()
    for key in keys:
        msg = _rejects(key, 10**9)
        assert key in msg, msg
        msg = _rejects(key, -(10**9))
        assert key in msg, msg


def test_range_boundaries_are_inclusive():
    assert Config(mtu=64).mtu == 64
    assert Config(mtu=1470).mtu == 1470
    assert "mtu" in _rejects("mtu", 63)
    assert "mtu" in _rejects("mtu", 1471)
    assert Config(max_neighbours=1).max_neighbours == 1
    assert Config(max_neighbours=64).max_neighbours == 64
    assert "max_neighbours" in _rejects("max_neighbours", 0)
    assert "max_neighbours" in _rejects("max_neighbours", 65)
    assert Config(weak_rssi_dbm=-120).weak_rssi_dbm == -120
    assert Config(weak_rssi_dbm=0).weak_rssi_dbm == 0
    assert "weak_rssi_dbm" in _rejects("weak_rssi_dbm", 1)
    assert "weak_rssi_dbm" in _rejects("weak_rssi_dbm", -121)
    assert Config(neighbour_evict_holdoff_ms=0).neighbour_evict_holdoff_ms == 0
    assert "flood_hop_limit" in _rejects("flood_hop_limit", 0)
    assert "flood_hop_limit" in _rejects("flood_hop_limit", 65536)


def test_hop_limit_allows_more_than_255_hops():
    # ARCHITECTURE.md section 2: a flood across a city takes ~385 hops.
    assert Config().flood_hop_limit > 255
    assert Config(flood_hop_limit=385).flood_hop_limit == 385


def test_bool_rejected_even_when_its_int_value_is_in_range():
    # True == 1 and False == 0 are in range for these keys; still not integers here.
    for key, value in (("max_neighbours", True), ("hello_doublings", False),
                       ("load_weight", False), ("mtu", True)):
        msg = _rejects(key, value)
        assert key in msg, msg


def test_non_integer_values_rejected_and_named():
    for value in (250.0, "250", None, b"\xfa", [250]):
        msg = _rejects("mtu", value)
        assert "mtu" in msg, msg


def test_first_bad_key_does_not_leave_a_half_built_object_in_use():
    # A failing construction raises; nothing is returned to be used by mistake.
    cfg = None
    try:
        cfg = Config(mtu=10)
    except ConfigError:
        pass
    assert cfg is None
