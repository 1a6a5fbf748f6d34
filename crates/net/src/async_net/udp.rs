//! Async `UdpSocket`, shaped like tokio's (finished once the facade has
//! datagram sockets).

/// An async UDP socket, like `tokio::net::UdpSocket`.
#[derive(Debug)]
pub struct UdpSocket {
    _private: (),
}
