//! In front of Socket.IO: refuses requests (polling and the WebSocket upgrade) from origins
//! that are neither listed nor the same origin (403), and caps new Engine.IO handshakes per
//! client IP (429), before they cost a session.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::PeerIpKeyExtractor;

use super::origin::OriginPolicy;
use crate::auth::client_ip;
use crate::config::Settings;
use crate::error::Error;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct SocketGuard {
    origins: OriginPolicy,
    trust_proxy: bool,
    /// New handshakes per client IP per minute (a token bucket refilled evenly).
    handshakes: Arc<GovernorConfig<PeerIpKeyExtractor, governor::middleware::NoOpMiddleware>>,
    metrics: Arc<Metrics>,
}

impl SocketGuard {
    pub fn new(
        settings: &Settings,
        origins: OriginPolicy,
        metrics: Arc<Metrics>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        let per_min = settings.rate_limit_handshakes_per_min.max(1);
        let handshakes = GovernorConfigBuilder::default()
            .period(Duration::from_secs(60) / per_min)
            .burst_size(per_min)
            .finish()
            .expect("a non-zero quota");
        super::ratelimit::spawn_pruning(handshakes.limiter().clone(), shutdown);
        Self {
            origins,
            trust_proxy: settings.trust_proxy,
            handshakes: Arc::new(handshakes),
            metrics,
        }
    }

    fn admit_handshake(&self, ip: IpAddr) -> Result<(), Error> {
        self.handshakes
            .limiter()
            .check_key(&ip)
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Error::rate_limited(wait.as_millis().max(1) as u64)
            })
    }
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
    // A request without `sid` opens a new Engine.IO session.
    let new_session = !req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|pair| pair.starts_with("sid="));
    if new_session {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        if let Some(ip) = client_ip(req.headers(), peer, guard.trust_proxy)
            && let Err(e) = guard.admit_handshake(ip)
        {
            guard.metrics.rate_limited("ws");
            return e.into_response();
        }
    }
    next.run(req).await
}
