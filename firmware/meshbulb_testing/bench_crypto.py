# Crypto benchmark that runs unchanged under CPython and MicroPython:
#   micropython bench_crypto.py  ->  one JSON line of per-operation times.
# x25519_ms: one scalar multiplication (once per session). frame_verify_us: verifying the MIC
# of a 200-byte-payload frame (every frame, every hop). seal_open_us: AEAD seal plus open of a
# 200-byte payload (every overlay packet).

import json
import sys

from meshbulb import wire
from meshbulb.aead import Aead
from meshbulb.auth import MicKey
from meshbulb.x25519 import x25519
from meshbulb_testing.bench import elapsed_us, now_us


def _time_us(fn, rounds):
    start = now_us()
    for _ in range(rounds):
        fn()
    return elapsed_us(start) / rounds


def figures(rounds=200):
    scalar = bytes(range(32))
    point = bytes(range(1, 33))
    x25519_us = _time_us(lambda: x25519(scalar, point), max(5, rounds // 4))
    mic = MicKey(1, b"community key 16")
    payload = bytes(200)
    buf = bytearray(wire.HEADER_LEN + len(payload) + wire.MIC_LEN)
    wire.pack_header(buf, wire.T_DATA, 0, 0, 9, 2, b"\x02" * 6, b"\x03" * 6, 77)
    buf[wire.HEADER_LEN : wire.HEADER_LEN + len(payload)] = payload
    mic.sign(buf, wire.HEADER_LEN + len(payload))
    frame = bytes(buf)
    verify_us = _time_us(lambda: mic.verify(frame), rounds * 5)
    aead = Aead(bytes(32))
    nonce = bytes(8)

    def seal_open():
        aead.open(nonce, b"", aead.seal(nonce, b"", payload))

    seal_open_us = _time_us(seal_open, rounds)
    return {
        "x25519_ms": round(x25519_us / 1000, 3),
        "frame_verify_us": round(verify_us, 2),
        "seal_open_us": round(seal_open_us, 2),
    }


def main(argv):
    rounds = int(argv[1]) if len(argv) > 1 else 200
    print(json.dumps(figures(rounds)))


if __name__ == "__main__":
    main(sys.argv)
