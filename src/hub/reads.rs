//! What callers read through the hub: agents, tokens, rooms, the audit trail, and the state
//! of the store itself. Thin, so REST, Socket.IO and the CLI never reach the store directly.

use entity::{agents, api_tokens, audit_events};
use uuid::Uuid;

use super::Hub;
use crate::error::{Error, Result};
use crate::model::{AgentName, AuditFilter, Room};
use crate::store::{Page, Viewer};

impl Hub {
    /// The agent with this name, or `not_found` (a bad name is `bad_request`).
    pub async fn agent_named(&self, name: &str) -> Result<agents::Model> {
        self.find_agent(&AgentName::parse(name)?)
            .await?
            .ok_or_else(|| Error::not_found("agent"))
    }

    pub async fn find_agent(&self, name: &AgentName) -> Result<Option<agents::Model>> {
        Ok(self.store.agent_by_name(name.as_str()).await?)
    }

    pub async fn list_agents(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Page<agents::Model>> {
        Ok(self.store.list_agents(after, limit).await?)
    }

    pub async fn token_by_id(
        &self,
        id: Uuid,
    ) -> Result<Option<(api_tokens::Model, agents::Model)>> {
        Ok(self.store.token_by_id(id).await?)
    }

    pub async fn list_tokens(
        &self,
        agent_id: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Page<api_tokens::Model>> {
        Ok(self.store.list_tokens(agent_id, after, limit).await?)
    }

    pub async fn list_rooms(
        &self,
        viewer: Viewer,
        include_archived: bool,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Page<Room>> {
        Ok(self
            .store
            .list_rooms(viewer, include_archived, after, limit)
            .await?)
    }

    pub async fn list_audit(
        &self,
        filter: AuditFilter,
        limit: u64,
    ) -> Result<Page<audit_events::Model>> {
        Ok(self.store.list_audit(filter, limit).await?)
    }

    /// Whether `agent_id` is a member of the room (private-room re-checks).
    pub async fn is_member(&self, room_id: Uuid, agent_id: Uuid) -> Result<bool> {
        Ok(self.store.is_member(room_id, agent_id).await?)
    }

    pub async fn count_agents(&self) -> Result<u64> {
        Ok(self.store.count_agents().await?)
    }

    pub async fn count_rooms(&self) -> Result<u64> {
        Ok(self.store.count_rooms().await?)
    }

    /// True when the database answers (within 2 s).
    pub async fn database_up(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    /// Connections in the database pool: (open, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        self.store.pool_stats()
    }

    /// Closes the database pool (shutdown, end of a CLI command).
    pub async fn close(&self) {
        self.store.clone().close().await;
    }
}
