//! The TCP side of the server: the accept loop (header-read timeout, connection cap) and
//! transports that can be dropped without a goodbye.
//!
//! Stock Socket.IO clients decide from how a socket ends whether to come back (SPEC §4): an
//! Engine.IO CLOSE packet tells python-socketio not to, and socketioxide sends one whenever it
//! closes a session itself. So a socket that must reconnect by itself (shutdown, a node that
//! cannot reach its database, a reader that stopped reading) is ended *under* Engine.IO
//! instead: its TCP connections fail, exactly as when a network drops.
//!
//! - [`client`]: who a request comes from (bearer credential, client address)
//! - [`conn`]: a connection whose I/O can be failed from outside ([`Conn::drop_transport`])
//! - [`sessions`]: which connections carry which Engine.IO session ([`Transports`])
//! - [`serve`]: accepts connections and serves the router on them

mod client;
mod conn;
mod serve;
mod sessions;

pub use client::{bearer, client_ip};
pub use conn::{Conn, DroppableIo};
pub use serve::{ServeOptions, serve};
pub use sessions::Transports;
