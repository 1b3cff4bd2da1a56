# Core benchmark that runs unchanged under CPython and MicroPython:
#   micropython bench.py [frames]  ->  one JSON line with frames_per_s and node_bytes.
# frames_per_s times only Node.receive() and Node.tick() on the workload mix (workload.py).
# node_bytes is the heap one node holds with full tables (20 neighbours, 8 gateways, 64 cached
# routes, 256 dedup entries), measured with gc.mem_alloc() where the interpreter has it.

import gc
import json
import sys
import time

from meshbulb.config import Config
from meshbulb_testing.workload import Workload, fill_tables

_BATCH = 200

if hasattr(time, "ticks_us"):

    def now_us():
        return time.ticks_us()

    def elapsed_us(start):
        return time.ticks_diff(time.ticks_us(), start)

else:

    def now_us():
        return time.perf_counter_ns() // 1000

    def elapsed_us(start):
        return time.perf_counter_ns() // 1000 - start


def frames_per_s(frames):
    load = Workload(neighbours=20, gateways=4)
    node = load.node()
    now_ms = 1000
    load.warm_up(node, now_ms)
    busy_us = 0
    done = 0
    while done < frames:
        batch = [load.next_frame() for _ in range(_BATCH)]
        start = now_us()
        for frame, link_src in batch:
            node.receive(frame, 0, link_src, -60, now_ms)
            now_ms += 5
            if done % 10 == 0:
                node.tick(now_ms)
            done += 1
        busy_us += elapsed_us(start)
        batch = None
        gc.collect()
    internal = node.stats.drop_count("internal_error")
    return done * 1000000 / max(1, busy_us), internal


def node_bytes():
    if not hasattr(gc, "mem_alloc"):
        return None
    load = Workload(neighbours=20, gateways=4, config=Config(max_gateways=8))
    gc.collect()
    before = gc.mem_alloc()
    node = load.node()
    fill_tables(node, load, 1000)
    node.tick(3000)  # sends the triggered route update (fills the source table) and relays
    node._out.clear()
    gc.collect()
    used = gc.mem_alloc() - before
    sizes = node.table_sizes()
    return used, sizes


def main(argv):
    frames = int(argv[1]) if len(argv) > 1 else 20000
    memory = node_bytes()
    rate, internal = frames_per_s(frames)
    result = {"frames": frames, "frames_per_s": int(rate), "internal_errors": internal}
    if memory is not None:
        result["node_bytes"] = memory[0]
        result["tables"] = memory[1]
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
