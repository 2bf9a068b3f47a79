//! Origins (SPEC §7): CORS for REST from `ALLOWED_ORIGINS` plus same origin; the same policy
//! decides which Socket.IO requests `socket_guard` lets through. Requests without `Origin`
//! (agents) are allowed.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Settings;

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
