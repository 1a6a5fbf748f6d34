#!/usr/bin/env python3
"""Scenario seeds for the tcp_session target, encoded the way `arbitrary`
1.x decodes its `Input` (integers little-endian, enum variants as a u32
scaled to the variant count, each `ops` element preceded by a 1 byte).
The scenarios put the fuzzer next to the paths it must reach: Eifel undo
(an ACK held past the RTO), PAWS and SYN reuse on TIME_WAIT records,
TIME_WAIT overflow, out-of-order batches (immediate ACKs), slot table
growth, the ring pool and receive autotuning. Keep the variant lists in
step with tcp_session.rs. Usage: ./seed_session.py corpus/tcp_session
"""
import struct
import sys

OPS = ["Deliver", "Drop", "Dup", "Swap", "Flip", "Replay", "Advance", "Run",
       "Write", "Read", "Shutdown", "Close", "Abort", "Open", "Burst",
       "Reopen", "RcvBuf", "SndBuf", "NoDelay", "Forge"]
A, B = 0, 1


def variant(k, n):
    return struct.pack("<I", ((2 * k + 1) << 32) // (2 * n))


def side(s):
    return variant(s, 2)


def op(name, *fields):
    out = b"\x01" + variant(OPS.index(name), len(OPS))
    for kind, v in fields:
        out += {"b": lambda v: bytes([v & 1]), "u8": lambda v: bytes([v & 255]),
                "u16": lambda v: struct.pack("<H", v), "side": side}[kind](v)
    return out


def deliver(to_b, n): return op("Deliver", ("b", to_b), ("u8", n))
def swap(to_b, i): return op("Swap", ("b", to_b), ("u8", i))
def replay(i): return op("Replay", ("u8", i))
def advance(ms): return op("Advance", ("u16", ms))
def run(rounds, rtt, write, read, loss=0):
    return op("Run", ("u8", rounds), ("u8", rtt), ("u16", write), ("u16", read), ("u8", loss))
def write(c, s, n): return op("Write", ("u8", c), ("side", s), ("u16", n))
def read(c, s, n): return op("Read", ("u8", c), ("side", s), ("u16", n))
def close(c, s): return op("Close", ("u8", c), ("side", s))
def opened(): return op("Open")
def burst(n): return op("Burst", ("u8", n))
def reopen(c): return op("Reopen", ("u8", c))
def rcvbuf(c, s, n): return op("RcvBuf", ("u8", c), ("side", s), ("u16", n))


def seed(cfg, cfg2, prelude, ops):
    return bytes([cfg, cfg2, prelude]) + b"".join(ops)


SEEDS = {
    # Data, the ACK held until after the RTO fired, then released.
    "eifel": seed(0, 3, 0, [opened(), run(2, 4, 0, 1), write(0, A, 1000),
                            deliver(True, 1), advance(50), advance(1500),
                            deliver(False, 4), deliver(True, 4), deliver(False, 4),
                            run(3, 4, 2000, 4000)]),
    # The client closed first: its TIME_WAIT record gets old duplicates.
    "tw_paws": seed(0, 3, 1, [advance(300)] + [replay(i) for i in range(0, 40, 3)]
                    + [advance(400)] + [replay(i) for i in range(1, 40, 5)]),
    # The server closed first: a new SYN from the same port meets its record.
    "tw_reuse": seed(0, 3 | 0x20, 1, [advance(500), reopen(0), run(3, 2, 100, 200),
                                      replay(5), replay(9)]),
    "tw_overflow": seed(0, 0, 3, [run(2, 2, 10, 10)]),
    "tw_one": seed(0, 1, 4, [replay(3), advance(1000), replay(7)]),
    # Reordered data in one batch: immediate ACKs queue up.
    "ooo_batch": seed(0, 3, 0, [opened(), run(4, 3, 3000, 8000), write(0, A, 4000),
                                swap(True, 2), swap(True, 1), deliver(True, 8),
                                deliver(False, 8), run(3, 3, 3000, 8000)]),
    "ooo_batch_small_cap": seed(0, 3 | 0x08, 0, [opened(), run(4, 3, 3000, 8000),
                                write(0, A, 4000), swap(True, 3), deliver(True, 8),
                                deliver(False, 8)]),
    "slots": seed(0, 3, 0, [burst(23), run(2, 2, 10, 10), burst(23), run(2, 2, 10, 10)]),
    "ring_pool": seed(0, 3, 5, [opened(), run(3, 2, 50, 100), opened(), run(3, 2, 50, 100)]),
    "autotune": seed(0, 3, 0, [opened(), run(31, 10, 16000, 16000), advance(2000),
                               run(31, 10, 16000, 16000)]),
    "autotune_locked": seed(0, 3, 0, [opened(), run(2, 2, 0, 1), rcvbuf(0, B, 3000),
                                      run(31, 10, 16000, 16000)]),
    "autotune_loss": seed(0x03, 3, 0, [opened(), run(31, 10, 16000, 16000, 0x21)]),
    "notimestamps": seed(0x08, 3, 0, [opened(), run(31, 10, 16000, 16000, 0x04)]),
    "offload_frame": seed(0x21, 3, 2, [opened(), run(10, 5, 5000, 5000, 0x10)]),
}

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "corpus/tcp_session"
    import os
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, "seed_" + name), "wb") as f:
            f.write(data)
    print("wrote %d tcp_session seeds" % len(SEEDS))
