//! Origins (SPEC §7): CORS for REST from `ALLOWED_ORIGINS` plus same origin, and a guard that
//! refuses Socket.IO requests (polling and the WebSocket upgrade) from any other origin with
//! 403 before they reach Socket.IO. Requests without `Origin` (agents) are allowed.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Settings;
use crate::error::Error;

/// Whether a request's `Origin` may talk to us.
#[derive(Clone)]
pub struct OriginPolicy {
    allowed: Arc<Vec<String>>,
    trust_proxy: bool,
}

impl OriginPolicy {
    pub fn new(settings: &Settings) -> Self {
        Self {
            allowed: Arc::new(settings.allowed_origins()),
            trust_proxy: settings.trust_proxy,
        }
    }

    /// Listed, or the same origin: the `Origin`'s host:port equals `Host` (or
    /// `X-Forwarded-Host` behind a trusted proxy).
    pub fn allows(&self, origin: &HeaderValue, headers: &HeaderMap) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if self.allowed.iter().any(|a| a == origin) {
            return true;
        }
        let Some(authority) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        let host_header = if self.trust_proxy && headers.contains_key("x-forwarded-host") {
            "x-forwarded-host"
        } else {
            "host"
        };
        headers
            .get(host_header)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split(',').next())
            .is_some_and(|host| !host.is_empty() && authority.eq_ignore_ascii_case(host.trim()))
    }

    pub fn cors_layer(&self) -> CorsLayer {
        let policy = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, parts| {
                policy.allows(origin, &parts.headers)
            }))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(600))
    }
}

/// Refuses Socket.IO requests from origins that are neither listed nor the same origin.
pub async fn guard_socket_io(
    State(policy): State<OriginPolicy>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/socket.io")
        && let Some(origin) = req.headers().get(header::ORIGIN)
        && !policy.allows(origin, req.headers())
    {
        return Error::forbidden("origin not allowed").into_response();
    }
    next.run(req).await
}
