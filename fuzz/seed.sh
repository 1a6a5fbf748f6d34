#!/usr/bin/env bash
# Seed the fuzz corpora with the captured fixture frames
# (crates/proto/tests/fixtures/frames.hex). Safe to rerun.
#   ./seed.sh && cargo +nightly fuzz run wire_all corpus/wire_all -- -max_total_time=600
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/wire_all corpus/tcp_options corpus/frame_ingress corpus/fragments
python3 - <<'PY'
for line in open('../crates/proto/tests/fixtures/frames.hex'):
    if line.startswith('#') or not line.strip():
        continue
    no, hexbytes = line.split()
    b = bytes.fromhex(hexbytes)
    open('corpus/wire_all/fx%s' % no, 'wb').write(b)
    if b[12:14] == b'\x08\x00' and b[23] == 6:
        ihl = (b[14] & 15) * 4
        open('corpus/tcp_options/fx%s' % no, 'wb').write(b[14 + ihl:])
    # frame_ingress records: mode 0 (the raw frame), little-endian length.
    open('corpus/frame_ingress/fx%s' % no, 'wb').write(bytes([0, len(b) & 255, len(b) >> 8]) + b)
PY
echo "seeded $(ls corpus/wire_all | wc -l) frames"
# tcp_session: scenario seeds and the committed regression inputs.
./seed_session.py corpus/tcp_session
cp regressions/tcp_session/* corpus/tcp_session/
# tcp_segments: fast-path scenario seeds and the committed regression inputs.
mkdir -p corpus/tcp_segments
./seed_segments.py corpus/tcp_segments
cp regressions/tcp_segments/* corpus/tcp_segments/
# udp_raw: its input is `arbitrary`-encoded operations, not frames; the
# committed regression inputs are its seeds.
mkdir -p corpus/udp_raw
cp regressions/udp_raw/* corpus/udp_raw/
