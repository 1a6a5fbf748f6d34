//! Two SocketSets wired at the Repr level, in virtual time.
