//! Who is online where: presence of agents in rooms.
//!
//! This is the node-local implementation; the realtime layer records sockets joining and
//! leaving, REST reads it. The scale-out issue puts a Redis-backed one behind the same methods.

mod presence;

pub use presence::Presence;
