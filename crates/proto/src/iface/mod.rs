//! The interface layer: configuration, ARP, IPv4 ingress/egress, reassembly,
//! ICMP, and the loopback queue.
//!
//! Each file holds one concern; `link.rs`, `ipv4_in.rs`, `ipv4_out.rs` and
//! `icmp.rs` add `impl Stack` blocks, the rest are plain data structures.

pub(crate) mod arp_cache;
pub(crate) mod config;
pub(crate) mod gro;
pub(crate) mod gso;
pub(crate) mod icmp;
pub(crate) mod ipv4_in;
pub(crate) mod ipv4_out;
pub(crate) mod link;
pub(crate) mod loopback;
pub(crate) mod reassembly;
