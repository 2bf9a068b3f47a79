//! The handshake: the credential (from the `auth` payload or an `Authorization` header, never
//! the query string), the per-agent socket cap, and the socket's session and queue.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};

use super::dispatch::{self, Work};
use super::session::{Session, SocketCtx};
use super::{agent_key, agent_name_key, expiry, token_key};
use crate::error::ErrorCode;
use crate::model::AgentRef;
use crate::model::AuditType;
use crate::net::Conn;
use crate::net::{bearer, client_ip};
use crate::state::AppState;

/// Why a handshake was refused; its text is the client's `connect_error` message. Only final
/// refusals are `connect_error`s (SPEC §4): a transient one drops the transport instead, so
/// the client retries by itself.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unauthorized")]
    Unauthorized,
    #[error("too_many_connections")]
    TooManyConnections,
    /// Never reaches the client: its transport is dropped first.
    #[error("unavailable")]
    Unavailable,
}

/// The connect middleware: runs before the client is told it is connected, so the session,
/// the queue and the event handlers exist before its first event can arrive.
pub async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    TryData(auth): TryData<Value>,
    state: AppState,
) -> Result<(), ConnectError> {
    let parts = s.req_parts();
    // A WebSocket-only client's session lives on the connection of its upgrade request.
    if let Some(conn) = parts.extensions.get::<Arc<Conn>>() {
        state.transports.carry(&s.id.to_string(), conn);
    }
    if state.shutdown.is_cancelled() {
        return Err(drop_transport(&s, &state));
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = client_ip(&parts.headers, peer, state.settings.trust_proxy);
    let from_auth = auth
        .ok()
        .and_then(|a| a.get("token").and_then(Value::as_str).map(str::to_owned));
    let credential = from_auth.or_else(|| bearer(&parts.headers).map(str::to_owned));
    // Refused credentials are spent per address, so CONNECTs repeated on one session are
    // limited like new sessions. Past the quota a CONNECT is not looked up; its key may be
    // fine, so it is not refused for good either: the transport is dropped and the client's
    // next attempt meets the 429 on new sessions until the bucket refills.
    if credential.is_some() && state.failures.blocked(ip).is_some() {
        state.metrics.rate_limited("ws");
        return Err(drop_transport(&s, &state));
    }
    let uncounted = credential.is_none();
    let started = std::time::Instant::now();
    let caller = match credential {
        Some(c) => state.auth.authenticate_as_of(&c).await,
        None => Err(crate::error::Error::unauthorized()),
    };
    let ip_text = ip.map(|ip| ip.to_string());
    let (caller, as_of) = match caller {
        Ok(found) => found,
        Err(e) if e.code == ErrorCode::Unauthorized => {
            if uncounted {
                state.auth.count_failure();
            }
            state.failures.record(ip);
            state
                .hub
                .audit_throttled(
                    AuditType::AuthFailed,
                    None,
                    ip_text,
                    json!({"route": "socket.io handshake"}),
                )
                .await;
            return Err(ConnectError::Unauthorized);
        }
        Err(e) => {
            e.log();
            state.readiness.database_failed().await;
            return Err(drop_transport(&s, &state));
        }
    };
    let sid = s.id.to_string();
    let agent = AgentRef::from_model(&caller.agent);
    if state
        .presence
        .connect(&agent, &sid, state.settings.max_sockets_per_agent)
        .await
        .is_err()
    {
        return Err(ConnectError::TooManyConnections);
    }
    // Its own id as a room lets any node's broadcast leave this socket out (`except(sid)`).
    s.join([
        agent_key(caller.agent.id),
        agent_name_key(&caller.agent.name),
        token_key(caller.token_id),
        sid.clone(),
    ]);
    state.metrics.ws_connections.inc();
    let session = Session::new(
        sid,
        ip_text,
        caller,
        state.settings.rate_limit_ws_events_per_sec,
    );
    let ctx = SocketCtx::<A>::new(session, state);
    s.extensions.insert(ctx.clone());
    if as_of < started {
        // Let in on a remembered row: checked again against a fresh one.
        tokio::spawn(expiry::recheck_after(s.clone(), ctx.clone(), as_of));
    }
    s.on_fallback(dispatch::on_event);
    s.on_disconnect(async move |s: SocketRef<A>| {
        if let Some(ctx) = SocketCtx::<A>::of(&s) {
            ctx.state.transports.forget(&s.id.to_string());
            ctx.session.closed.cancel();
            let _ = ctx.queue.tx.send(Work::Disconnect).await;
        }
    });
    // socketioxide can still fail to send the CONNECT answer (the transport closed while
    // this ran) and then drop the socket, with or without calling its disconnect handler,
    // and never start its worker: undo what was registered here, or presence and the
    // gauges would keep a ghost. A socket whose worker runs is cleaned up by the worker.
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if !s.connected() && !ctx.session.worker_started() {
            ctx.state.transports.forget(&s.id.to_string());
            // Boxed: every new socket's watchdog sleeps a second, and would otherwise carry
            // the whole cleanup's state meanwhile (5.5 KB a socket in a handshake burst).
            Box::pin(super::rooms::on_disconnect(&s, &ctx.session, &ctx.state)).await;
        }
    });
    Ok(())
}

/// Ends a handshake that may succeed later under Engine.IO: the client sees its transport
/// fail (never a `connect_error`) and reconnects with its own backoff.
fn drop_transport<A: Adapter>(s: &SocketRef<A>, state: &AppState) -> ConnectError {
    state.transports.drop_session(&s.id.to_string());
    ConnectError::Unavailable
}

/// Runs once the client knows it is connected: start the worker and the expiry watch.
pub async fn on_connect<A: Adapter>(s: SocketRef<A>, state: AppState) {
    let Some(ctx) = SocketCtx::<A>::of(&s) else {
        return;
    };
    ctx.session.start_worker();
    tokio::spawn(expiry::watch(s.clone(), ctx.session.clone()));
    dispatch::worker(s, ctx, state).await;
}
