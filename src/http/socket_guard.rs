//! In front of Socket.IO (polling requests and the WebSocket upgrade alike):
//!
//! - an `Origin` that is neither listed nor the same origin: 403;
//! - while the node drains, every Socket.IO request: 503 `unavailable` (live sockets had
//!   their transports dropped; their next poll fails and they reconnect elsewhere);
//! - a request of a session whose transports were dropped: 503, so it reconnects;
//! - a new Engine.IO session from an address out of refused credentials: 429 with
//!   `Retry-After`, before any database lookup (SPEC §7);
//! - a new session while the database is unreachable: 503 (SPEC §4: transient refusals are
//!   never `connect_error`s, so the client keeps retrying and gets in once it is back).
//!
//! It also tells [`crate::net::Transports`] which connections carry which session.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::origin::OriginPolicy;
use crate::error::{Error, ErrorCode};
use crate::net::Conn;
use crate::net::client_ip;
use crate::state::AppState;

#[derive(Clone)]
pub struct SocketGuard {
    origins: OriginPolicy,
    state: AppState,
}

impl SocketGuard {
    pub fn new(origins: OriginPolicy, state: AppState) -> Self {
        Self { origins, state }
    }
}

/// The Engine.IO session a request belongs to (`sid` in the query), if any.
fn session_id(req: &Request) -> Option<&str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sid="))
}

fn unavailable(why: &'static str) -> Response {
    Error::new(ErrorCode::Unavailable, why).into_response()
}

pub async fn guard(State(guard): State<SocketGuard>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/socket.io") {
        return next.run(req).await;
    }
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !guard.origins.allows(origin, req.headers())
    {
        return Error::forbidden("origin not allowed").into_response();
    }
    let state = &guard.state;
    if state.shutdown.is_cancelled() {
        return unavailable("the node is shutting down");
    }
    let conn = req.extensions().get::<Arc<Conn>>().cloned();
    match session_id(&req) {
        Some(sid) => {
            if state.transports.is_dropped(sid) {
                return unavailable("this session was ended; open a new one");
            }
            if let Some(conn) = &conn {
                state.transports.carry(sid, conn);
            }
        }
        None => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0);
            let ip = client_ip(req.headers(), peer, state.settings.trust_proxy);
            if let Some(wait) = state.failures.blocked(ip) {
                state.metrics.rate_limited("ws");
                state
                    .hub
                    .audit_rate_limited(
                        None,
                        ip.map(|ip| ip.to_string()),
                        json!({"scope": "handshake", "reason": "refused credentials"}),
                    )
                    .await;
                return Error::rate_limited(wait.as_millis().max(1) as u64).into_response();
            }
            if !state.readiness.checks().await.database {
                return unavailable("the database is unreachable; retry shortly");
            }
            if let Some(conn) = &conn {
                state.transports.track(conn);
            }
        }
    }
    next.run(req).await
}
