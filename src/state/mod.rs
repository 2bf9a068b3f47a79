//! What every REST handler and socket event can reach: the hub, the authenticator, presence,
//! the transports and readiness, built once by `app` and shared by `http` and `realtime`.

mod readiness;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use readiness::{Checks, Readiness};

use crate::auth::{AuthFailures, Authenticator};
use crate::cluster::Presence;
use crate::cluster::redis::RedisClients;
use crate::config::Settings;
use crate::hub::Hub;
use crate::net::Transports;
use crate::telemetry::Metrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub hub: Hub,
    pub auth: Arc<Authenticator>,
    pub presence: Arc<Presence>,
    pub metrics: Arc<Metrics>,
    /// The Redis clients, with `REDIS_URL`.
    pub redis: Option<RedisClients>,
    /// The database and Redis as last probed (at most once a second).
    pub readiness: Arc<Readiness>,
    /// Which TCP connections carry which Socket.IO session, to drop them under Engine.IO.
    pub transports: Transports,
    /// Refused credentials per client address (handshakes and token exchanges).
    pub failures: Arc<AuthFailures>,
    /// Cancelled when shutdown begins: readiness turns 503, background work stops.
    pub shutdown: CancellationToken,
}
