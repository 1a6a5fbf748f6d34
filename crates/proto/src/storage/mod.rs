//! Byte storage for sockets: a ring buffer and an out-of-order range
//! assembler; the keyed hasher of the stack's lookup tables; and the small
//! FIFO of the socket layer's ready queue.
//!
//! Both are bounded by a capacity fixed by the owner; neither ever grows past
//! it. The ring allocates lazily (a socket that moves 4 KiB holds about 4 KiB),
//! which keeps ten thousand idle connections cheap.

mod assembler;
mod fifo;
mod hash;
mod ring;
mod ring_pool;

pub(crate) use assembler::Assembler;
pub(crate) use fifo::Fifo;
pub(crate) use hash::HashKey;
pub(crate) use ring::RingBuffer;
pub(crate) use ring_pool::RingPool;
