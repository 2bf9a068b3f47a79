//! JWT sockets: `auth:expiring` 60 s before expiry and a disconnect at expiry unless
//! refreshed. All sockets: a periodic re-check of their credential, which catches changes
//! made behind the server's back (the CLI) or whose notification was missed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::protocol::{AuthExpiring, server};
use super::session::{Session, SocketCtx};
use crate::auth::ACCEPTED_FOR;
use crate::model::AuditType;
use crate::model::timestamp;
use crate::state::AppState;

/// How early a JWT socket is warned.
const WARNING: chrono::Duration = chrono::Duration::seconds(60);
/// How often live sockets' credentials are checked again (the CLI's changes reach sockets
/// within this bound). Sockets of one token share one lookup a round (`Authenticator::still_live`).
const RECHECK_INTERVAL: Duration = Duration::from_secs(30);

fn until(t: DateTime<Utc>) -> Duration {
    (t - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

/// Follows the socket's JWT expiry (which `auth:refresh` may move) until the socket closes.
pub async fn watch<A: Adapter>(socket: SocketRef<A>, session: Arc<Session>) {
    let mut expiry = session.expiry.subscribe();
    loop {
        let Some(expires_at) = *expiry.borrow_and_update() else {
            // An API-key socket does not expire.
            return;
        };
        let warned = async {
            tokio::time::sleep(until(expires_at - WARNING)).await;
            let body = AuthExpiring {
                expires_at: timestamp(expires_at),
            };
            let _ = socket.emit(server::AUTH_EXPIRING, &body);
            tokio::time::sleep(until(expires_at)).await;
        };
        tokio::select! {
            () = warned => {
                tracing::info!(agent_id = %session.agent_id(), "JWT expired: disconnecting socket");
                let _ = socket.clone().disconnect();
                return;
            }
            changed = expiry.changed() => if changed.is_err() { return },
            () = session.closed.cancelled() => return,
        }
    }
}

/// Every `RECHECK_INTERVAL`, disconnects local sockets whose token was revoked or expired
/// or whose agent was disabled, and takes live sockets out of private rooms their agent was
/// removed from (catching what a CLI change or a missed notification left).
pub async fn recheck_loop<A: Adapter>(io: SocketIo<A>, state: AppState) {
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + RECHECK_INTERVAL,
        RECHECK_INTERVAL,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        let Some(root) = io.of("/") else {
            return;
        };
        for socket in root.sockets() {
            let Some(ctx) = SocketCtx::<A>::of(&socket) else {
                continue;
            };
            let live = recheck(&socket, &ctx).await;
            if live && !ctx.session.caller().is_admin() {
                for (room, id) in ctx.session.joined_private() {
                    // Only a definite "not a member" takes a socket out; errors wait.
                    if let Ok(false) = state.hub.is_member(id, ctx.session.agent_id()).await {
                        super::rooms::remove_from_room(&socket, &ctx.session, &state, &room).await;
                    }
                }
            }
        }
    }
}

/// A socket let in on a credential row read at `as_of` (remembered, not read for it): once
/// that row is [`ACCEPTED_FOR`] old, checks the socket against a fresh one, so a revocation
/// whose kick went out before the socket connected still reaches it within the 2 s bound.
pub async fn recheck_after<A: Adapter>(socket: SocketRef<A>, ctx: SocketCtx<A>, as_of: Instant) {
    let due = as_of + ACCEPTED_FOR + Duration::from_millis(10);
    tokio::select! {
        () = tokio::time::sleep_until(due.into()) => {}
        () = ctx.session.closed.cancelled() => return,
    }
    // Boxed: the task waits a second carrying only what it needs meanwhile.
    Box::pin(recheck(&socket, &ctx)).await;
}

/// Disconnects the socket when its credential is no longer live (token revoked or expired,
/// agent disabled); answers whether it is. While the database is down it is kept.
async fn recheck<A: Adapter>(socket: &SocketRef<A>, ctx: &SocketCtx<A>) -> bool {
    let live = ctx
        .state
        .auth
        .still_live(ctx.session.token_id())
        .await
        .unwrap_or(true);
    if !live {
        let agent_id = ctx.session.agent_id();
        let _ = socket.clone().disconnect();
        ctx.state
            .hub
            .audit(
                AuditType::SocketKicked,
                Some(agent_id),
                None,
                json!({"reason": "credential no longer valid", "sockets": 1}),
            )
            .await;
    }
    live
}
