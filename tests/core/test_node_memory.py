# The heap one bulb needs: a node with every table full holds at most 40,000 bytes.
# Runs under CPython (tables only) and MicroPython (bytes too, from gc.mem_alloc()).
# micropython-heap: 256k  (the 64-bit unix port doubles every pointer and object header, and
#   filling the tables from scratch fragments the heap; see docs/core.md, "MicroPython")

import gc

from meshbulb.config import Config
from meshbulb_testing.workload import Workload, fill_tables

NODE_BYTES_MAX = 40000  # the target for one node with full tables


def test_one_node_with_full_tables_fits_the_budget():
    load = Workload(neighbours=20, gateways=4, config=Config(max_gateways=8))
    measure = hasattr(gc, "mem_alloc")
    gc.collect()
    before = gc.mem_alloc() if measure else 0
    node = load.node()
    fill_tables(node, load, 1000)
    node.tick(3000)
    node._out.clear()
    gc.collect()
    used = gc.mem_alloc() - before if measure else 0
    sizes = node.table_sizes()
    assert sizes["neighbours"] == 20 and sizes["gateways"] == 8
    assert sizes["routes"] == 64 and sizes["dedup"] == 256 and sizes["sources"] == 8
    if measure:
        print("node_bytes %d" % used)
        assert used <= NODE_BYTES_MAX, "one node holds %d bytes" % used
