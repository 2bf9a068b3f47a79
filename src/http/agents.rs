//! `/me`, `/agents`, and API tokens (`/agents/{name}/tokens`, `/tokens/{id}`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use entity::agents;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ClientIp;
use super::extract::{ApiJson, ApiPath, ApiQuery, ListParams, OptionalJson, encode_cursor};
use crate::auth::Caller;
use crate::error::{Error, ErrorResponse, Result};
use crate::model::{AgentView, CreatedTokenView, Role, TokenView, timestamp};
use crate::state::AppState;
use crate::store::AgentFilter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(get_agent, update_agent))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

async fn agent_named(state: &AppState, name: &str) -> Result<agents::Model> {
    state.hub.agent_named(name).await
}

/// The calling agent.
#[utoipa::path(get, path = "/me", tag = "agents",
    responses((status = 200, body = AgentView), (status = 401, body = ErrorResponse)))]
async fn me(caller: Caller) -> Json<AgentView> {
    Json(AgentView::from_model(&caller.agent))
}

#[derive(Serialize, ToSchema)]
struct AgentList {
    agents: Vec<AgentView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AgentListParams {
    /// Only agents whose card has a skill with this id (SPEC §12).
    skill: Option<String>,
    /// Only agents whose card lists this method.
    method: Option<String>,
    /// `true`: only agents online now; `false`: only those offline.
    online: Option<bool>,
    /// 1..100, default 50.
    limit: Option<i64>,
    /// Opaque: the `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Agents by name, with `online`; the filters combine with AND.
#[utoipa::path(get, path = "/agents", tag = "agents", params(AgentListParams),
    responses((status = 200, body = AgentList), (status = 400, body = ErrorResponse)))]
async fn list_agents(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(params): ApiQuery<AgentListParams>,
) -> Result<Json<AgentList>> {
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let limit = list.limit()?;
    let filter = AgentFilter {
        skill: params.skill,
        method: params.method,
    };
    let mut after = list.cursor()?;
    let mut agents = Vec::with_capacity(limit as usize);
    // `online` lives in presence, not the database: read pages until this one is full and
    // one more match shows that another page follows.
    'pages: loop {
        let page = state
            .hub
            .find_agents(&filter, after.as_deref(), limit)
            .await?;
        for agent in &page.items {
            let view = with_online(&state, agent).await;
            if params.online.is_none_or(|o| view.online == Some(o)) {
                agents.push(view);
                if agents.len() as u64 > limit {
                    break 'pages;
                }
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let next = if agents.len() as u64 > limit {
        agents.truncate(limit as usize);
        agents.last().map(|a| a.name.clone())
    } else {
        None
    };
    Ok(Json(AgentList {
        agents,
        next_cursor: encode_cursor(next),
    }))
}

async fn with_online(state: &AppState, agent: &agents::Model) -> AgentView {
    AgentView {
        online: Some(state.presence.is_online(agent.id).await),
        ..AgentView::from_model(agent)
    }
}

/// One agent, with `online`.
#[utoipa::path(get, path = "/agents/{name}", params(("name" = String, Path, description = "agent name")), tag = "agents",
    responses((status = 200, body = AgentView), (status = 404, body = ErrorResponse)))]
async fn get_agent(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<AgentView>> {
    let agent = agent_named(&state, &name).await?;
    Ok(Json(with_online(&state, &agent).await))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateAgent {
    name: String,
    display_name: Option<String>,
    role: Option<Role>,
}

/// Create an agent (admin).
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = CreateAgent,
    responses((status = 201, body = AgentView), (status = 403, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn create_agent(
    State(state): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiJson(body): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<AgentView>)> {
    caller.require_admin()?;
    let agent = state
        .hub
        .create_agent(
            ip.actor(&caller),
            &body.name,
            body.display_name.as_deref(),
            body.role.unwrap_or(Role::Agent),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AgentView::from_model(&agent))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateAgent {
    display_name: Option<String>,
    disabled: Option<bool>,
}

/// Change an agent's display name or disable it (admin). Disabling ends its sessions.
#[utoipa::path(patch, path = "/agents/{name}", params(("name" = String, Path, description = "agent name")), tag = "agents", request_body = UpdateAgent,
    responses((status = 200, body = AgentView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_agent(
    State(state): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateAgent>,
) -> Result<Json<AgentView>> {
    caller.require_admin()?;
    let agent = agent_named(&state, &name).await?;
    let agent = state
        .hub
        .update_agent(
            ip.actor(&caller),
            agent,
            body.display_name.as_deref(),
            body.disabled,
        )
        .await?;
    if body.disabled.is_some() {
        state.auth.credentials_changed();
    }
    if body.disabled == Some(false) {
        // Its keys were refused while it was disabled: they count again from now on.
        state.auth.forget_refusals();
    }
    Ok(Json(AgentView::from_model(&agent)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: Option<String>,
    expires_in_days: Option<i64>,
}

/// Create an API token (admin or the agent itself). The key is shown once.
#[utoipa::path(post, path = "/agents/{name}/tokens", params(("name" = String, Path, description = "agent name")), tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedTokenView), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiPath(name): ApiPath<String>,
    OptionalJson(body): OptionalJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedTokenView>)> {
    let agent = agent_named(&state, &name).await?;
    caller.require_admin_or_self(agent.id)?;
    caller.require_key_to_mint()?;
    let issued = state
        .hub
        .create_token(
            ip.actor(&caller),
            &agent,
            body.name.as_deref(),
            body.expires_in_days,
        )
        .await?;
    let t = issued.token;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenView {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            key: issued.key,
            created_at: timestamp(t.created_at),
            expires_at: t.expires_at.map(timestamp),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
struct TokenList {
    tokens: Vec<TokenView>,
    next_cursor: Option<String>,
}

/// An agent's tokens, without keys (admin or the agent itself).
#[utoipa::path(get, path = "/agents/{name}/tokens", tag = "tokens", params(("name" = String, Path, description = "agent name"), ListParams),
    responses((status = 200, body = TokenList), (status = 403, body = ErrorResponse)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<TokenList>> {
    let agent = agent_named(&state, &name).await?;
    caller.require_admin_or_self(agent.id)?;
    let after = params
        .cursor()?
        .map(|c| Uuid::parse_str(&c).map_err(|_| Error::bad_request("invalid cursor")))
        .transpose()?;
    let page = state
        .hub
        .list_tokens(agent.id, after, params.limit()?)
        .await?;
    Ok(Json(TokenList {
        tokens: page.items.iter().map(TokenView::from_model).collect(),
        next_cursor: encode_cursor(page.next),
    }))
}

/// Revoke a token (admin or its owner): 204, also when already revoked.
#[utoipa::path(delete, path = "/tokens/{id}", params(("id" = String, Path, description = "token id (UUID)")), tag = "tokens",
    responses((status = 204), (status = 404, body = ErrorResponse)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    // Another agent's token answers 404, like one that does not exist.
    let (token, owner) = match Uuid::parse_str(&id) {
        Ok(id) => state.hub.token_by_id(id).await?,
        Err(_) => None,
    }
    .filter(|(t, _)| caller.may_see_token_of(t.agent_id))
    .ok_or_else(|| Error::not_found("token"))?;
    state
        .hub
        .revoke_token(ip.actor(&caller), token, &owner)
        .await?;
    state.auth.credentials_changed();
    Ok(StatusCode::NO_CONTENT)
}
