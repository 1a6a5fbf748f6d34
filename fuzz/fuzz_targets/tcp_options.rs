//! TCP header and option parsing: `TcpPacket::parse` on arbitrary bytes and
//! on a fixed header followed by fuzzed options; whatever parses must
//! survive `TcpRepr::parse` -> `emit` -> `parse` unchanged (SACK blocks
//! clamped to what fits) with a valid checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::{Ipv4Addr, TcpPacket, TcpRepr};

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn round_trip(seg: &[u8]) {
    // The one-pass parser of the receive path agrees with the two-step one.
    assert_eq!(
        TcpRepr::parse_segment(seg),
        TcpPacket::parse(seg).map(|p| TcpRepr::parse(&p))
    );
    let Ok(p) = TcpPacket::parse(seg) else { return };
    assert!(p.options_iter().all(|o| o.is_ok()));
    let r = TcpRepr::parse(&p);
    let _ = r.to_string();
    if r.buffer_len() > 65535 {
        return;
    }
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut buf, SRC, DST).expect("emit fits buffer_len");
    let p2 = TcpPacket::parse(&buf[..]).expect("our own segment parses");
    assert!(p2.verify_checksum(SRC, DST));
    assert_eq!(p2.header_len(), r.header_len());
    let mut want = r;
    want.sack_len = r.sack_blocks_sent();
    for slot in want.sack_blocks.iter_mut().skip(want.sack_len) {
        *slot = (SeqNum(0), SeqNum(0));
    }
    assert_eq!(TcpRepr::parse(&p2), want);
}

fuzz_target!(|data: &[u8]| {
    round_trip(data);
    // A valid fixed header, then the fuzzer's options (a whole number of
    // words, at most 40 bytes) and payload: most inputs reach the options.
    if let Some((&n, rest)) = data.split_first() {
        let olen = (usize::from(n % 11) * 4).min(rest.len() / 4 * 4);
        let mut seg = vec![
            0x9c, 0x40, 0x13, 0x88, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0x12, 0xfa, 0xf0, 0, 0, 0, 0,
        ];
        seg[12] = (((20 + olen) / 4) as u8) << 4;
        seg.extend_from_slice(rest);
        round_trip(&seg);
    }
});
