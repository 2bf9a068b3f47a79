//! REST rate limits (SPEC §7) with tower-governor: a token bucket per agent for requests with
//! a valid credential, per client IP for all others (the token exchange included). Buckets
//! hold a minute's quota and refill evenly. Limits are per node.
//!
//! A classifying middleware authenticates once and tags the request; a `Steer` sends it to
//! the agent or the IP governor; a 429 is counted and audited (at most once a minute per key).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::middleware::NoOpMiddleware;
use serde_json::json;
use tower::{Layer, Service, ServiceExt};
use tower_governor::governor::{GovernorConfigBuilder, SharedRateLimiter};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{Error, ErrorCode};
use crate::net::{bearer, client_ip};
use crate::state::AppState;

/// Whose bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    Agent(Uuid),
    Ip(IpAddr),
    /// No address known (not over TCP): one shared bucket.
    Unknown,
}

/// Marks a request whose bearer credential was checked and refused, so the handler answers
/// 401 without checking it again.
#[derive(Debug, Clone, Copy)]
pub struct CredentialRefused;

#[derive(Debug, Clone, Copy)]
struct TaggedKey;

impl KeyExtractor for TaggedKey {
    type Key = RateKey;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<RateKey, GovernorError> {
        Ok(req
            .extensions()
            .get::<RateKey>()
            .copied()
            .unwrap_or(RateKey::Unknown))
    }
}

/// Wraps the REST router in the two governors.
pub fn limit<S>(
    state: AppState,
    api: S,
) -> impl Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send>
+ Clone
+ Send
+ 'static
where
    S: Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let governor = |per_min: u32| {
        let config = GovernorConfigBuilder::default()
            .key_extractor(TaggedKey)
            .period(Duration::from_secs(60) / per_min.max(1))
            .burst_size(per_min.max(1))
            .finish()
            .expect("a non-zero quota");
        let limiter = config.limiter().clone();
        spawn_pruning(limiter, state.shutdown.clone());
        GovernorLayer::new(config).error_handler(too_many)
    };
    let settings = &state.settings;
    let by_ip = governor(settings.rate_limit_rest_anon_per_min).layer(api.clone());
    let by_agent = governor(settings.rate_limit_rest_auth_per_min).layer(api);
    axum::middleware::from_fn_with_state(state, classify).layer(ByKey { by_ip, by_agent })
}

/// Forgets, once a minute, the buckets of clients that are full again (idle), so memory
/// follows the active clients rather than every address ever seen.
pub fn spawn_pruning<K>(
    limiter: SharedRateLimiter<K, NoOpMiddleware>,
    shutdown: tokio_util::sync::CancellationToken,
) where
    K: Clone + std::hash::Hash + Eq + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// Sends a tagged request to the governor of its kind of key. (tower's `Steer` would do, but
/// it is not `Sync`, which axum middleware requires of inner services.)
#[derive(Clone)]
struct ByKey<S> {
    by_ip: S,
    by_agent: S,
}

impl<S> Service<Request> for ByKey<S>
where
    S: Service<Request> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tower::util::Oneshot<S, Request>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Each call drives a clone to readiness itself (`oneshot`).
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let service = match req.extensions().get::<RateKey>() {
            Some(RateKey::Agent(_)) => self.by_agent.clone(),
            _ => self.by_ip.clone(),
        };
        service.oneshot(req)
    }
}

fn too_many(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            Error::rate_limited(wait_time.max(1) * 1000).into_response()
        }
        other => Error::internal(other.to_string()).into_response(),
    }
}

/// Tags the request with its caller and bucket; after the answer, records a 429.
async fn classify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = client_ip(req.headers(), peer, state.settings.trust_proxy);
    // IPv6 by /64: one host or site holds a whole /64, so per-/128 buckets would be free.
    let by_ip = ip.map_or(RateKey::Unknown, |ip| RateKey::Ip(crate::auth::ip_key(ip)));
    let exchange = req.uri().path() == "/api/v1/auth/token";
    let credential = bearer(req.headers())
        .filter(|_| !exchange)
        .map(str::to_owned);
    let key = match credential {
        None => by_ip,
        Some(credential) => match state.auth.authenticate(&credential).await {
            Ok(caller) => {
                let key = RateKey::Agent(caller.agent.id);
                req.extensions_mut().insert::<Caller>(caller);
                key
            }
            Err(e) if e.code == ErrorCode::Unauthorized => {
                req.extensions_mut().insert(CredentialRefused);
                by_ip
            }
            Err(e) => return e.into_response(),
        },
    };
    req.extensions_mut().insert(key);
    let response = next.run(req).await;
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return response;
    }
    state.metrics.rate_limited("rest");
    let (agent_id, details) = match key {
        RateKey::Agent(id) => (Some(id), json!({"scope": "rest", "key": "agent"})),
        _ => (None, json!({"scope": "rest", "key": "ip"})),
    };
    state
        .hub
        .audit_rate_limited(agent_id, ip.map(|i| i.to_string()), details)
        .await;
    response
}
