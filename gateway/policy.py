"""The owner policy: which destinations the mesh may reach through this gateway, how many
sessions it may hold, and how it shares the owner's bandwidth.

Rules kept here:
1. Safe by default: every destination that is not a global unicast address, and every address
   and on-link network of this machine, is refused with a reason from REASONS.
2. Order of checks: malformed -> deny list -> allow list -> address class -> own addresses ->
   allowed ports. An explicit deny entry always wins. An allow entry lifts the default
   refusals (rule 1) for what it matches; one that names a port also satisfies allowed_ports.
3. An IPv4 address inside IPv6 (::ffff:a.b.c.d, 64:ff9b::a.b.c.d, 6to4) is judged by the IPv4
   address it carries.
4. Finding this machine's addresses fails soft: a source that is missing or unreadable is
   skipped, never raised. Networks wider than /8 (IPv4) or /32 (IPv6) are ignored, so a VPN's
   catch-all route cannot refuse the whole internet.
5. Privacy: nothing here logs, stores or counts a destination. Refusals are counted by reason
   only, sessions and bandwidth by client address only, and only while they are active.
6. No clock of its own: SessionLimits is pure bookkeeping and FairBandwidth.grant() takes the
   time as an argument; only FairBandwidth.take() reads the event loop's clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
import subprocess
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .config import AddressRule, IPNetwork, PolicyConfig, parse_network, parse_rule

if TYPE_CHECKING:
    from .metrics import Counter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REASONS = ("invalid", "loopback", "private", "link_local", "cgnat", "ula", "multicast",
           "unspecified", "reserved", "own_address", "denied_host", "denied_network",
           "denied_port", "not_allowed_port")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# (reason, networks) in the order they are tried; anything else not global is "reserved".
_CLASSES_V4: tuple[tuple[str, tuple[ipaddress.IPv4Network, ...]], ...] = (
    ("unspecified", (_V4("0.0.0.0/32"),)),
    ("loopback", (_V4("127.0.0.0/8"),)),
    ("link_local", (_V4("169.254.0.0/16"),)),
    ("private", (_V4("10.0.0.0/8"), _V4("172.16.0.0/12"), _V4("192.168.0.0/16"))),
    ("cgnat", (_V4("100.64.0.0/10"),)),
    ("multicast", (_V4("224.0.0.0/4"),)),
    ("reserved", (_V4("0.0.0.0/8"), _V4("192.0.0.0/24"), _V4("192.0.2.0/24"),
                  _V4("192.88.99.0/24"), _V4("198.18.0.0/15"), _V4("198.51.100.0/24"),
                  _V4("203.0.113.0/24"), _V4("240.0.0.0/4"))),
)
_CLASSES_V6: tuple[tuple[str, tuple[ipaddress.IPv6Network, ...]], ...] = (
    ("unspecified", (_V6("::/128"),)),
    ("loopback", (_V6("::1/128"),)),
    ("link_local", (_V6("fe80::/10"),)),
    ("ula", (_V6("fc00::/7"),)),
    ("multicast", (_V6("ff00::/8"),)),
    ("reserved", (_V6("::/8"), _V6("100::/64"), _V6("2001::/23"), _V6("2001:db8::/32"),
                  _V6("3fff::/20"), _V6("5f00::/16"), _V6("fec0::/10"), _V6("64:ff9b:1::/48"))),
)
_NAT64 = _V6("64:ff9b::/96")
_MIN_OWN_PREFIX = {4: 8, 6: 32}


def parse_address(host: str) -> IPAddress | None:
    """The address in "10.0.0.1", "::1", "[::1]" or "fe80::1%eth0", with an IPv4 address
    carried inside IPv6 unwrapped (rule 3); None when it is not an IP address."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def classify(address: IPAddress) -> str | None:
    """The default refusal reason for an address, or None for a global unicast address."""
    if isinstance(address, ipaddress.IPv4Address):
        for reason, networks4 in _CLASSES_V4:
            if any(address in network for network in networks4):
                return reason
    else:
        for reason, networks6 in _CLASSES_V6:
            if any(address in network for network in networks6):
                return reason
    return None if address.is_global else "reserved"


class OwnerPolicy:
    """Checks each destination a client asks for against the owner's policy (rules 1-3)."""

    def __init__(self, config: PolicyConfig,
                 own_networks: Iterable[IPNetwork] | None = None) -> None:
        """``own_networks`` None means: detect this machine's addresses (rule 4); tests and
        the emulator pass them (or nothing) explicitly."""
        self.allow: list[AddressRule] = [parse_rule(r, allow_any_address=False)
                                         for r in config.allow]
        self.deny: list[AddressRule] = [parse_rule(r) for r in config.deny]
        self.allowed_ports = frozenset(config.allowed_ports)
        self.configured_own = [parse_network(a) for a in config.own_addresses]
        self._given = None if own_networks is None else list(own_networks)
        self.own_networks: list[IPNetwork] = []
        self.refresh()

    @classmethod
    def for_emulator(cls, allow: Iterable[str]) -> OwnerPolicy:
        """The default policy plus ``allow`` entries, without detecting local addresses."""
        return cls(PolicyConfig(allow=list(allow)), own_networks=())

    def refresh(self) -> None:
        """Re-read this machine's addresses (call it when the uplink changes: a new DHCP or
        PPPoE lease brings a new public address). The configured own_addresses always count,
        however wide; found ones only if no wider than rule 4 allows."""
        found = detect_own_networks() if self._given is None else self._given
        narrow = [n for n in found if n.prefixlen >= _MIN_OWN_PREFIX[n.version]]
        self.own_networks = list(dict.fromkeys([*self.configured_own, *narrow]))

    def check(self, client: bytes, host: str, port: int) -> str | None:
        """None when ``client`` may connect to ``host`` (an IP address) on ``port``, else the
        refusal reason (one of REASONS)."""
        address = parse_address(host)
        if address is None or not 0 < port < 65536:
            return "invalid"
        for rule in self.deny:
            if rule.matches(address, port):
                if rule.network is None:
                    return "denied_port"
                return "denied_host" if rule.is_host else "denied_network"
        allowed = [rule for rule in self.allow if rule.matches(address, port)]
        if any(rule.has_port for rule in allowed):
            return None
        if not allowed:
            reason = classify(address)
            if reason is not None:
                return reason
            if any(address.version == n.version and address in n for n in self.own_networks):
                return "own_address"
        if self.allowed_ports and port not in self.allowed_ports:
            return "not_allowed_port"
        return None


# -- this machine's addresses (rule 4) -------------------------------------------------------

def detect_own_networks() -> list[IPNetwork]:
    """Every address of this machine (as /32 or /128) and every network attached to it, from
    getaddrinfo(hostname), /proc/net/fib_trie and /proc/net/if_inet6, or ``ip -j addr`` when
    /proc has neither. Each source that fails is skipped."""
    found: list[IPNetwork] = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.append(parse_network(str(info[4][0]).partition("%")[0]))
    except (OSError, UnicodeError, ValueError):
        pass
    from_proc = [*parse_fib_trie(_read("/proc/net/fib_trie")),
                 *parse_if_inet6(_read("/proc/net/if_inet6"))]
    found.extend(from_proc or parse_ip_json(_run_ip()))
    return list(dict.fromkeys(found))


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return ""


def _run_ip() -> str:
    ip = shutil.which("ip")
    if ip is None:
        return ""
    try:
        done = subprocess.run([ip, "-j", "addr"], capture_output=True, text=True, timeout=2,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def parse_fib_trie(text: str) -> list[IPNetwork]:
    """Local addresses ("/32 host LOCAL") and attached networks ("/N link UNICAST") from the
    Main and Local tables of /proc/net/fib_trie."""
    found: list[IPNetwork] = []
    table_ok = False
    leaf = ""
    for line in text.splitlines():
        if line and not line[0].isspace():
            table_ok = line.rstrip(":") in ("Main", "Local")
            continue
        words = line.split()
        if not table_ok or not words:
            continue
        if words[0] == "|--" and len(words) > 1:
            leaf = words[1]
        elif words[0].startswith("/") and len(words) >= 3 and leaf:
            kind = (words[1], words[2])
            if kind in (("host", "LOCAL"), ("link", "UNICAST")):
                try:
                    found.append(ipaddress.IPv4Network(f"{leaf}{words[0]}", strict=False))
                except ValueError:
                    continue
    return found


def parse_if_inet6(text: str) -> list[IPNetwork]:
    """Each IPv6 address of /proc/net/if_inet6 (as /128) and its on-link prefix."""
    found: list[IPNetwork] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or len(words[0]) != 32:
            continue
        try:
            address = ipaddress.IPv6Address(int(words[0], 16))
            prefix = int(words[2], 16)
            found.append(ipaddress.IPv6Network(address))
            found.append(ipaddress.IPv6Network(f"{address}/{prefix}", strict=False))
        except ValueError:
            continue
    return found


def parse_ip_json(text: str) -> list[IPNetwork]:
    """Each address of ``ip -j addr`` output and its on-link prefix."""
    found: list[IPNetwork] = []
    try:
        interfaces = json.loads(text) if text else []
    except ValueError:
        return found
    for interface in interfaces if isinstance(interfaces, list) else ():
        infos = interface.get("addr_info", []) if isinstance(interface, dict) else []
        for info in infos if isinstance(infos, list) else ():
            if not isinstance(info, dict):
                continue
            local, prefix = info.get("local"), info.get("prefixlen")
            if not isinstance(local, str) or not isinstance(prefix, int):
                continue
            try:
                found.append(parse_network(local))
                found.append(parse_network(f"{local}/{prefix}"))
            except ValueError:
                continue
    return found


# -- sessions, bandwidth, refusals -----------------------------------------------------------

class SessionLimits:
    """How many exit sessions (streams) are open, per client and in total."""

    def __init__(self, max_per_client: int, max_total: int) -> None:
        self.max_per_client = max_per_client
        self.max_total = max_total
        self.total = 0
        self._by_client: dict[bytes, int] = {}

    def acquire(self, client: bytes) -> str | None:
        """Take one session for ``client``: None, or "client_sessions"/"total_sessions" when
        a limit is reached (nothing is taken then)."""
        held = self._by_client.get(client, 0)
        if held >= self.max_per_client:
            return "client_sessions"
        if self.total >= self.max_total:
            return "total_sessions"
        self._by_client[client] = held + 1
        self.total += 1
        return None

    def release(self, client: bytes) -> None:
        """Give back one session taken by acquire(); releasing more than was taken is ignored."""
        held = self._by_client.get(client, 0)
        if held <= 0:
            return
        self.total -= 1
        if held == 1:
            del self._by_client[client]
        else:
            self._by_client[client] = held - 1

    def active(self, client: bytes) -> int:
        return self._by_client.get(client, 0)


class FairBandwidth:
    """The owner's bandwidth cap, shared max-min fairly between active clients.

    Each client is paced on its own timeline at total/N bytes per second, N being the
    clients active now: those still inside their paced time or idle for less than
    ``idle_s``. A client alone gets the whole rate; a client that asks for less than its
    share soon stops counting, so the others' shares grow. A send is charged after it starts,
    so a new or idle client's first send goes at once (a burst of one send)."""

    def __init__(self, total_bytes_per_s: int, idle_s: float = 0.25) -> None:
        self.total_bytes_per_s = total_bytes_per_s
        self.idle_s = idle_s
        self._next_s: dict[bytes, float] = {}  # client -> when its paced time ends
        self._prune_at_s = 0.0

    def grant(self, client: bytes, nbytes: int, now_s: float) -> float:
        """Charge ``nbytes`` to ``client`` and return how many seconds it must wait before
        sending them (0.0 when it may send now, or when the rate is unlimited)."""
        if self.total_bytes_per_s <= 0:
            return 0.0
        if now_s >= self._prune_at_s:
            self._next_s = {c: t for c, t in self._next_s.items() if t + self.idle_s > now_s}
            self._prune_at_s = now_s + self.idle_s / 4
        start_s = max(now_s, self._next_s.get(client, now_s))
        self._next_s[client] = now_s  # counted as active while the share is computed
        share = self.total_bytes_per_s / len(self._next_s)
        self._next_s[client] = start_s + max(0, nbytes) / share
        return start_s - now_s

    def active_clients(self) -> int:
        return len(self._next_s)

    def paced_until_s(self, client: bytes) -> float:
        """When the client's paced time ends: its bytes granted so far have had their share
        of the rate by then (0.0 for a client not seen lately)."""
        return self._next_s.get(client, 0.0)

    def clients(self) -> frozenset[bytes]:
        """The clients counted as active at the last grant."""
        return frozenset(self._next_s)

    async def take(self, client: bytes, nbytes: int) -> None:
        """Wait until ``client`` may send ``nbytes``."""
        if self.total_bytes_per_s <= 0:
            return
        wait_s = self.grant(client, nbytes, asyncio.get_running_loop().time())
        if wait_s > 0:
            await asyncio.sleep(wait_s)


class Refusals:
    """Refusals counted by reason, nothing else (rule 5). At most ``max_reasons`` distinct
    reasons are kept; any further one counts as "other"."""

    def __init__(self, counter: Counter | None = None, max_reasons: int = 64) -> None:
        """``counter``: an optional metrics counter with a "reason" label, kept in step."""
        self.counter = counter
        self.max_reasons = max_reasons
        self._counts: dict[str, int] = {}

    def count(self, reason: str) -> None:
        if reason not in self._counts and len(self._counts) >= self.max_reasons:
            reason = "other"
        self._counts[reason] = self._counts.get(reason, 0) + 1
        if self.counter is not None:
            self.counter.inc(reason=reason)

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)
