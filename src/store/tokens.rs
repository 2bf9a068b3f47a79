//! API tokens: only the SHA-256 of a key is stored; lookups go by that hash.

use chrono::{DateTime, Duration, Utc};
use entity::{agents, api_tokens};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{Page, Store, StoreError, StoreResult, unique_as};

pub struct NewToken {
    pub agent_id: Uuid,
    pub name: String,
    pub token_hash: String,
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `last_used_at` is written at most this often per token, so a busy key does not turn
/// every request into a write.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

impl Store {
    pub async fn create_token(&self, new: NewToken) -> StoreResult<api_tokens::Model> {
        api_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            agent_id: Set(new.agent_id),
            name: Set(new.name),
            token_hash: Set(new.token_hash),
            prefix: Set(new.prefix),
            created_at: Set(Utc::now()),
            expires_at: Set(new.expires_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(self.conn())
        .await
        .map_err(unique_as("token already exists"))
    }

    pub async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(api_tokens::Model, agents::Model)>> {
        let row = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(token_hash))
            .find_also_related(agents::Entity)
            .one(self.conn())
            .await?;
        Ok(row.and_then(|(t, a)| Some((t, a?))))
    }

    pub async fn token_by_id(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<(api_tokens::Model, agents::Model)>> {
        let row = api_tokens::Entity::find_by_id(id)
            .find_also_related(agents::Entity)
            .one(self.conn())
            .await?;
        Ok(row.and_then(|(t, a)| Some((t, a?))))
    }

    /// An agent's tokens, oldest first (ids are UUID v7, so id order is creation order).
    pub async fn list_tokens(
        &self,
        agent_id: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Page<api_tokens::Model>> {
        let mut q = api_tokens::Entity::find()
            .filter(api_tokens::Column::AgentId.eq(agent_id))
            .order_by_asc(api_tokens::Column::Id);
        if let Some(after) = after {
            q = q.filter(api_tokens::Column::Id.gt(after));
        }
        let rows = q.limit(limit + 1).all(self.conn()).await?;
        Ok(Page::from_rows(rows, limit, |t| t.id.to_string()))
    }

    /// Revokes a token; revoking a revoked token changes nothing. Returns true when this
    /// call revoked it.
    pub async fn revoke_token(&self, token: api_tokens::Model) -> StoreResult<bool> {
        if token.revoked_at.is_some() {
            return Ok(false);
        }
        let res = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Utc::now().into())
            .filter(api_tokens::Column::Id.eq(token.id))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(self.conn())
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Records a use of the token, at most once per `LAST_USED_RESOLUTION`.
    pub async fn touch_token(&self, token: &api_tokens::Model) -> StoreResult<()> {
        let now = Utc::now();
        if token
            .last_used_at
            .is_some_and(|t| now - t < LAST_USED_RESOLUTION)
        {
            return Ok(());
        }
        api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::LastUsedAt, now.into())
            .filter(api_tokens::Column::Id.eq(token.id))
            .exec(self.conn())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }
}
