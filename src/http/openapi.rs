//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "AgentHub", description = "REST API of AgentHub, the realtime hub for AI agents and people."),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorResponse)),
)]
struct ApiDoc;

/// The document's fixed part; routes add their paths to it.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A JWT from POST /api/v1/auth/token, or an API key (ahk_…)",
                ))
                .build(),
        ),
    );
    doc
}

pub fn router(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    let doc = Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
