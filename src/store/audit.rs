//! The audit trail (SPEC §3): append and list, newest first.

use chrono::Utc;
use entity::audit_events;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::{Page, Store, StoreResult};
use crate::model::{AuditFilter, AuditType};

pub struct NewAuditEvent {
    pub kind: AuditType,
    pub agent_id: Option<Uuid>,
    pub ip: Option<String>,
    pub details: Value,
}

impl Store {
    pub async fn record_audit(&self, event: NewAuditEvent) -> StoreResult<()> {
        audit_events::ActiveModel {
            r#type: Set(event.kind.as_str().to_owned()),
            agent_id: Set(event.agent_id),
            ip: Set(event.ip),
            details: Set(event.details),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(self.conn())
        .await?;
        Ok(())
    }

    pub async fn list_audit(
        &self,
        filter: AuditFilter,
        limit: u64,
    ) -> StoreResult<Page<audit_events::Model>> {
        let mut q = audit_events::Entity::find().order_by_desc(audit_events::Column::Id);
        if let Some(kind) = filter.kind {
            q = q.filter(audit_events::Column::Type.eq(kind.as_str()));
        }
        if let Some(agent_id) = filter.agent_id {
            q = q.filter(audit_events::Column::AgentId.eq(agent_id));
        }
        if let Some(before) = filter.before_id {
            q = q.filter(audit_events::Column::Id.lt(before));
        }
        let rows = q.limit(limit + 1).all(self.conn()).await?;
        Ok(Page::from_rows(rows, limit, |e| e.id.to_string()))
    }
}
