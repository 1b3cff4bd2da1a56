# Shared helpers for the Node tests. These tests run under CPython and under the MicroPython
# unix port with a 110 KB heap; there the core's bytecode, loaded from .mpy files as on a
# device without frozen modules, takes over half of the heap, so meshes stay small (MICRO).

import sys

from meshbulb.config import Config
from meshbulb_testing.minimesh import MiniMesh

MICRO = sys.implementation.name == "micropython"


def small_config(**overrides):
    values = {"dedup_entries": 32, "reassembly_slots": 1, "reassembly_max_bytes": 256,
              "max_routes": 8}
    for key in overrides:
        values[key] = overrides[key]
    return Config(**values)


def line(count, gateways=(), config=None, loss=0.0, seed=1, start_ms=0):
    """count nodes in a chain 0 - 1 - ... - count-1; the listed indices are gateways."""
    mesh = MiniMesh(seed=seed, loss=loss, config=config or small_config(), start_ms=start_ms)
    for i in range(count):
        mesh.add_node(gateway=i in gateways)
    for i in range(count - 1):
        mesh.link(i, i + 1)
    return mesh


def detour(config=None, mesh_key=None):
    """0 hears 1 only faintly (-100 dBm); 2 hears both well; 3 hangs off 1."""
    mesh = MiniMesh(config=config or small_config(), mesh_key=mesh_key)
    for _ in range(4):
        mesh.add_node()
    mesh.link(0, 1, rssi_dbm=-100)
    mesh.link(0, 2)
    mesh.link(2, 1)
    mesh.link(1, 3)
    return mesh
