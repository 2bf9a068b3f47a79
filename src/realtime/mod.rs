//! Socket.IO (SPEC §4–§5) on the namespace `/`, served by the same process and port as REST.
//!
//! - [`protocol`]: every event name, request payload, ack and server payload as types
//! - [`connect`]: the handshake — credential, socket cap, the per-socket session
//! - [`dispatch`]: every event is rate-checked and queued in arrival order, then handled one at
//!   a time per socket by a worker task (socketioxide alone would run them concurrently)
//! - `rooms`, `messages`, `presence`, `refresh`, `streams`, `activity` (and cursors): one
//!   file per event family, each a thin
//!   handler over a hub use case
//! - [`fanout`]: the hub's outbound port over Socket.IO (new messages, removals, kicks)
//! - [`expiry`]: JWT expiry warnings and the periodic credential re-check

mod activity;
mod calls;
mod connect;
mod dispatch;
mod expiry;
mod fanout;
mod messages;
mod presence;
mod protocol;
mod rate;
mod refresh;
mod rooms;
mod session;
mod streams;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::handler::ConnectHandler;
use socketioxide_core::adapter::DefinedAdapter;

pub use crate::model::{agent_key, agent_name_key, room_key, token_key};
pub use fanout::{SocketIoFanout, announce_reaped};
pub use session::queue_capacity;

use crate::state::AppState;

/// Registers the namespace and starts the background credential re-check. With the Redis
/// adapter the returned future must be awaited (subscriptions are live only after it).
pub fn attach<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, state: AppState) -> A::InitRes {
    let on_connect = {
        let state = state.clone();
        move |s: socketioxide::extract::SocketRef<A>| {
            let state = state.clone();
            async move { connect::on_connect(s, state).await }
        }
    };
    let middleware = {
        let state = state.clone();
        move |s: socketioxide::extract::SocketRef<A>,
              auth: socketioxide::extract::TryData<serde_json::Value>| {
            let state = state.clone();
            async move { connect::authenticate(s, auth, state).await }
        }
    };
    let init = io.ns("/", on_connect.with(middleware));
    // After the namespace exists: the loop lists its sockets.
    tokio::spawn(expiry::recheck_loop(io.clone(), state));
    init
}
