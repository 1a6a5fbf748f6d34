//! The classic `std::net` echo server, running on sockstack.
//!
//! Everything below `serve` is the std code; only the `use` line changed
//! (`std::net` -> `sockstack::net`), plus a one-time setup that starts two
//! sockstack hosts on an in-memory wire and makes the server's the default
//! stack. A client on the other host sends a payload and checks the echo
//! by SHA-256.
//!
//! ```text
//! cargo run -p sockstack --example echo_server -- 1048576
//! ```

use std::io::{self, Read, Write};
use std::thread;

use sockstack::net::{TcpListener, TcpStream}; // was: use std::net::{TcpListener, TcpStream};

fn handle_client(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

/// Accept connections forever, one thread per client.
pub fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || {
                    if let Err(e) = handle_client(stream) {
                        eprintln!("client: {e}");
                    }
                });
            }
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        }
    }
}

/// Where the server listens (host a's address).
pub const SERVER: &str = "198.18.0.1:7";

/// One-time setup: two real-clock hosts on a memory wire; host a becomes
/// the default stack, host b is returned for the client.
pub fn setup() -> io::Result<sockstack::Net> {
    use sockstack::link::memory::{self, WireConfig};
    use sockstack::proto::wire::{Ipv4Addr, MacAddr};
    use sockstack::proto::{Stack, StackConfig};
    use sockstack::Host;

    let (la, lb) = memory::pair(WireConfig::ethernet());
    let cfg = |last| {
        StackConfig::ethernet(
            MacAddr([2, 0, 0, 0, 0, last]),
            Ipv4Addr::new(198, 18, 0, last),
            24,
        )
    };
    let a = Host::spawn("server", Stack::new(cfg(1)), la)?;
    let b = Host::spawn("client", Stack::new(cfg(2)), lb)?;
    sockstack::net::set_default(sockstack::Net::new(a));
    Ok(sockstack::Net::new(b))
}

/// Deterministic payload bytes (xorshift), `len` of them from `seed`.
fn fill(seed: &mut u64, buf: &mut [u8]) {
    for b in buf {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = (*seed >> 24) as u8;
    }
}

/// Send `total` bytes from host b to the echo server and read them back:
/// returns (SHA-256 sent, SHA-256 received, bytes received).
pub fn client(net: &sockstack::Net, total: usize) -> io::Result<([u8; 32], [u8; 32], usize)> {
    use sha2::{Digest, Sha256};

    let stream = TcpStream::connect_on(net, SERVER)?;
    let mut writer = stream.try_clone()?;
    let sender = thread::spawn(move || -> io::Result<[u8; 32]> {
        let mut hash = Sha256::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len());
            fill(&mut seed, &mut chunk[..n]);
            writer.write_all(&chunk[..n])?;
            hash.update(&chunk[..n]);
            left -= n;
        }
        writer.shutdown(std::net::Shutdown::Write)?;
        Ok(hash.finalize().into())
    });
    let mut hash = Sha256::new();
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut reader = stream;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        got += n;
    }
    let sent = sender
        .join()
        .map_err(|_| io::Error::other("sender panicked"))??;
    Ok((sent, hash.finalize().into(), got))
}

#[allow(dead_code)] // the test that includes this file has its own main
fn main() -> io::Result<()> {
    let total: usize = match std::env::args().nth(1) {
        Some(s) => s
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{s}: {e}")))?,
        None => 1 << 20,
    };
    let client_net = setup()?;
    let listener = TcpListener::bind(SERVER)?;
    thread::spawn(move || serve(listener));
    let (sent, received, got) = client(&client_net, total)?;
    let hex = |h: [u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
    println!("echoed {got} bytes, sha256 {}", hex(received));
    if sent != received || got != total {
        return Err(io::Error::other("echo differs from what was sent"));
    }
    Ok(())
}
