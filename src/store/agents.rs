//! Agents: create, look up, list, change.

use chrono::Utc;
use entity::agents;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{Page, Store, StoreError, StoreResult, unique_as};
use crate::model::{AgentName, Role};

impl Store {
    pub async fn create_agent(
        &self,
        name: &AgentName,
        display_name: Option<&str>,
        role: Role,
    ) -> StoreResult<agents::Model> {
        let model = agents::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.as_str().to_owned()),
            display_name: Set(display_name.unwrap_or(name.as_str()).to_owned()),
            role: Set(role.as_str().to_owned()),
            created_at: Set(Utc::now()),
            disabled_at: Set(None),
        };
        model
            .insert(self.conn())
            .await
            .map_err(unique_as("agent name already taken"))
    }

    pub async fn agent_by_name(&self, name: &str) -> StoreResult<Option<agents::Model>> {
        Ok(agents::Entity::find()
            .filter(agents::Column::Name.eq(name))
            .one(self.conn())
            .await?)
    }

    pub async fn agent_by_id(&self, id: Uuid) -> StoreResult<Option<agents::Model>> {
        Ok(agents::Entity::find_by_id(id).one(self.conn()).await?)
    }

    pub async fn agents_by_ids(&self, ids: Vec<Uuid>) -> StoreResult<Vec<agents::Model>> {
        Ok(agents::Entity::find()
            .filter(agents::Column::Id.is_in(ids))
            .all(self.conn())
            .await?)
    }

    pub async fn count_agents(&self) -> StoreResult<u64> {
        Ok(agents::Entity::find().count(self.conn()).await?)
    }

    /// Agents ordered by name, after the cursor's name.
    pub async fn list_agents(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Page<agents::Model>> {
        self.find_agents(&super::AgentFilter::default(), after, limit)
            .await
    }

    /// Changes the display name and/or the disabled flag; `None` leaves a field as it is.
    pub async fn update_agent(
        &self,
        agent: agents::Model,
        display_name: Option<String>,
        disabled: Option<bool>,
    ) -> StoreResult<agents::Model> {
        let mut model: agents::ActiveModel = agent.clone().into();
        if let Some(d) = display_name {
            model.display_name = Set(d);
        }
        match (disabled, agent.disabled_at) {
            (Some(true), None) => model.disabled_at = Set(Some(Utc::now())),
            (Some(false), Some(_)) => model.disabled_at = Set(None),
            _ => {}
        }
        if !model.is_changed() {
            return Ok(agent);
        }
        model.update(self.conn()).await.map_err(|e| match e {
            sea_orm::DbErr::RecordNotUpdated => StoreError::NotFound("agent"),
            e => e.into(),
        })
    }
}
