//! `control::Snapshot::of` on a live stack pair in virtual time: TCP rows
//! carry the pending timer (`ss -o`) and the buffers (`ss -m`), and a
//! TIME_WAIT row shows the time left.

use sockstack::control::{Snapshot, SocketRow};
use sockstack::proto::{Duration, Instant, TcpState as State};
use sockstack::sim::{PairConfig, TcpPair};

fn row<'a>(snap: &'a Snapshot, state: &str) -> &'a SocketRow {
    snap.sockets
        .iter()
        .find(|r| r.proto == "tcp" && r.state == state)
        .unwrap_or_else(|| panic!("no {state} row in {:#?}", snap.sockets))
}

#[test]
fn snapshot_rows_carry_timers_buffers_and_time_wait_time_left() {
    let mut pair = TcpPair::new(PairConfig::default().with_seed(3));
    let (c, s) = pair.connect(80, Instant::from_secs(5)).expect("handshake");
    let (client, server) = (pair.client, pair.server);

    // Established: both sides have buffers, nothing in flight, no timer
    // (keepalive is off by default).
    let snap = Snapshot::of(pair.net.stack(server), Some(7), "srv");
    let est = row(&snap, "ESTABLISHED");
    assert!(est.rcvbuf > 0 && est.sndbuf > 0, "{est:?}");
    assert_eq!(est.timer, None);

    // The client closes first, then the server: the client is left in
    // TIME_WAIT (a compact record once the application closed it).
    pair.sockets(client).close(c).unwrap();
    let ok = pair.run_until(Instant::from_secs(10), |net| {
        net.stack(server).sockets().state(s) == Some(State::CloseWait)
    });
    assert!(ok, "the server saw the FIN");
    pair.sockets(server).close(s).unwrap();
    let ok = pair.run_until(Instant::from_secs(10), |net| {
        net.stack(server).sockets().state(s).is_none()
    });
    assert!(ok, "the server finished LAST_ACK");
    let tw_start = pair.net.now();
    // Let 5 virtual seconds pass.
    pair.net.run_for(Duration::from_secs(5));
    let now = pair.net.now();
    assert!(now >= tw_start + Duration::from_secs(5));
    let snap = Snapshot::at(pair.net.stack(client), now, Some(7), "cli");
    let tw = row(&snap, "TIME_WAIT");
    let t = tw.timer.as_ref().expect("a TIME_WAIT row has a timer");
    assert_eq!(t.kind, "timewait");
    assert!(
        (54_000..=56_000).contains(&t.remaining_ms),
        "about 55 s left: {t:?}"
    );
    assert_eq!((tw.rcvbuf, tw.sndbuf), (0, 0), "a record has no buffers");
}
