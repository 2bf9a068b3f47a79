//! Agent cards (SPEC §12) and the discovery index behind `GET /agents?skill=&method=`.

use chrono::Utc;
use entity::{agent_card_keys, agent_cards, agents};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::{Page, Store, StoreResult};

/// A card as it is stored: checked by the hub.
pub struct NewCard {
    pub description: Option<String>,
    pub version: Option<String>,
    pub skills: Value,
    pub methods: Vec<String>,
    /// The skills' ids, for the index.
    pub skill_ids: Vec<String>,
}

/// What `GET /agents` filters on (each optional, combined with AND).
#[derive(Debug, Default, Clone)]
pub struct AgentFilter {
    pub skill: Option<String>,
    pub method: Option<String>,
}

impl Store {
    /// Replaces the agent's card (and its index rows) in one transaction.
    pub async fn put_card(&self, agent_id: Uuid, card: NewCard) -> StoreResult<agent_cards::Model> {
        let txn = self.db.begin().await?;
        // The upsert first: it locks the card's row (PostgreSQL), so concurrent publishes of
        // one card run one after another, and the index rows below follow the same order.
        let row = agent_cards::ActiveModel {
            agent_id: Set(agent_id),
            description: Set(card.description),
            version: Set(card.version),
            skills: Set(card.skills),
            methods: Set(Value::from(card.methods.clone())),
            updated_at: Set(Utc::now()),
        };
        let on_conflict = OnConflict::column(agent_cards::Column::AgentId)
            .update_columns([
                agent_cards::Column::Description,
                agent_cards::Column::Version,
                agent_cards::Column::Skills,
                agent_cards::Column::Methods,
                agent_cards::Column::UpdatedAt,
            ])
            .to_owned();
        let stored = agent_cards::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec_with_returning(&txn)
            .await?;
        agent_card_keys::Entity::delete_many()
            .filter(agent_card_keys::Column::AgentId.eq(agent_id))
            .exec(&txn)
            .await?;
        let mut keys: Vec<(&str, String)> =
            card.skill_ids.into_iter().map(|s| ("skill", s)).collect();
        keys.extend(card.methods.into_iter().map(|m| ("method", m)));
        keys.sort();
        keys.dedup();
        if !keys.is_empty() {
            agent_card_keys::Entity::insert_many(keys.into_iter().map(|(kind, value)| {
                agent_card_keys::ActiveModel {
                    kind: Set(kind.to_owned()),
                    value: Set(value),
                    agent_id: Set(agent_id),
                }
            }))
            .exec(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(stored)
    }

    pub async fn card(&self, agent_id: Uuid) -> StoreResult<Option<agent_cards::Model>> {
        Ok(agent_cards::Entity::find_by_id(agent_id)
            .one(self.conn())
            .await?)
    }

    /// Whether the agent's card lists `method`.
    pub async fn card_has_method(&self, agent_id: Uuid, method: &str) -> StoreResult<bool> {
        Ok(
            agent_card_keys::Entity::find_by_id(("method".to_owned(), method.to_owned(), agent_id))
                .one(self.conn())
                .await?
                .is_some(),
        )
    }

    /// Agents by name after `after` whose cards match `filter`.
    pub async fn find_agents(
        &self,
        filter: &AgentFilter,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Page<agents::Model>> {
        let mut q = agents::Entity::find().order_by_asc(agents::Column::Name);
        for (kind, value) in [("skill", &filter.skill), ("method", &filter.method)] {
            let Some(value) = value else { continue };
            let with = Query::select()
                .column(agent_card_keys::Column::AgentId)
                .from(agent_card_keys::Entity)
                .and_where(Expr::col(agent_card_keys::Column::Kind).eq(kind))
                .and_where(Expr::col(agent_card_keys::Column::Value).eq(value.as_str()))
                .to_owned();
            q = q.filter(agents::Column::Id.in_subquery(with));
        }
        if let Some(after) = after {
            q = q.filter(agents::Column::Name.gt(after));
        }
        let rows = q.limit(limit + 1).all(self.conn()).await?;
        Ok(Page::from_rows(rows, limit, |a| a.name.clone()))
    }
}
