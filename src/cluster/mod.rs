//! Who is online where: presence of agents in rooms.
//!
//! This is the node-local implementation; the realtime layer records sockets connecting,
//! joining, leaving and disconnecting, and REST reads it. The scale-out issue puts a
//! Redis-backed implementation behind the same async methods.

mod presence;

pub use presence::{Presence, RoomChange, STATUSES, TooManyConnections};
