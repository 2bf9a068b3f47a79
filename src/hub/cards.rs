//! Agent cards (SPEC §12): what an agent can do, for discovery by other agents (after the
//! A2A AgentCard, scoped to the hub).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Hub;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::{AgentRef, CardView};
use crate::store::{AgentFilter, NewCard, Page};

/// A card may hold at most this many skills, and this many methods.
pub const MAX_CARD_ITEMS: usize = 64;
/// A card serialized may not exceed this many bytes.
pub const MAX_CARD_BYTES: usize = 16 * 1024;

/// `PUT /agents/{name}/card`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// At most 1024 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// At most 64 characters.
    #[serde(default)]
    pub version: Option<String>,
    /// At most 64.
    pub skills: Vec<SkillInput>,
    /// At most 64, each `^[a-z][a-z0-9_.:-]{0,63}$`.
    pub methods: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillInput {
    /// 1 to 64 characters, unique in the card.
    pub id: String,
    /// 1 to 128 characters.
    pub name: String,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// At most 32, each 1 to 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// `^[a-z][a-z0-9_.:-]{0,63}$`.
pub fn is_method_name(m: &str) -> bool {
    let mut chars = m.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && m.len() <= 64
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | ':' | '-')
        })
}

fn text(what: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min || n > max || value.contains('\0') {
        return Err(Error::bad_request(format!(
            "{what} must be {min} to {max} characters without U+0000"
        )));
    }
    Ok(())
}

impl CardInput {
    fn check(&self) -> Result<()> {
        if let Some(d) = &self.description {
            text("description", d, 0, 1024)?;
        }
        if let Some(v) = &self.version {
            text("version", v, 1, 64)?;
        }
        if self.skills.len() > MAX_CARD_ITEMS || self.methods.len() > MAX_CARD_ITEMS {
            return Err(Error::bad_request(
                "a card has at most 64 skills and 64 methods",
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for s in &self.skills {
            text("a skill's id", &s.id, 1, 64)?;
            text("a skill's name", &s.name, 1, 128)?;
            if let Some(d) = &s.description {
                text("a skill's description", d, 0, 1024)?;
            }
            if let Some(tags) = &s.tags {
                if tags.len() > 32 {
                    return Err(Error::bad_request("a skill has at most 32 tags"));
                }
                for t in tags {
                    text("a tag", t, 1, 64)?;
                }
            }
            if !ids.insert(s.id.as_str()) {
                return Err(Error::bad_request(format!(
                    "skill id {:?} is listed twice",
                    s.id
                )));
            }
        }
        let mut methods = std::collections::HashSet::new();
        for m in &self.methods {
            if !is_method_name(m) {
                return Err(Error::bad_request(format!(
                    "method {m:?} must match ^[a-z][a-z0-9_.:-]{{0,63}}$"
                )));
            }
            if !methods.insert(m.as_str()) {
                return Err(Error::bad_request(format!("method {m:?} is listed twice")));
            }
        }
        Ok(())
    }
}

impl Hub {
    /// Publishes (replaces) an agent's card: admins, or the agent itself.
    pub async fn put_card(
        &self,
        caller: &Caller,
        name: &str,
        input: CardInput,
    ) -> Result<CardView> {
        let agent = self.agent_named(name).await?;
        caller.require_admin_or_self(agent.id)?;
        input.check()?;
        let skills = serde_json::to_value(&input.skills).unwrap_or_default();
        let view = |updated_at: String| CardView {
            agent: AgentRef::from_model(&agent),
            description: input.description.clone(),
            version: input.version.clone(),
            skills: skills.clone(),
            methods: input.methods.clone(),
            updated_at,
        };
        // The whole card as it will be answered, with a timestamp of the same length.
        let size = serde_json::to_vec(&view(crate::model::timestamp(chrono::Utc::now())))
            .map_or(usize::MAX, |v| v.len());
        if size > MAX_CARD_BYTES {
            return Err(Error::payload_too_large(format!(
                "the card exceeds {MAX_CARD_BYTES} bytes serialized"
            )));
        }
        let stored = self
            .store
            .put_card(
                agent.id,
                NewCard {
                    description: input.description.clone(),
                    version: input.version.clone(),
                    skills: skills.clone(),
                    methods: input.methods.clone(),
                    skill_ids: input.skills.iter().map(|s| s.id.clone()).collect(),
                },
            )
            .await?;
        self.callees.clear();
        Ok(view(crate::model::timestamp(stored.updated_at)))
    }

    /// An agent's card, or `not_found` (no such agent, or no card).
    pub async fn card(&self, name: &str) -> Result<CardView> {
        let agent = self.agent_named(name).await?;
        let card = self
            .store
            .card(agent.id)
            .await?
            .ok_or_else(|| Error::not_found("card"))?;
        Ok(CardView {
            agent: AgentRef::from_model(&agent),
            description: card.description,
            version: card.version,
            skills: card.skills,
            methods: serde_json::from_value(card.methods).unwrap_or_default(),
            updated_at: crate::model::timestamp(card.updated_at),
        })
    }

    /// Whether the agent's card lists `method` (a call's precondition).
    pub async fn offers_method(&self, agent_id: uuid::Uuid, method: &str) -> Result<bool> {
        Ok(self.store.card_has_method(agent_id, method).await?)
    }

    /// Agents whose cards match `filter`, by name.
    pub async fn find_agents(
        &self,
        filter: &AgentFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Page<entity::agents::Model>> {
        Ok(self.store.find_agents(filter, after, limit).await?)
    }
}
