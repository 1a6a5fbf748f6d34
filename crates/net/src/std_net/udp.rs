//! `UdpSocket`, shaped like std's.
//!
//! The facade's datagram sockets are being added in parallel; until they
//! land, binding fails with the facade's ESOCKTNOSUPPORT.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crate::bsd::consts::*;

use super::{default_net, each_addr, os_err, Net, Socket};

/// A UDP socket, like `std::net::UdpSocket`.
pub struct UdpSocket {
    sock: Arc<Socket>,
}

impl UdpSocket {
    /// Bind a socket to `addr` on the default stack.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::bind_on(&default_net()?, addr)
    }

    /// Bind a socket to `addr` on `net`.
    pub fn bind_on<A: ToSocketAddrs>(net: &Net, addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            let fd = net.bsd().socket(AF_INET, SOCK_DGRAM, 0).map_err(os_err)?;
            let sock = Socket {
                net: net.clone(),
                fd,
            };
            sock.bsd().bind(fd, a).map_err(os_err)?;
            Ok(UdpSocket {
                sock: Arc::new(sock),
            })
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.sock.fd.0)
            .finish()
    }
}
