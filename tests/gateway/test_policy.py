"""The owner policy: safe defaults, allow and deny lists, own addresses, session limits, fair
bandwidth (on a simulated clock) and refusal counters."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from meshbulb_gateway import policy
from meshbulb_gateway.config import PolicyConfig
from meshbulb_gateway.metrics import Metrics
from meshbulb_gateway.policy import (
    REASONS,
    FairBandwidth,
    OwnerPolicy,
    Refusals,
    SessionLimits,
    detect_own_networks,
    parse_fib_trie,
    parse_if_inet6,
    parse_ip_json,
)

CLIENT = b"\x02\x00\x00\x00\x00\x01"


def make(own: tuple[str, ...] = (), allow: tuple[str, ...] = (), deny: tuple[str, ...] = (),
         allowed_ports: tuple[int, ...] = (), own_addresses: tuple[str, ...] = ()) -> OwnerPolicy:
    config = PolicyConfig(allow=list(allow), deny=list(deny), allowed_ports=list(allowed_ports),
                          own_addresses=list(own_addresses))
    return OwnerPolicy(config, own_networks=[ipaddress.ip_network(n) for n in own])


@pytest.mark.parametrize(("host", "reason"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("[::1]", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("172.31.255.254", "private"), ("192.168.1.1", "private"), ("169.254.10.1", "link_local"),
    ("fe80::1", "link_local"), ("fe80::1%eth0", "link_local"), ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"), ("fd12:3456::1", "ula"), ("fc00::1", "ula"),
    ("224.0.0.251", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("0.1.2.3", "reserved"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.2.1", "reserved"),
    ("198.51.100.1", "reserved"), ("203.0.113.9", "reserved"), ("198.18.0.1", "reserved"),
    ("2001:db8::1", "reserved"), ("fec0::1", "reserved"),
    # IPv4 inside IPv6 is judged by the IPv4 address
    ("::ffff:10.0.0.1", "private"), ("::ffff:127.0.0.1", "loopback"),
    ("[::ffff:192.168.0.1]", "private"), ("64:ff9b::10.0.0.1", "private"),
    ("2002:c0a8:0101::1", "private"),
    ("not an address", "invalid"), ("example.com", "invalid"), ("", "invalid"),
])
def test_default_policy_refuses_everything_not_global(host: str, reason: str) -> None:
    assert make().check(CLIENT, host, 443) == reason
    assert reason in REASONS


@pytest.mark.parametrize("host", ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111",
                                  "::ffff:8.8.8.8", "[2a00:1450:4001::200e]", "100.128.0.1",
                                  "172.32.0.1", "64:ff9b::8.8.8.8"])
def test_default_policy_allows_global_unicast(host: str) -> None:
    assert make().check(CLIENT, host, 443) is None


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_bad_port_is_invalid(port: int) -> None:
    assert make().check(CLIENT, "1.1.1.1", port) == "invalid"


def test_own_addresses_configured_and_detected_are_refused() -> None:
    p = make(own=("2a02:1234:5678:9a00::/64", "81.2.69.0/24"),
             own_addresses=("81.2.70.5", "2a01:4f8::/32"))
    assert p.check(CLIENT, "81.2.70.5", 80) == "own_address"
    assert p.check(CLIENT, "81.2.69.200", 80) == "own_address"
    assert p.check(CLIENT, "2a02:1234:5678:9a00::42", 80) == "own_address"
    assert p.check(CLIENT, "2a01:4f8:1::1", 80) == "own_address"
    assert p.check(CLIENT, "::ffff:81.2.70.5", 80) == "own_address"
    assert p.check(CLIENT, "81.2.70.6", 80) is None


def test_catch_all_networks_found_never_count_as_own() -> None:
    p = make(own=("0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "::/0", "2000::/3", "10.0.0.0/7"))
    assert p.own_networks == []
    assert p.check(CLIENT, "8.8.8.8", 53) is None
    p = make(own_addresses=("8.0.0.0/7",))  # but the owner may refuse what they like
    assert p.check(CLIENT, "8.8.8.8", 53) == "own_address"


def test_allow_punches_a_hole_for_exactly_what_it_names() -> None:
    p = make(allow=("127.0.0.1:8080", "192.168.1.0/24", "[::1]:9000", "10.0.0.0/8:443-444"),
             own=("127.0.0.0/8",))
    assert p.check(CLIENT, "127.0.0.1", 8080) is None
    assert p.check(CLIENT, "127.0.0.1", 8081) == "loopback"
    assert p.check(CLIENT, "127.0.0.2", 8080) == "loopback"
    assert p.check(CLIENT, "192.168.1.77", 22) is None
    assert p.check(CLIENT, "192.168.2.77", 22) == "private"
    assert p.check(CLIENT, "::1", 9000) is None
    assert p.check(CLIENT, "::ffff:127.0.0.1", 8080) is None
    assert p.check(CLIENT, "10.9.9.9", 444) is None
    assert p.check(CLIENT, "10.9.9.9", 445) == "private"


def test_allow_lifts_own_address() -> None:
    p = make(own=("81.2.69.0/24",), allow=("81.2.69.10:443",))
    assert p.check(CLIENT, "81.2.69.10", 443) is None
    assert p.check(CLIENT, "81.2.69.10", 80) == "own_address"


def test_deny_beats_allow_and_names_what_matched() -> None:
    p = make(allow=("127.0.0.1:8080", "192.168.0.0/16"),
             deny=("127.0.0.1", "192.168.5.0/24", "*:25", "93.184.216.34:80", "*:6881-6889",
                   "2606:4700::/32"))
    assert p.check(CLIENT, "127.0.0.1", 8080) == "denied_host"
    assert p.check(CLIENT, "192.168.5.1", 80) == "denied_network"
    assert p.check(CLIENT, "192.168.6.1", 80) is None
    assert p.check(CLIENT, "8.8.8.8", 25) == "denied_port"
    assert p.check(CLIENT, "8.8.8.8", 6885) == "denied_port"
    assert p.check(CLIENT, "93.184.216.34", 80) == "denied_host"
    assert p.check(CLIENT, "93.184.216.34", 443) is None
    assert p.check(CLIENT, "2606:4700::1111", 443) == "denied_network"


def test_allowed_ports() -> None:
    p = make(allowed_ports=(80, 443), allow=("192.168.1.10:8080", "192.168.2.0/24"))
    assert p.check(CLIENT, "8.8.8.8", 443) is None
    assert p.check(CLIENT, "8.8.8.8", 22) == "not_allowed_port"
    assert p.check(CLIENT, "10.0.0.1", 22) == "private"  # the address class comes first
    assert p.check(CLIENT, "192.168.1.10", 8080) is None  # an allow entry naming its port
    assert p.check(CLIENT, "192.168.2.5", 22) == "not_allowed_port"
    assert p.check(CLIENT, "192.168.2.5", 80) is None


def test_for_emulator_is_the_default_policy_plus_allow_entries() -> None:
    p = OwnerPolicy.for_emulator(["127.0.0.1:8080"])
    assert p.own_networks == []
    assert p.check(CLIENT, "127.0.0.1", 8080) is None
    assert p.check(CLIENT, "127.0.0.1", 22) == "loopback"
    assert p.check(CLIENT, "10.0.0.1", 80) == "private"


def test_bad_rules_raise_value_error() -> None:
    with pytest.raises(ValueError):
        make(allow=("*:80",))
    with pytest.raises(ValueError):
        make(deny=("example.com",))


# -- finding this machine's addresses ----------------------------------------------------------

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.0
           /24 link UNICAST
        |-- 192.168.1.1
           /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
     |-- 81.2.69.160
        /32 host LOCAL
Local:
  +-- 127.0.0.0/8 2 0 2
     |-- 127.0.0.1
        /32 host LOCAL
Id 51820:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 link UNICAST
     |-- 10.99.0.0
        /16 link UNICAST
"""

IF_INET6 = """\
2a0212345678 9a00 garbage line
2a02123456789a000000000000000001 03 40 00 00     br-lan
00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000000000000000001 03 40 20 80   br-lan
"""

IP_JSON = ('[{"ifname":"eth0","addr_info":[{"family":"inet","local":"81.2.69.160",'
           '"prefixlen":28},{"family":"inet6","local":"2a02:1234::1","prefixlen":64},'
           '{"local":"bogus","prefixlen":8},{"local":"10.0.0.1","prefixlen":"x"}]},'
           '{"ifname":"weird"}, 7]')


def nets(*texts: str) -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return {ipaddress.ip_network(t) for t in texts}


def test_parse_fib_trie_reads_local_addresses_and_links_of_main_and_local() -> None:
    assert set(parse_fib_trie(FIB_TRIE)) == nets("192.168.1.0/24", "192.168.1.1/32",
                                                 "81.2.69.160/32", "127.0.0.1/32")


def test_parse_if_inet6_reads_addresses_and_prefixes() -> None:
    assert set(parse_if_inet6(IF_INET6)) == nets(
        "2a02:1234:5678:9a00::1/128", "2a02:1234:5678:9a00::/64", "::1/128", "fe80::1/128",
        "fe80::/64")


def test_parse_ip_json_reads_addresses_and_skips_junk() -> None:
    assert set(parse_ip_json(IP_JSON)) == nets("81.2.69.160/32", "81.2.69.160/28",
                                               "2a02:1234::1/128", "2a02:1234::/64")
    for junk in ("", "not json", "{}", "[1, 2]", '[{"addr_info": 5}]', "null"):
        assert parse_ip_json(junk) == []
    assert parse_fib_trie("\x00garbage\n  |--\n  /8") == []
    assert parse_if_inet6("zz" * 16 + " 01 zz 00 00 lo") == []


def test_detection_fails_soft(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> object:
        raise OSError("no")

    monkeypatch.setattr(socket, "getaddrinfo", broken)
    monkeypatch.setattr(policy, "_read", lambda path: "")
    monkeypatch.setattr(policy, "_run_ip", lambda: "{not json")
    assert detect_own_networks() == []
    monkeypatch.setattr(policy, "_run_ip", lambda: IP_JSON)
    assert ipaddress.ip_network("81.2.69.160/28") in detect_own_networks()


def test_detection_on_this_machine_finds_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "localhost")
    found = detect_own_networks()
    assert any(ipaddress.ip_address("127.0.0.1") in n for n in found if n.version == 4)
    p = OwnerPolicy(PolicyConfig(allow=["127.0.0.1:8080"]))
    assert p.check(CLIENT, "127.0.0.1", 8080) is None
    assert p.check(CLIENT, "127.0.0.1", 8081) == "loopback"
    p.refresh()
    assert p.own_networks


# -- session limits ------------------------------------------------------------------------------

def test_session_limits_per_client_and_total() -> None:
    limits = SessionLimits(max_per_client=2, max_total=3)
    a, b, c = b"a", b"b", b"c"
    assert limits.acquire(a) is None
    assert limits.acquire(a) is None
    assert limits.acquire(a) == "client_sessions"
    assert limits.acquire(b) is None
    assert limits.acquire(c) == "total_sessions"
    limits.release(a)
    assert limits.active(a) == 1
    assert limits.acquire(c) is None
    for client in (a, b, c):
        limits.release(client)
    limits.release(c)  # one more than taken: ignored
    assert limits.total == 0
    assert limits.active(a) == limits.active(c) == 0
    assert limits.acquire(a) is None


# -- fair bandwidth (simulated clock) ------------------------------------------------------------

def simulate(bw: FairBandwidth, clients: dict[bytes, tuple[int, float]],
             duration_s: float) -> dict[bytes, int]:
    """Each client sends chunks of `chunk` bytes, a new one `gap_s` after it may send the last
    one (gap 0 = always backlogged). Returns the bytes each got out within duration_s."""
    ready = {c: 0.0 for c in clients}
    sent = dict.fromkeys(clients, 0)
    while True:
        client = min(ready, key=lambda c: (ready[c], c))
        now = ready[client]
        if now >= duration_s:
            return sent
        chunk, gap_s = clients[client]
        send_at = now + bw.grant(client, chunk, now)
        if send_at < duration_s:
            sent[client] += chunk
        ready[client] = send_at + gap_s


RATE = 100_000  # bytes per second


def test_unlimited_never_waits() -> None:
    bw = FairBandwidth(0)
    assert all(bw.grant(b"a", 10**9, t) == 0.0 for t in range(5))


def test_a_client_alone_gets_the_whole_rate() -> None:
    sent = simulate(FairBandwidth(RATE), {b"a": (250, 0.0)}, 10.0)
    assert sent[b"a"] == pytest.approx(10 * RATE, rel=0.01)


@pytest.mark.parametrize("n", [2, 3, 8])
def test_n_backlogged_clients_share_equally(n: int) -> None:
    clients = {bytes([i]): (250, 0.0) for i in range(n)}
    sent = simulate(FairBandwidth(RATE), clients, 10.0)
    assert sum(sent.values()) == pytest.approx(10 * RATE, rel=0.02)
    for got in sent.values():
        assert got == pytest.approx(10 * RATE / n, rel=0.02)


def test_unequal_chunks_still_share_bytes_equally() -> None:
    sent = simulate(FairBandwidth(RATE), {b"big": (1400, 0.0), b"small": (100, 0.0)}, 10.0)
    assert sent[b"big"] == pytest.approx(sent[b"small"], rel=0.03)


def test_a_light_client_gets_what_it_asks_and_leaves_the_rest() -> None:
    clients = {b"hog": (250, 0.0), b"light": (250, 1.0)}  # light: 250 B/s
    sent = simulate(FairBandwidth(RATE), clients, 10.0)
    assert sent[b"light"] == pytest.approx(2500, abs=250)
    assert sent[b"hog"] > 0.85 * 10 * RATE


def test_an_idle_client_stops_counting() -> None:
    bw = FairBandwidth(RATE)
    bw.grant(b"a", 250, 0.0)
    bw.grant(b"b", 250, 0.0)
    assert bw.active_clients() == 2
    bw.grant(b"a", 250, 5.0)
    assert bw.active_clients() == 1


def test_paced_time_runs_on_from_the_last_grant_and_names_the_clients() -> None:
    """What the exit's upload pacing waits for (exit.py rule 3): bytes already sent are paid
    for afterwards, at the client's share of the rate."""
    bw = FairBandwidth(RATE)
    assert bw.paced_until_s(b"a") == 0.0  # never seen
    assert bw.grant(b"a", 50_000, 1.0) == 0.0
    assert bw.paced_until_s(b"a") == pytest.approx(1.5)  # alone: the whole rate
    bw.grant(b"b", 10_000, 1.0)
    assert bw.paced_until_s(b"b") == pytest.approx(1.2)  # two active: half each
    assert bw.clients() == {b"a", b"b"}
    assert FairBandwidth(0).paced_until_s(b"a") == 0.0


def test_take_waits_on_the_event_loop() -> None:
    async def main() -> float:
        bw = FairBandwidth(200_000)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(5):
            await bw.take(b"a", 2_000)  # 4 paced sends of 10 ms after the first
        await FairBandwidth(0).take(b"a", 10**9)
        return loop.time() - start

    assert 0.035 <= asyncio.run(main()) < 1.0


# -- refusals ------------------------------------------------------------------------------------

def test_refusals_count_reasons_only() -> None:
    metrics = Metrics()
    counter = metrics.counter("meshbulb_gateway_refusals_total", "Refused streams", ["reason"])
    refusals = Refusals(counter, max_reasons=3)
    for reason in ("policy:private", "policy:private", "limit:client_sessions", "x", "y", "z"):
        refusals.count(reason)
    snap = refusals.snapshot()
    assert snap == {"policy:private": 2, "limit:client_sessions": 1, "x": 1, "other": 2}
    snap["x"] = 99
    assert refusals.snapshot()["x"] == 1
    assert counter.value(reason="policy:private") == 2
    assert 'meshbulb_gateway_refusals_total{reason="other"} 2' in metrics.render()
