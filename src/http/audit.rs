//! `GET /audit`: the audit trail, newest first (admins).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiQuery, ListParams, encode_cursor};
use crate::auth::Caller;
use crate::error::{Error, ErrorResponse, Result};
use crate::model::{AgentName, AuditEventView, timestamp};
use crate::model::{AuditFilter, AuditType};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// An event type such as `jwt-issued`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// An agent name.
    agent: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct EventList {
    events: Vec<AuditEventView>,
    next_cursor: Option<String>,
}

/// Audit events, newest first (admin).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = EventList), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<EventList>> {
    caller.require_admin()?;
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let kind = params
        .kind
        .as_deref()
        .map(|k| AuditType::parse(k).ok_or_else(|| Error::bad_request("unknown audit event type")))
        .transpose()?;
    let agent_id = match params.agent.as_deref() {
        None => None,
        Some(name) => {
            let name = AgentName::parse(name)?;
            match state.hub.find_agent(&name).await? {
                Some(agent) => Some(agent.id),
                // No such agent: no events, but not an error.
                None => {
                    return Ok(Json(EventList {
                        events: vec![],
                        next_cursor: None,
                    }));
                }
            }
        }
    };
    let before_id = list
        .cursor()?
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| Error::bad_request("invalid cursor"))
        })
        .transpose()?;
    let page = state
        .hub
        .list_audit(
            AuditFilter {
                kind,
                agent_id,
                before_id,
            },
            list.limit()?,
        )
        .await?;
    let events = page
        .items
        .into_iter()
        .map(|e| AuditEventView {
            id: e.id,
            kind: e.r#type,
            agent_id: e.agent_id,
            ip: e.ip,
            details: e.details,
            created_at: timestamp(e.created_at),
        })
        .collect();
    Ok(Json(EventList {
        events,
        next_cursor: encode_cursor(page.next),
    }))
}
