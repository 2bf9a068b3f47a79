//! The REST API (`/api/v1`), health and readiness, and the OpenAPI document.
//!
//! One file per resource, each with its `router()` of thin handlers (parse, call the hub, map
//! the result); merged here, where the cross-cutting
//! layers (security headers, body limit, unknown-route errors) are applied once.

mod agents;
mod audit;
mod auth;
mod caller;
mod cards;
mod cursors;
mod dashboard;
mod extract;
mod health;
mod messages;
mod metrics;
mod observe;
mod openapi;
mod origin;
mod ratelimit;
mod rooms;
mod socket_guard;
mod stats;

pub use caller::ClientIp;
pub use ratelimit::CredentialRefused;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::error::Error;
use crate::state::AppState;

/// Request bodies larger than this answer 413 (SPEC §6).
const MAX_BODY_BYTES: usize = 1 << 20;

/// The whole HTTP surface: REST, health, OpenAPI and the Socket.IO endpoint (`/socket.io/`),
/// under the same security headers.
pub fn router<A: socketioxide::adapter::Adapter>(
    state: AppState,
    socket_io: socketioxide::layer::SocketIoLayer<A>,
) -> Router {
    let api = OpenApiRouter::new()
        .merge(auth::router())
        .merge(agents::router())
        .merge(cards::router())
        .merge(rooms::router())
        .merge(messages::router())
        .merge(cursors::router())
        .merge(audit::router())
        .merge(stats::router())
        .fallback(unknown_route);
    let (api, doc) = OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/v1", api)
        .split_for_parts();
    let api = api
        .route_layer(axum::middleware::from_fn(observe::tag_route))
        .fallback(unknown_route);
    let api = ratelimit::limit(state.clone(), api.with_state(state.clone()));
    let hsts = state.settings.enable_hsts;
    let origins = origin::OriginPolicy::new(&state.settings);
    // Health, readiness and the OpenAPI document are not rate-limited; everything else is REST.
    let router = Router::new()
        .merge(health::router())
        .merge(dashboard::router())
        .merge(openapi::router(doc))
        .merge(metrics::router())
        .route_layer(axum::middleware::from_fn(observe::tag_route))
        .with_state(state.clone())
        .fallback_service(api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(socket_io)
        .layer(origins.cors_layer())
        .layer(axum::middleware::from_fn_with_state(
            socket_guard::SocketGuard::new(origins, state.clone()),
            socket_guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state,
            observe::observe,
        ));
    security_headers(router, hsts)
}

async fn unknown_route() -> Error {
    Error::not_found("route")
}

/// The headers of SPEC §7 on every response, errors and 404s included.
fn security_headers(router: Router, hsts: bool) -> Router {
    let fixed: [(HeaderName, &'static str); 4] = [
        (header::CONTENT_SECURITY_POLICY, "default-src 'self'"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    let mut router = router;
    for (name, value) in fixed {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if hsts {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    router
}
