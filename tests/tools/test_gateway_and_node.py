"""`meshbulb gateway` and `meshbulb node` as separate processes joined by UDP on loopback: a
fetch through the node's SOCKS5 proxy, the gateway's metrics, clean shutdown, clear errors;
and `meshbulb emulate`'s announcement line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import origin, socks_fetch

MESHBULB = str(Path(sys.executable).parent / "meshbulb")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_line(proc: subprocess.Popen[str], needle: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if needle in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no line with {needle!r}")


def stop(proc: subprocess.Popen[str], timeout_s: float = 15) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture()
def gateway_and_node(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    with origin() as origin_port:
        gw_udp, node_udp, metrics_port = free_port(socket.SOCK_DGRAM), free_port(
            socket.SOCK_DGRAM), free_port()
        (tmp_path / "mesh.key").write_text("00112233445566778899aabbccddeeff\n")
        os.chmod(tmp_path / "mesh.key", 0o600)
        config = tmp_path / "gateway.toml"
        config.write_text(f"""
[node]
key_file = "node.key"
mesh_key_file = "mesh.key"
key_id = 1
counter_file = "counter"

[[link]]
type = "udp"
bind = "127.0.0.1:{gw_udp}"
peers = ["127.0.0.1:{node_udp}"]

[exit]
uplink_check_host = "127.0.0.1"
uplink_check_port = {origin_port}
uplink_check_interval_s = 1

[policy]
allow = ["127.0.0.1:{origin_port}"]

[metrics]
listen = "127.0.0.1:{metrics_port}"
""")
        gateway = subprocess.Popen([MESHBULB, "gateway", "--config", str(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        node = subprocess.Popen(
            [MESHBULB, "node", "--link", f"udp://127.0.0.1:{node_udp}@127.0.0.1:{gw_udp}",
             "--mesh-key", str(tmp_path / "mesh.key"), "--socks", "127.0.0.1:0",
             "--http", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        try:
            line = wait_line(node, "SOCKS5")
            socks_port = int(line.split("SOCKS5 127.0.0.1:")[1].split(",")[0])
            yield socks_port, origin_port, metrics_port
        finally:
            node_rc = stop(node)
            gateway_rc = stop(gateway)
            assert gateway_rc == 0 and node_rc == 0, (gateway.stderr.read() if gateway.stderr
                                                      else "")
            assert (tmp_path / "counter").read_text().strip().isdigit()


def test_a_laptop_node_reaches_the_internet_through_a_gateway_process(
    gateway_and_node: tuple[int, int, int],
) -> None:
    socks_port, origin_port, metrics_port = gateway_and_node
    deadline = time.monotonic() + 30
    while True:
        try:
            body = socks_fetch(socks_port, "127.0.0.1", origin_port, "/hello")
            break
        except Exception:  # the node may not have a route to the gateway yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert body == b"/hello" * 64
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                     timeout=10).read().decode()
    assert "meshbulb_gateway_neighbours 1" in metrics
    assert 'meshbulb_gateway_exit_bytes_total{direction="down"}' in metrics
    assert "meshbulb_gateway_uplink_up 1" in metrics
    assert "127.0.0.1" not in metrics  # no destinations in metrics either


def test_a_config_typo_stops_the_gateway_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[node]\nmesh_key_file = "m"\nkey_id = 1\n[[link]]\ntype = "udp"\n'
                      '[policy]\nbandwith_kbit_s = 100\n')
    proc = subprocess.run([MESHBULB, "gateway", "--config", str(config)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 1
    assert "policy.bandwith_kbit_s" in proc.stderr and "bandwidth_kbit_s" in proc.stderr


def test_emulate_announces_its_socks_proxy_and_stops_on_sigint() -> None:
    proc = subprocess.Popen([MESHBULB, "emulate", "--nodes", "8", "--gateways", "2",
                             "--socks-port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = wait_line(proc, "SOCKS5")
        assert line.startswith("SOCKS5 127.0.0.1:") and "hops from its gateway" in line
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
