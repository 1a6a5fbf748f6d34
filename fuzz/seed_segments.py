#!/usr/bin/env python3
"""Scenario seeds for the tcp_segments target, encoded the way `arbitrary`
1.x decodes its `Input` (integers little-endian, enum variants as a u32
scaled to the variant count, each `steps` element preceded by a 1 byte).
They put the fuzzer on the header-prediction fast path (tcp/fastpath.rs):
an ESTABLISHED connection receiving in-order data and pure ACKs of new data
(`Predicted` steps), with and without timestamps, actively and passively
opened, and with knob bit 0x80 (a twin stack without the fast path
must behave identically). Keep the variant lists in step with tcp_segments.rs.
Usage: ./seed_segments.py corpus/tcp_segments
"""
import struct
import sys

STARTS = ["Listen", "SynSent", "SynRecv", "Established", "FinWait1", "FinWait2",
          "CloseWait", "LastAck", "Closing", "TimeWait"]
STEPS = ["Seg", "Advance", "Send", "Recv", "Shutdown", "Close", "Abort", "Accept",
         "Timers", "Predicted"]


def variant(k, n):
    return struct.pack("<I", ((2 * k + 1) << 32) // (2 * n))


def step(name, body=b""):
    return b"\x01" + variant(STEPS.index(name), len(STEPS)) + body


def u16(v): return struct.pack("<H", v)
def advance(ms): return step("Advance", u16(ms))
def send(n): return step("Send", u16(n))
def recv(n): return step("Recv", u16(n))


def predicted(n, push=True, ack_back=None):
    back = b"\x00" if ack_back is None else b"\x01" + u16(ack_back)
    return step("Predicted", u16(n) + bytes([push]) + back)


def seed(start, active, options, knobs, steps):
    return (variant(STARTS.index(start), len(STARTS)) + bytes([active, options, knobs])
            + b"".join(steps))


BULK = [predicted(1448), predicted(1448), predicted(1448, False), recv(4000),
        send(1000), predicted(0), send(1400), predicted(600), predicted(0, True, 300),
        advance(40), predicted(1448), recv(4000), send(2000), advance(200),
        predicted(0, False, 1000), predicted(0), predicted(1000), recv(4000)]

SEEDS = {
    "fastpath_passive_ts": seed("Established", 0, 1, 0, BULK),
    "fastpath_active_ts": seed("Established", 1, 1, 0, BULK),
    "fastpath_no_options": seed("Established", 0, 0, 0, BULK),
    # Small autotuned buffers (knob 0x10) and the RX fold (0x02).
    "fastpath_small_bufs": seed("Established", 1, 1, 0x12, BULK + BULK),
    # Knob bit 0x80: a twin stack without the fast path must match.
    "fastpath_diff_ts": seed("Established", 0, 1, 0x80, BULK),
    "fastpath_diff_no_options": seed("Established", 1, 0, 0x80, BULK),
    "fastpath_diff_small_bufs": seed("Established", 0, 1, 0x92, BULK + BULK),
}

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "corpus/tcp_segments"
    for name, data in SEEDS.items():
        with open(f"{out}/seed_{name}", "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")
