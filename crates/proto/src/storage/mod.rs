//! Byte storage for sockets: a ring buffer and an out-of-order range assembler.
