//! The std::net echo-server example, with only its import swapped, echoes
//! 64 MiB between two real-clock hosts intact (SHA-256).

#[path = "../examples/echo_server.rs"]
mod echo_server;

use std::thread;

#[test]
fn example_echoes_64_mib() {
    let client_net = echo_server::setup().expect("setup");
    // The std code path: the default stack, a &str address.
    let listener = sockstack::net::TcpListener::bind(echo_server::SERVER).expect("bind");
    thread::spawn(move || echo_server::serve(listener));
    let total = 64 << 20;
    let (sent, received, got) = echo_server::client(&client_net, total).expect("echo");
    assert_eq!(got, total);
    assert_eq!(sent, received);
}
