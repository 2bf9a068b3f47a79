//! `POST /api/v1/auth/token`: an API key for a JWT, OAuth2 client-credentials style (SPEC §4).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ClientIp;
use crate::error::{Error, Result};
use crate::model::AgentView;
use crate::model::AuditType;
use crate::net::bearer;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(exchange))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    agent: AgentView,
}

/// The JSON and form spellings of a request (form: `client_secret`, JSON: `api_key`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    api_key: Option<String>,
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The key and, when the client named itself, the agent name it claims.
struct Presented {
    key: Option<String>,
    client_id: Option<String>,
}

fn presented(headers: &HeaderMap, body: &[u8]) -> Result<Presented> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut request = TokenRequest::default();
    if !body.is_empty() {
        request = if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded_form(body)?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))?
        };
    }
    if let Some(grant) = &request.grant_type
        && grant != "client_credentials"
    {
        return Err(Error::bad_request("grant_type must be client_credentials"));
    }
    let mut client_id = request.client_id;
    let mut key = request.api_key.or(request.client_secret);
    if key.is_none() {
        key = bearer(headers).map(str::to_owned);
    }
    if key.is_none()
        && let Some((user, pass)) = basic(headers)
    {
        client_id = Some(user);
        key = Some(pass);
    }
    Ok(Presented { key, client_id })
}

fn serde_urlencoded_form(body: &[u8]) -> Result<TokenRequest> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| Error::bad_request(format!("invalid form body: {e}")))
}

/// `Authorization: Basic base64(agent:key)`.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Exchange an API key for a JWT.
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "auth",
    security(()),
    request_body(content = TokenRequest, description = "Or the key as Bearer, or HTTP Basic agent:key, or the form grant_type=client_credentials&client_secret=…", content_type = "application/json"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = crate::error::ErrorResponse),
        (status = 401, body = crate::error::ErrorResponse),
        (status = 429, body = crate::error::ErrorResponse, description = "Too many refused credentials from this address"),
    )
)]
async fn exchange(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TokenResponse>> {
    // An address out of refused credentials is turned away before any lookup (SPEC §7).
    if let Some(wait) = state.failures.blocked(ip.0) {
        return Err(Error::rate_limited(wait.as_millis().max(1) as u64));
    }
    let body = body.map_err(|_| Error::payload_too_large("request body exceeds 1 MiB"))?;
    let presented = presented(&headers, &body)?;
    let caller = match &presented.key {
        Some(key) if crate::auth::keys::is_api_key(key) => state
            .auth
            .authenticate_key(key)
            .await
            .and_then(|caller| match &presented.client_id {
                Some(id) if *id != caller.agent.name => Err(Error::unauthorized()),
                _ => Ok(caller),
            }),
        _ => {
            state.auth.count_failure();
            Err(Error::unauthorized())
        }
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => {
            if e.code == crate::error::ErrorCode::Unauthorized {
                state.failures.record(ip.0);
                state
                    .hub
                    .audit(
                        AuditType::AuthFailed,
                        None,
                        ip.to_string_opt(),
                        json!({
                            "route": "/api/v1/auth/token",
                            "client_id": presented.client_id.map(|c| c.chars().take(64).collect::<String>()),
                        }),
                    )
                    .await;
            }
            return Err(e);
        }
    };
    let (access_token, _) = state.auth.issue_jwt(&caller)?;
    state
        .hub
        .audit(
            AuditType::JwtIssued,
            Some(caller.agent.id),
            ip.to_string_opt(),
            json!({"token_id": caller.token_id}),
        )
        .await;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.auth.jwt().ttl_seconds(),
        agent: AgentView::from_model(&caller.agent),
    }))
}
