"""The gateway's TOML configuration: one file, read once at start, checked key by key.

Rules kept here:
1. Every unknown section or key, wrong type and out-of-range value raises ConfigError. Its
   message names the file, the key path (``policy.bandwidth_kbit_s``, ``link[2].peers[1]``;
   [[link]] entries count from 1) and what was expected, and for a typo the closest valid key.
2. Nothing is guessed: a value is used only if it is valid; a default only if the key is
   absent. A gateway cannot guess its mesh (``node.mesh_key_file``, ``node.key_id``) nor its
   links (at least one [[link]]); everything else has a safe default.
3. The dataclasses mirror the TOML keys one to one (same names, same value types), so code and
   tests may build them directly; parsed forms come from their ``*_address`` helpers.
4. Relative file paths are taken relative to the config file's directory.
5. Parsing reads no file but the config itself; keys are read by ``load_or_create_key`` and
   ``load_mesh_key`` when the gateway starts. A created key file is 0600 from its first byte.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .toml_table import REQUIRED, TomlTable, read_text
from .toml_table import describe as _describe
from .toml_table import is_int as _is_int
from .toml_table import suggest as _suggest

KEY_LEN = 32
MIN_MESH_KEY_LEN = 16
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
LINK_TYPES = ("udp", "serial")


class ConfigError(Exception):
    """The configuration (or a file it names) is unusable; str(e) says where and why."""


@dataclass
class NodeSection:
    mesh_key_file: str
    key_id: int
    key_file: str = "/var/lib/meshbulb/node.key"
    counter_file: str = "/var/lib/meshbulb/counter"
    mtu: int = 250


@dataclass
class LinkSpec:
    """One [[link]]: ``type`` is "udp" (bind, peers) or "serial" (port, baudrate)."""

    type: str
    bind: str = "0.0.0.0:4210"
    peers: list[str] = field(default_factory=list)
    port: str = "/dev/ttyUSB0"
    baudrate: int = 921600

    @property
    def bind_address(self) -> tuple[str, int]:
        return parse_host_port(self.bind, allow_port_zero=True)

    @property
    def peer_addresses(self) -> list[tuple[str, int]]:
        return [parse_host_port(peer) for peer in self.peers]


@dataclass
class ExitSection:
    enabled: bool = True
    uplink_check_host: str = "1.1.1.1"
    uplink_check_port: int = 443
    uplink_check_interval_s: float = 30.0
    dns: bool = True
    connect_timeout_s: float = 10.0


@dataclass
class PolicyConfig:
    """The owner policy as written in [policy]; policy.OwnerPolicy enforces it."""

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    allowed_ports: list[int] = field(default_factory=list)
    own_addresses: list[str] = field(default_factory=list)
    bandwidth_kbit_s: int = 0
    max_sessions: int = 256
    max_sessions_per_client: int = 16

    @property
    def bandwidth_bytes_per_s(self) -> int:
        """The cap in bytes per second for policy.FairBandwidth (0 = unlimited)."""
        return self.bandwidth_kbit_s * 1000 // 8


@dataclass
class MetricsSection:
    listen: str = "127.0.0.1:9810"

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """(host, port) to serve /metrics on, or None when disabled (listen = "")."""
        return parse_host_port(self.listen, allow_port_zero=True) if self.listen else None


@dataclass
class LogSection:
    level: str = "info"
    format: str = "text"


@dataclass
class GatewayConfig:
    node: NodeSection
    links: list[LinkSpec]
    exit: ExitSection = field(default_factory=ExitSection)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    log: LogSection = field(default_factory=LogSection)


# -- addresses and policy rules (shared with policy.py) ------------------------------------

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_host_port(text: str, allow_port_zero: bool = False) -> tuple[str, int]:
    """"192.168.1.50:4210" or "[fd00::1]:4210" -> (host, port); raises ValueError."""
    host, port = _split_port(text.strip())
    if port is None:
        raise ValueError("no port")
    if port == 0 and not allow_port_zero:
        raise ValueError("port 0")
    ipaddress.ip_address(host)
    return host, port


@dataclass(frozen=True)
class AddressRule:
    """One allow/deny entry: "HOST", "NETWORK", either with ":PORT" or ":LOW-HIGH", or
    "*:PORT" (any address; deny only). ``network`` None means any address."""

    network: IPNetwork | None
    port_low: int | None = None
    port_high: int | None = None

    @property
    def has_port(self) -> bool:
        return self.port_low is not None

    @property
    def is_host(self) -> bool:
        return self.network is not None and self.network.num_addresses == 1

    def matches(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        if self.network is not None and (address.version != self.network.version
                                         or address not in self.network):
            return False
        return self.port_low is None or self.port_low <= port <= (self.port_high or 0)


def parse_rule(text: str, allow_any_address: bool = True) -> AddressRule:
    """Parse an allow/deny entry (see AddressRule); raises ValueError saying what is wrong."""
    text = text.strip()
    if text.startswith("*"):
        if not allow_any_address:
            raise ValueError("an allow entry must name an address or network, not *")
        if not text.startswith("*:"):
            raise ValueError("* needs a port, as in *:25")
        low, high = _parse_ports(text[2:])
        return AddressRule(None, low, high)
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError("missing ]")
        address, rest = text[1:close], text[close + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("expected :PORT after ]")
        ports = rest[1:] if rest else None
    elif text.count(":") == 1:
        address, ports = text.split(":")
    else:
        address, ports = text, None
    network = ipaddress.ip_network(address, strict=False)
    if ports is None:
        return AddressRule(network)
    low, high = _parse_ports(ports)
    return AddressRule(network, low, high)


def parse_network(text: str) -> IPNetwork:
    """"192.0.2.7" (one address) or "2001:db8::/48"; raises ValueError."""
    return ipaddress.ip_network(text.strip().strip("[]"), strict=False)


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or (close + 1 < len(text) and text[close + 1] != ":"):
            raise ValueError("expected [IPv6]:PORT")
        host, rest = text[1:close], text[close + 2:]
        return host, _parse_port(rest) if close + 1 < len(text) else None
    if text.count(":") == 1:
        host, rest = text.split(":")
        return host, _parse_port(rest)
    return text, None


def _parse_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise ValueError(f"bad port {text!r}")
    return int(text)


def _parse_ports(text: str) -> tuple[int, int]:
    low_text, dash, high_text = text.partition("-")
    low = _parse_port(low_text)
    high = _parse_port(high_text) if dash else low
    if low == 0 or high < low:
        raise ValueError(f"bad port range {text!r}")
    return low, high


# -- reading TOML tables ---------------------------------------------------------------------

_SECTIONS = ("node", "link", "exit", "policy", "metrics", "log")


class _Table(TomlTable):
    """A config table (toml_table.py) with the gateway's own value kinds."""

    error_type = ConfigError

    def seconds(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(key, default, "a number of seconds",
                          lambda v: _is_int(v) or isinstance(v, float))
        if not low <= value <= high:
            raise self.error(key, f"expected seconds from {low:g} to {high:g}, got {value}")
        return float(value)

    def parsed(self, key: str, default: str, kind: str, parse: Callable[[str], object]) -> str:
        value: str = self.string(key, default)
        if key in self.data:
            try:
                parse(value)
            except ValueError:
                raise self.error(key, f"expected {kind}, got {value!r}") from None
        return value

    def items(self, key: str, item_kind: str, item_ok: Callable[[object], bool],
              check: Callable[[Any], object] | None = None) -> list[Any]:
        values: list[Any] = self._get(key, [], f"a list of {item_kind}",
                                      lambda v: isinstance(v, list))
        for i, value in enumerate(values, 1):
            where = f"{key}[{i}]"
            if not item_ok(value):
                raise self.error(where, f"expected {item_kind}, got {_describe(value)}")
            if check is not None:
                try:
                    check(value)
                except ValueError as e:
                    raise self.error(where, f"expected {item_kind}, got {value!r} ({e})") from None
        return list(values)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _sub_table(root: _Table, key: str) -> _Table:
    value = root._get(key, {}, "a table", lambda v: isinstance(v, dict))
    return _Table(value, key, root.source)


# -- sections --------------------------------------------------------------------------------

_ADDRESS = "an IP address and port such as 192.168.1.50:4210 or [fd00::1]:4210"


def _node(t: _Table, base_dir: str) -> NodeSection:
    node = NodeSection(
        mesh_key_file=_path(t.string("mesh_key_file", REQUIRED), base_dir),
        key_id=t.integer("key_id", REQUIRED, 1, 255),
        key_file=_path(t.string("key_file", NodeSection.key_file), base_dir),
        counter_file=_path(t.string("counter_file", NodeSection.counter_file), base_dir),
        mtu=t.integer("mtu", NodeSection.mtu, 64, 1470),
    )
    for key in ("mesh_key_file", "key_file", "counter_file"):
        if not getattr(node, key):
            raise t.error(key, "expected a file path, got an empty string")
    t.done()
    return node


def _link(t: _Table) -> LinkSpec:
    kind = t.string("type", REQUIRED, LINK_TYPES)
    if kind == "udp":
        spec = LinkSpec(
            type=kind,
            bind=t.parsed("bind", LinkSpec.bind, _ADDRESS,
                          lambda s: parse_host_port(s, allow_port_zero=True)),
            peers=t.items("peers", _ADDRESS, _is_str, parse_host_port),
        )
        other = ("port", "baudrate")
    else:
        spec = LinkSpec(
            type=kind,
            port=t.string("port", LinkSpec.port),
            baudrate=t.integer("baudrate", LinkSpec.baudrate, 300, 4_000_000),
        )
        if not spec.port:
            raise t.error("port", "expected a serial device such as /dev/ttyUSB0")
        other = ("bind", "peers")
    for key in other:
        if key in t.data:
            raise t.error(key, f'not a key of a type = "{kind}" link')
    t.done()
    return spec


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        labels = value.rstrip(".").split(".")
        return 0 < len(value) <= 253 and all(
            0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
            and not label.startswith("-") for label in labels)


def _exit(t: _Table) -> ExitSection:
    section = ExitSection(
        enabled=t.boolean("enabled", True),
        uplink_check_host=t.string("uplink_check_host", ExitSection.uplink_check_host),
        uplink_check_port=t.integer("uplink_check_port", ExitSection.uplink_check_port, 1, 65535),
        uplink_check_interval_s=t.seconds("uplink_check_interval_s", 30.0, 1, 3600),
        dns=t.boolean("dns", True),
        connect_timeout_s=t.seconds("connect_timeout_s", 10.0, 0.1, 300),
    )
    if not _is_host(section.uplink_check_host):
        raise t.error("uplink_check_host", "expected an IP address or host name, got "
                      f"{section.uplink_check_host!r}")
    t.done()
    return section


def _policy(t: _Table) -> PolicyConfig:
    rule = "HOST, NETWORK, HOST:PORT or NETWORK:PORT (e.g. 192.168.1.10:8080, 10.0.0.0/8)"
    policy = PolicyConfig(
        allow=t.items("allow", rule, _is_str, lambda s: parse_rule(s, allow_any_address=False)),
        deny=t.items("deny", rule + " or *:PORT", _is_str, parse_rule),
        allowed_ports=t.items("allowed_ports", "a port number from 1 to 65535", _is_port),
        own_addresses=t.items("own_addresses", "an IP address or network", _is_str, parse_network),
        bandwidth_kbit_s=t.integer("bandwidth_kbit_s", 0, 0, 10_000_000),
        max_sessions=t.integer("max_sessions", 256, 1, 65535),
        max_sessions_per_client=t.integer("max_sessions_per_client", 16, 1, 65535),
    )
    if policy.max_sessions_per_client > policy.max_sessions:
        raise t.error("max_sessions_per_client", "expected at most max_sessions "
                      f"({policy.max_sessions}), got {policy.max_sessions_per_client}")
    t.done()
    return policy


def _metrics(t: _Table) -> MetricsSection:
    listen = t.string("listen", MetricsSection.listen)
    if listen:
        try:
            parse_host_port(listen, allow_port_zero=True)
        except ValueError:
            raise t.error("listen", f'expected {_ADDRESS.replace("4210", "9810")}, or "" to '
                          f"turn metrics off, got {listen!r}") from None
    t.done()
    return MetricsSection(listen)


def _log(t: _Table) -> LogSection:
    section = LogSection(level=t.string("level", "info", LOG_LEVELS),
                         format=t.string("format", "text", LOG_FORMATS))
    t.done()
    return section


def _path(path: str, base_dir: str) -> str:
    return path if not path or os.path.isabs(path) else os.path.join(base_dir, path)


# -- entry points ----------------------------------------------------------------------------

def parse_config(text: str, source: str = "<string>", base_dir: str | None = None) -> GatewayConfig:
    """Parse and check a config; relative paths are taken from ``base_dir`` (default: the
    directory of ``source`` when it is a file name, else the current directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: TOML syntax error: {e}") from None
    if base_dir is None:
        base_dir = os.path.dirname(os.path.abspath(source)) if not source.startswith("<") else ""
    for key in data:
        if key not in _SECTIONS:
            raise ConfigError(f"{source}: [{key}]: unknown section" + _suggest(key, _SECTIONS))
    root = _Table(data, "", source)
    node = _node(_sub_table(root, "node"), base_dir or os.getcwd())
    raw_links = data.get("link", [])
    if isinstance(raw_links, dict):
        raise root.error("link", "expected [[link]] entries (two brackets), got a [link] table")
    if not isinstance(raw_links, list) or not all(isinstance(v, dict) for v in raw_links):
        raise root.error("link", "expected [[link]] entries")
    if not raw_links:
        raise root.error("link", 'missing; expected at least one [[link]] (type = "udp" or '
                         '"serial")')
    links = [_link(_Table(raw, f"link[{i}]", source)) for i, raw in enumerate(raw_links, 1)]
    config = GatewayConfig(
        node=node,
        links=links,
        exit=_exit(_sub_table(root, "exit")),
        policy=_policy(_sub_table(root, "policy")),
        metrics=_metrics(_sub_table(root, "metrics")),
        log=_log(_sub_table(root, "log")),
    )
    return config


def load_config(path: str) -> GatewayConfig:
    """Read and check the config file at ``path``."""
    text = read_text(path, "config file", ConfigError)
    return parse_config(text, path, os.path.dirname(os.path.abspath(path)))


def load_or_create_key(path: str) -> bytes:
    """The node's 32-byte X25519 private key from ``path``; if the file is missing, a new
    random key is written there with mode 0600 (rule 5)."""
    try:
        with open(path, "rb") as f:
            key = f.read(KEY_LEN + 1)
    except FileNotFoundError:
        return _create_key(path)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read node.key_file: {e.strerror}") from None
    if len(key) != KEY_LEN:
        raise ConfigError(f"{path}: node.key_file must hold exactly {KEY_LEN} bytes (a raw "
                          f"X25519 private key), it holds {len(key)}"
                          f"{' or more' if len(key) > KEY_LEN else ''}")
    return key


def _create_key(path: str) -> bytes:
    key = os.urandom(KEY_LEN)
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # never replaces a key another process wrote meanwhile
        except FileExistsError:
            return load_or_create_key(path)
    except OSError as e:
        raise ConfigError(f"{path}: cannot create node.key_file: {e.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return key


def load_mesh_key(path: str) -> bytes:
    """The mesh (community) key from ``path``: hex text or raw bytes, at least 16 bytes."""
    try:
        with open(path, "rb") as f:
            raw = f.read(4096)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read node.mesh_key_file: {e.strerror}") from None
    text = raw.strip()
    key = raw
    if text and len(text) % 2 == 0:
        try:
            key = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            key = raw
    if len(key) < MIN_MESH_KEY_LEN:
        raise ConfigError(f"{path}: node.mesh_key_file must hold at least {MIN_MESH_KEY_LEN} "
                          f"bytes (or {2 * MIN_MESH_KEY_LEN} hex digits), it holds {len(key)}")
    return key
