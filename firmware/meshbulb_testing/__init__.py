# In-memory drivers for the protocol core: a fake clock, fake links and small meshes, used by
# the core tests (under CPython and MicroPython), the benchmarks and the demo. Not flashed.
