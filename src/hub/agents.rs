//! Agents and their API tokens: creation, changes, revocation, with their audit events.

use chrono::{Duration, Utc};
use entity::{agents, api_tokens};
use serde_json::json;

use super::Hub;
use super::KickTarget;
use crate::auth::keys;
use crate::error::{Error, Result};
use crate::model::{AgentName, AuditType, Role};
use crate::store::NewToken;

/// Who asked, for the audit trail: an agent over the API, or an operator at the CLI.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub agent_id: Option<uuid::Uuid>,
    pub ip: Option<String>,
}

pub struct IssuedToken {
    pub token: api_tokens::Model,
    /// Shown once, never stored.
    pub key: String,
}

pub fn validate_display_name(s: &str) -> Result<&str> {
    let n = s.chars().count();
    if n == 0 || n > 128 || s.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "display_name must be 1 to 128 characters without control characters",
        ));
    }
    Ok(s)
}

impl Hub {
    pub async fn create_agent(
        &self,
        actor: Actor,
        name: &str,
        display_name: Option<&str>,
        role: Role,
    ) -> Result<agents::Model> {
        let name = AgentName::parse(name)?;
        let display_name = display_name.map(validate_display_name).transpose()?;
        let agent = self.store.create_agent(&name, display_name, role).await?;
        self.audit(
            AuditType::AgentCreated,
            actor.agent_id,
            actor.ip,
            json!({"agent": agent.name, "agent_id": agent.id, "role": agent.role}),
        )
        .await;
        Ok(agent)
    }

    pub async fn update_agent(
        &self,
        actor: Actor,
        agent: agents::Model,
        display_name: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<agents::Model> {
        let display_name = display_name.map(validate_display_name).transpose()?;
        let was_disabled = agent.disabled_at.is_some();
        let updated = self
            .store
            .update_agent(agent, display_name.map(str::to_owned), disabled)
            .await?;
        self.audit(
            AuditType::AgentUpdated,
            actor.agent_id,
            actor.ip,
            json!({
                "agent": updated.name,
                "agent_id": updated.id,
                "display_name": display_name,
                "disabled": disabled,
            }),
        )
        .await;
        self.callees.clear();
        if !was_disabled && updated.disabled_at.is_some() {
            self.kick(KickTarget::Agent(updated.id), "agent disabled")
                .await;
        }
        Ok(updated)
    }

    pub async fn create_token(
        &self,
        actor: Actor,
        agent: &agents::Model,
        name: Option<&str>,
        expires_in_days: Option<i64>,
    ) -> Result<IssuedToken> {
        let name = name.unwrap_or("default");
        let chars = name.chars().count();
        if chars == 0 || chars > 128 || name.chars().any(char::is_control) {
            return Err(Error::bad_request(
                "token name must be 1 to 128 characters without control characters",
            ));
        }
        let expires_at = match expires_in_days {
            None => None,
            Some(d @ 1..=3650) => Some(Utc::now() + Duration::days(d)),
            Some(_) => return Err(Error::bad_request("expires_in_days must be 1 to 3650")),
        };
        let generated = keys::generate();
        let token = self
            .store
            .create_token(NewToken {
                agent_id: agent.id,
                name: name.to_owned(),
                token_hash: generated.hash,
                prefix: generated.prefix,
                expires_at,
            })
            .await?;
        self.audit(
            AuditType::TokenCreated,
            actor.agent_id,
            actor.ip,
            json!({"agent": agent.name, "token_id": token.id, "prefix": token.prefix}),
        )
        .await;
        Ok(IssuedToken {
            token,
            key: generated.key,
        })
    }

    /// Revokes a token; a second revocation is a no-op (and writes no second audit event).
    pub async fn revoke_token(
        &self,
        actor: Actor,
        token: api_tokens::Model,
        owner: &agents::Model,
    ) -> Result<()> {
        let id = token.id;
        if self.store.revoke_token(token).await? {
            self.audit(
                AuditType::TokenRevoked,
                actor.agent_id,
                actor.ip,
                json!({"agent": owner.name, "token_id": id}),
            )
            .await;
            self.kick(KickTarget::Token(id), "token revoked").await;
        }
        Ok(())
    }
}
