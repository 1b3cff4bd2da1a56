"""The gateway's TOML config: a full valid file, the shipped example, and one test per kind of
mistake a volunteer makes, each checked for a message that says where and what."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from meshbulb_gateway.config import (
    ConfigError,
    GatewayConfig,
    LinkSpec,
    NodeSection,
    PolicyConfig,
    load_config,
    load_mesh_key,
    load_or_create_key,
    parse_config,
)

EXAMPLE = Path(__file__).parents[2] / "gateway" / "packaging" / "gateway.example.toml"

MINIMAL = """
[node]
mesh_key_file = "/etc/meshbulb/mesh.key"
key_id = 7

[[link]]
type = "serial"
"""

FULL = """
[node]
key_file = "keys/node.key"
mesh_key_file = "/etc/meshbulb/mesh.key"
key_id = 3
counter_file = "/var/lib/meshbulb/counter"
mtu = 1470

[[link]]
type = "udp"
bind = "0.0.0.0:4210"
peers = ["192.168.1.50:4210", "[fd00::50]:4211"]

[[link]]
type = "serial"
port = "/dev/ttyACM0"
baudrate = 115200

[exit]
enabled = false
uplink_check_host = "connectivity.example.org"
uplink_check_port = 80
uplink_check_interval_s = 12.5
dns = false
connect_timeout_s = 4

[policy]
allow = ["127.0.0.1:8080", "192.168.1.0/24", "[::1]:9000", "10.0.0.0/8:443-444"]
deny = ["*:25", "93.184.216.34", "2001:db8::/32"]
allowed_ports = [80, 443]
own_addresses = ["81.2.69.160", "2a02:1234::/48"]
bandwidth_kbit_s = 8000
max_sessions = 100
max_sessions_per_client = 10

[metrics]
listen = "[::1]:9811"

[log]
level = "debug"
format = "json"
"""


def error_of(text: str, source: str = "gw.toml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source, base_dir="/etc/meshbulb")
    return str(info.value)


def test_full_config() -> None:
    config = parse_config(FULL, "/etc/meshbulb/gateway.toml")
    assert config.node == NodeSection(mesh_key_file="/etc/meshbulb/mesh.key", key_id=3,
                                      key_file="/etc/meshbulb/keys/node.key",
                                      counter_file="/var/lib/meshbulb/counter", mtu=1470)
    udp, serial = config.links
    assert udp.type == "udp" and udp.bind_address == ("0.0.0.0", 4210)
    assert udp.peer_addresses == [("192.168.1.50", 4210), ("fd00::50", 4211)]
    assert serial == LinkSpec(type="serial", port="/dev/ttyACM0", baudrate=115200)
    assert not config.exit.enabled and not config.exit.dns
    assert config.exit.uplink_check_host == "connectivity.example.org"
    assert config.exit.uplink_check_interval_s == 12.5
    assert config.exit.connect_timeout_s == 4.0
    assert config.policy.allow[0] == "127.0.0.1:8080"
    assert config.policy.allowed_ports == [80, 443]
    assert config.policy.bandwidth_bytes_per_s == 1_000_000
    assert (config.policy.max_sessions, config.policy.max_sessions_per_client) == (100, 10)
    assert config.metrics.listen_address == ("::1", 9811)
    assert (config.log.level, config.log.format) == ("debug", "json")


def test_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config == GatewayConfig(
        node=NodeSection(mesh_key_file="/etc/meshbulb/mesh.key", key_id=7),
        links=[LinkSpec(type="serial")])
    assert config.links[0].port == "/dev/ttyUSB0" and config.links[0].baudrate == 921600
    assert config.node.key_file == "/var/lib/meshbulb/node.key" and config.node.mtu == 250
    assert config.exit.uplink_check_host == "1.1.1.1" and config.exit.uplink_check_port == 443
    assert config.exit.uplink_check_interval_s == 30 and config.exit.connect_timeout_s == 10
    assert config.policy == PolicyConfig()
    assert config.policy.max_sessions == 256 and config.policy.bandwidth_kbit_s == 0
    assert config.metrics.listen_address == ("127.0.0.1", 9810)
    assert (config.log.level, config.log.format) == ("info", "text")
    assert LinkSpec(type="udp").bind_address == ("0.0.0.0", 4210)


def test_metrics_can_be_turned_off() -> None:
    config = parse_config(MINIMAL + '[metrics]\nlisten = ""\n')
    assert config.metrics.listen_address is None


def test_the_example_config_parses() -> None:
    config = load_config(str(EXAMPLE))
    assert config.policy == PolicyConfig()
    assert [link.type for link in config.links] == ["serial"]


@pytest.mark.parametrize(("extra", "where", "suggestion"), [
    ("[policy]\nbandwith_kbit_s = 10\n", "policy.bandwith_kbit_s", "'bandwidth_kbit_s'"),
    ("[policy]\nmax_session = 10\n", "policy.max_session", "'max_sessions'"),
    ("[exit]\nconect_timeout_s = 3\n", "exit.conect_timeout_s", "'connect_timeout_s'"),
    ("[polcy]\nallow = []\n", "[polcy]", "'policy'"),
    ("[[links]]\ntype = 'udp'\n", "[links]", "'link'"),
    ("[metrics]\nlisten_on = ''\n", "metrics.listen_on", "'listen'"),
])
def test_typo_names_the_key_and_suggests_the_right_one(extra: str, where: str,
                                                       suggestion: str) -> None:
    message = error_of(MINIMAL + extra)
    assert message.startswith("gw.toml: ")
    assert where in message and "unknown" in message
    assert f"did you mean {suggestion}?" in message


def test_typo_inside_a_link_names_the_link() -> None:
    message = error_of(MINIMAL + "baudrte = 9600\n")
    assert "link[1].baudrte" in message and "'baudrate'" in message


def test_unknown_key_without_a_close_match_suggests_nothing() -> None:
    message = error_of(MINIMAL + "[log]\nzzz = 1\n")
    assert "log.zzz: unknown key" in message and "did you mean" not in message


@pytest.mark.parametrize(("extra", "where", "expected"), [
    ("[policy]\nbandwidth_kbit_s = 'lots'\n", "policy.bandwidth_kbit_s", "expected an integer"),
    ("[policy]\nbandwidth_kbit_s = 1.5\n", "policy.bandwidth_kbit_s", "expected an integer"),
    ("[exit]\nenabled = 'yes'\n", "exit.enabled", "expected true or false"),
    ("[exit]\nuplink_check_port = true\n", "exit.uplink_check_port", "expected an integer"),
    ("[policy]\nallow = '10.0.0.0/8'\n", "policy.allow", "expected a list"),
    ("[policy]\nallowed_ports = ['80']\n", "policy.allowed_ports[1]", "a port number"),
    ("[log]\nlevel = 3\n", "log.level", "expected one of"),
    ("[exit]\nconnect_timeout_s = '10s'\n", "exit.connect_timeout_s", "seconds"),
    ("policy = 5\n", "policy", "expected a table"),
])
def test_wrong_type(extra: str, where: str, expected: str) -> None:
    text = extra + MINIMAL if not extra.startswith("[") else MINIMAL + extra
    message = error_of(text)
    assert f"{where}: " in message and expected in message


def test_wrong_type_in_node() -> None:
    message = error_of(MINIMAL.replace("key_id = 7", 'key_id = "7"'))
    assert "node.key_id: expected an integer, got a string ('7')" in message


@pytest.mark.parametrize(("extra", "where", "expected"), [
    ("[policy]\nbandwidth_kbit_s = -1\n", "policy.bandwidth_kbit_s", "from 0 to"),
    ("[policy]\nmax_sessions = 0\n", "policy.max_sessions", "from 1 to 65535"),
    ("[policy]\nmax_sessions = 4\nmax_sessions_per_client = 5\n",
     "policy.max_sessions_per_client", "at most max_sessions (4)"),
    ("[policy]\nallowed_ports = [80, 70000]\n", "policy.allowed_ports[2]", "from 1 to 65535"),
    ("[exit]\nuplink_check_port = 0\n", "exit.uplink_check_port", "from 1 to 65535"),
    ("[exit]\nuplink_check_interval_s = 0\n", "exit.uplink_check_interval_s", "from 1 to 3600"),
    ("[log]\nformat = 'xml'\n", "log.format", "\"text\", \"json\""),
    ("[log]\nlevel = 'infoo'\n", "log.level", "did you mean 'info'?"),
])
def test_out_of_range(extra: str, where: str, expected: str) -> None:
    message = error_of(MINIMAL + extra)
    assert f"{where}: " in message and expected in message


@pytest.mark.parametrize(("old", "new", "where"), [
    ("key_id = 7", "key_id = 0", "node.key_id"),
    ("key_id = 7", "key_id = 256", "node.key_id"),
    ("key_id = 7", "key_id = 7\nmtu = 63", "node.mtu"),
    ("key_id = 7", "key_id = 7\nmtu = 1471", "node.mtu"),
    ('type = "serial"', 'type = "serial"\nbaudrate = 0', "link[1].baudrate"),
])
def test_out_of_range_in_node_and_link(old: str, new: str, where: str) -> None:
    message = error_of(MINIMAL.replace(old, new))
    assert f"{where}: expected an integer from" in message


@pytest.mark.parametrize(("section", "where"), [
    ('[[link]]\ntype = "udp"\nbind = "localhost:4210"\n', "link[2].bind"),
    ('[[link]]\ntype = "udp"\nbind = "0.0.0.0"\n', "link[2].bind"),
    ('[[link]]\ntype = "udp"\npeers = ["192.168.1.300:4210"]\n', "link[2].peers[1]"),
    ('[[link]]\ntype = "udp"\npeers = ["192.168.1.5:4210", "192.168.1.6:0"]\n',
     "link[2].peers[2]"),
    ('[[link]]\ntype = "udp"\npeers = ["fd00::1:4210"]\n', "link[2].peers[1]"),
    ('[policy]\nallow = ["example.com:80"]\n', "policy.allow[1]"),
    ('[policy]\nallow = ["*:80"]\n', "policy.allow[1]"),
    ('[policy]\ndeny = ["10.0.0.0/33"]\n', "policy.deny[1]"),
    ('[policy]\ndeny = ["*:90-80"]\n', "policy.deny[1]"),
    ('[policy]\nown_addresses = ["my router"]\n', "policy.own_addresses[1]"),
    ('[metrics]\nlisten = "9810"\n', "metrics.listen"),
    ('[exit]\nuplink_check_host = "not a host!"\n', "exit.uplink_check_host"),
])
def test_bad_address(section: str, where: str) -> None:
    message = error_of(MINIMAL + section)
    assert f"{where}: expected " in message


def test_unknown_link_type() -> None:
    message = error_of(MINIMAL.replace('"serial"', '"udpp"'))
    assert 'link[1].type: expected one of "udp", "serial"' in message
    assert "did you mean 'udp'?" in message


def test_key_of_the_other_link_type() -> None:
    message = error_of(MINIMAL + 'bind = "0.0.0.0:4210"\n')
    assert 'link[1].bind: not a key of a type = "serial" link' in message


@pytest.mark.parametrize(("text", "where"), [
    ("[[link]]\ntype = 'serial'\n", "node.mesh_key_file: missing"),
    (MINIMAL.replace("key_id = 7", ""), "node.key_id: missing"),
    (MINIMAL.replace('type = "serial"', ""), "link[1].type: missing"),
    (MINIMAL.split("[[link]]")[0], "link: missing; expected at least one [[link]]"),
    (MINIMAL.replace("[[link]]", "[link]"), "got a [link] table"),
])
def test_missing_required(text: str, where: str) -> None:
    assert where in error_of(text)


def test_toml_syntax_error_reports_line_and_column() -> None:
    message = error_of(MINIMAL + "[policy]\nallow = [\"1.2.3.4\"\nmax_sessions = 3\n")
    assert message.startswith("gw.toml: TOML syntax error: ")
    assert "(at line 10, column 1)" in message  # where the unclosed array ran into a key


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(path) in str(info.value) and "No such file" in str(info.value)


def test_load_config_reads_paths_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(MINIMAL.replace("/etc/meshbulb/mesh.key", "mesh.key"))
    config = load_config(str(path))
    assert config.node.mesh_key_file == str(tmp_path / "mesh.key")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(path))


# -- key files ----------------------------------------------------------------------------------

def test_load_or_create_key_creates_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "node.key"
    key = load_or_create_key(str(path))
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(str(path)) == key
    assert os.listdir(path.parent) == ["node.key"]


@pytest.mark.parametrize("size", [0, 31, 33])
def test_a_key_file_of_the_wrong_size_is_an_error(tmp_path: Path, size: int) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(b"k" * size)
    with pytest.raises(ConfigError, match="exactly 32 bytes"):
        load_or_create_key(str(path))


def test_load_mesh_key_hex_or_raw(tmp_path: Path) -> None:
    path = tmp_path / "mesh.key"
    path.write_text("00112233445566778899aabbccddeeff\n")
    assert load_mesh_key(str(path)) == bytes.fromhex("00112233445566778899aabbccddeeff")
    raw = bytes(range(200, 232))
    path.write_bytes(raw)
    assert load_mesh_key(str(path)) == raw
    path.write_text("0011")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_mesh_key(str(path))
    with pytest.raises(ConfigError, match="cannot read node.mesh_key_file"):
        load_mesh_key(str(tmp_path / "missing.key"))
