//! Congestion control between two whole stacks in virtual time: CUBIC (the
//! default) and Reno (TCP_CONGESTION "reno") both move data intact on a
//! lossy 20 ms / 10 Mbit/s link; the goodput of each is printed.

mod tcp_common;

use sockstack::link::impair::ImpairConfig;
use sockstack::link::memory::WireConfig;
use sockstack::proto::{CongestionAlgorithm, Duration, Profile};
use sockstack::sim::PairConfig;
use tcp_common::*;

/// The delayed link: 20 ms one way, 10 Mbit/s, a 256 KiB
/// bottleneck queue (about 200 ms of buffering), as in tcp_matrix.rs.
fn slow_link() -> WireConfig {
    WireConfig::ethernet()
        .with_delay(Duration::from_millis(20))
        .with_bandwidth(10_000_000)
        .with_queue_bytes(256 << 10)
        .with_rx_queue_frames(1 << 14)
}

/// `len` bytes client -> server under `algo` on both ends; returns the
/// report and the goodput in Mbit/s.
fn run(algo: CongestionAlgorithm, loss: f64, len: u64, seed: u64) -> (BulkReport, f64) {
    let profile = Profile {
        congestion: algo,
        ..Profile::linux()
    };
    let cfg = PairConfig::default()
        .with_wire(slow_link())
        .with_impair(ImpairConfig {
            loss,
            ..ImpairConfig::default()
        })
        .with_profile(profile)
        .with_seed(seed);
    let r = bulk(cfg, len, 0, secs(3600));
    assert_intact(&r, len, 0);
    let v = r.virtual_time.total_micros() as f64 / 1e6;
    let goodput = len as f64 * 8.0 / v.max(1e-9) / 1e6;
    println!(
        "{algo:>5} loss {:.0}% seed {seed}: {goodput:.2} Mbit/s; {r}",
        loss * 100.0
    );
    (r, goodput)
}

/// Both algorithms at 1 % loss on the 20 ms / 10 Mbit/s link, 8 MiB one
/// way, SHA-256 equal; goodput printed for the comparison (no timed
/// assertion: which wins depends on the loss pattern).
#[test]
fn cubic_and_reno_on_a_lossy_delayed_link() {
    const LEN: u64 = 8 * MIB;
    for algo in [CongestionAlgorithm::Cubic, CongestionAlgorithm::Reno] {
        let (r, _) = run(algo, 0.01, LEN, 42);
        assert!(r.retrans.0 > 0, "{algo}: loss means retransmission");
    }
}

/// The comparison over more data and seeds (about 6 s of wall time):
/// `cargo test --test tcp_congestion -- --ignored --nocapture`.
#[test]
#[ignore = "long: 5 seeds x 2 algorithms x 32 MiB; prints the goodput table"]
fn cubic_vs_reno_goodput_table() {
    const LEN: u64 = 32 * MIB;
    let mut sums = [0.0f64; 2];
    for seed in 1..=5 {
        for (i, algo) in [CongestionAlgorithm::Cubic, CongestionAlgorithm::Reno]
            .into_iter()
            .enumerate()
        {
            let (_, g) = run(algo, 0.01, LEN, seed);
            sums[i] += g;
        }
    }
    println!(
        "mean goodput at 1% loss, 20 ms / 10 Mbit/s: cubic {:.2} Mbit/s, reno {:.2} Mbit/s",
        sums[0] / 5.0,
        sums[1] / 5.0
    );
}
