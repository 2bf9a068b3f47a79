//! Read cursors (SPEC §11): how far each agent has read each room; they only move forward.

use chrono::Utc;
use entity::{agents, read_cursors, room_members, rooms};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::{Store, StoreResult};

impl Store {
    /// Moves the agent's cursor in the room to `seq` unless it is already there or further;
    /// answers the cursor as stored, and whether it moved.
    pub async fn advance_cursor(
        &self,
        agent_id: Uuid,
        room_id: Uuid,
        seq: i64,
    ) -> StoreResult<(read_cursors::Model, bool)> {
        let row = read_cursors::ActiveModel {
            agent_id: Set(agent_id),
            room_id: Set(room_id),
            seq: Set(seq),
            updated_at: Set(Utc::now()),
        };
        // One statement on both backends: the update only moves a cursor forward.
        let forward = Expr::col((read_cursors::Entity, read_cursors::Column::Seq)).lt(Expr::col((
            Alias::new("excluded"),
            read_cursors::Column::Seq,
        )));
        let on_conflict =
            OnConflict::columns([read_cursors::Column::AgentId, read_cursors::Column::RoomId])
                .update_columns([read_cursors::Column::Seq, read_cursors::Column::UpdatedAt])
                .action_and_where(forward)
                .to_owned();
        let written = read_cursors::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec_without_returning(self.conn())
            .await?;
        let stored = self
            .cursor(agent_id, room_id)
            .await?
            .ok_or(super::StoreError::NotFound("cursor"))?;
        Ok((stored, written > 0))
    }

    pub async fn cursor(
        &self,
        agent_id: Uuid,
        room_id: Uuid,
    ) -> StoreResult<Option<read_cursors::Model>> {
        Ok(read_cursors::Entity::find_by_id((agent_id, room_id))
            .one(self.conn())
            .await?)
    }

    /// A room's cursors with their agents, by agent name.
    pub async fn room_cursors(
        &self,
        room_id: Uuid,
    ) -> StoreResult<Vec<(read_cursors::Model, agents::Model)>> {
        let rows = read_cursors::Entity::find()
            .filter(read_cursors::Column::RoomId.eq(room_id))
            .find_also_related(agents::Entity)
            .order_by_asc(agents::Column::Name)
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(c, a)| Some((c, a?)))
            .collect())
    }

    /// Rooms the agent is a member of or has a cursor in, with its cursor, by room name.
    /// A cursor in a private room the agent is no longer a member of is left out unless
    /// `reads_private` (admins), so a removal hides the room again.
    pub async fn cursor_rooms(
        &self,
        agent_id: Uuid,
        reads_private: bool,
    ) -> StoreResult<Vec<(rooms::Model, Option<i64>)>> {
        let member_of = Query::select()
            .column(room_members::Column::RoomId)
            .from(room_members::Entity)
            .and_where(Expr::col(room_members::Column::AgentId).eq(agent_id))
            .to_owned();
        let cursors = read_cursors::Entity::find()
            .filter(read_cursors::Column::AgentId.eq(agent_id))
            .all(self.conn())
            .await?;
        let mut readable_cursor =
            Condition::all().add(rooms::Column::Id.is_in(cursors.iter().map(|c| c.room_id)));
        if !reads_private {
            readable_cursor = readable_cursor.add(rooms::Column::Private.eq(false));
        }
        let rows = rooms::Entity::find()
            .filter(
                Condition::any()
                    .add(rooms::Column::Id.in_subquery(member_of))
                    .add(readable_cursor),
            )
            .order_by_asc(rooms::Column::Name)
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|room| {
                let seq = cursors.iter().find(|c| c.room_id == room.id).map(|c| c.seq);
                (room, seq)
            })
            .collect())
    }
}
