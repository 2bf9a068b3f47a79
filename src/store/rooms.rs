//! Rooms and private-room membership.

use chrono::Utc;
use entity::{agents, room_members, rooms};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use uuid::Uuid;

use super::{Page, Store, StoreError, StoreResult, unique_as};
use crate::model::{Room, RoomName, RoomPatch};

/// Who is looking: decides which private rooms exist for them.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub agent_id: Uuid,
    pub is_admin: bool,
}

pub struct NewRoom {
    pub name: RoomName,
    pub topic: Option<String>,
    pub private: bool,
    pub created_by: Uuid,
    /// The creator's name, for the returned [`Room`].
    pub creator: String,
}

fn with_creator(row: (rooms::Model, Option<agents::Model>)) -> Room {
    let creator = row.1.map(|a| a.name).unwrap_or_default();
    Room::from_row(row.0, creator)
}

/// `LIKE` pattern of direct-message room names.
fn dm_pattern() -> String {
    format!("{}%", RoomName::DM_PREFIX)
}

impl Store {
    /// Creates a room; its creator becomes a member, so private rooms stay readable by it.
    /// For `dm:` rooms `members` are the two agents.
    pub async fn create_room(&self, new: NewRoom, members: &[Uuid]) -> StoreResult<Room> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let room = rooms::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(new.name.as_str().to_owned()),
            topic: Set(new.topic),
            private: Set(new.private),
            created_by: Set(new.created_by),
            created_at: Set(now),
            archived_at: Set(None),
            last_seq: Set(0),
        }
        .insert(&txn)
        .await
        .map_err(unique_as("room already exists"))?;
        let mut ids = vec![new.created_by];
        ids.extend_from_slice(members);
        ids.sort();
        ids.dedup();
        room_members::Entity::insert_many(ids.into_iter().map(|agent_id| {
            room_members::ActiveModel {
                room_id: Set(room.id),
                agent_id: Set(agent_id),
                created_at: Set(now),
            }
        }))
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(Room::from_row(room, new.creator))
    }

    pub async fn count_rooms(&self) -> StoreResult<u64> {
        Ok(sea_orm::PaginatorTrait::count(rooms::Entity::find(), self.conn()).await?)
    }

    pub async fn room_by_name(&self, name: &str) -> StoreResult<Option<Room>> {
        let row = rooms::Entity::find()
            .filter(rooms::Column::Name.eq(name))
            .find_also_related(agents::Entity)
            .one(self.conn())
            .await?;
        Ok(row.map(with_creator))
    }

    /// Rooms the viewer may see, by name: public rooms, rooms it is a member of, and for
    /// admins every private room except other agents' DMs.
    pub async fn list_rooms(
        &self,
        viewer: Viewer,
        include_archived: bool,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Page<Room>> {
        let member_of = Query::select()
            .column(room_members::Column::RoomId)
            .from(room_members::Entity)
            .and_where(Expr::col(room_members::Column::AgentId).eq(viewer.agent_id))
            .to_owned();
        let mut visible = Condition::any()
            .add(rooms::Column::Private.eq(false))
            .add(rooms::Column::Id.in_subquery(member_of));
        if viewer.is_admin {
            visible = visible.add(rooms::Column::Name.not_like(dm_pattern()));
        }
        let mut q = rooms::Entity::find()
            .filter(visible)
            .order_by_asc(rooms::Column::Name);
        if !include_archived {
            q = q.filter(rooms::Column::ArchivedAt.is_null());
        }
        if let Some(after) = after {
            q = q.filter(rooms::Column::Name.gt(after));
        }
        let rows = q
            .find_also_related(agents::Entity)
            .limit(limit + 1)
            .all(self.conn())
            .await?;
        let rows = rows.into_iter().map(with_creator).collect();
        Ok(Page::from_rows(rows, limit, |r: &Room| r.name.to_string()))
    }

    /// Applies `patch`; an unchanged room is not written.
    pub async fn update_room(&self, room: Room, patch: RoomPatch) -> StoreResult<Room> {
        let mut model = rooms::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(room.id),
            ..Default::default()
        };
        if let Some(topic) = patch.topic {
            model.topic = Set(topic);
        }
        match (patch.archived, room.archived_at) {
            (Some(true), None) => model.archived_at = Set(Some(Utc::now())),
            (Some(false), Some(_)) => model.archived_at = Set(None),
            _ => {}
        }
        if !model.is_changed() {
            return Ok(room);
        }
        let row = model.update(self.conn()).await.map_err(|e| match e {
            sea_orm::DbErr::RecordNotUpdated => StoreError::NotFound("room"),
            e => e.into(),
        })?;
        Ok(Room::from_row(row, room.creator))
    }

    /// The plain (not `dm:`) rooms `agent_id` created since `since`: how many, and when the
    /// oldest of them was created.
    pub async fn rooms_created_since(
        &self,
        agent_id: Uuid,
        since: chrono::DateTime<Utc>,
    ) -> StoreResult<(u64, Option<chrono::DateTime<Utc>>)> {
        let recent = rooms::Entity::find()
            .filter(rooms::Column::CreatedBy.eq(agent_id))
            .filter(rooms::Column::CreatedAt.gt(since))
            .filter(rooms::Column::Name.not_like(dm_pattern()));
        let count = sea_orm::PaginatorTrait::count(recent.clone(), self.conn()).await?;
        let oldest = recent
            .order_by_asc(rooms::Column::CreatedAt)
            .one(self.conn())
            .await?
            .map(|r| r.created_at);
        Ok((count, oldest))
    }

    pub async fn is_member(&self, room_id: Uuid, agent_id: Uuid) -> StoreResult<bool> {
        Ok(room_members::Entity::find_by_id((room_id, agent_id))
            .one(self.conn())
            .await?
            .is_some())
    }

    /// Adds a member; adding one twice is not an error.
    pub async fn add_member(&self, room_id: Uuid, agent_id: Uuid) -> StoreResult<()> {
        let res = room_members::Entity::insert(room_members::ActiveModel {
            room_id: Set(room_id),
            agent_id: Set(agent_id),
            created_at: Set(Utc::now()),
        })
        .on_conflict_do_nothing()
        .exec(self.conn())
        .await;
        match res {
            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a member; removing a non-member is not an error.
    pub async fn remove_member(&self, room_id: Uuid, agent_id: Uuid) -> StoreResult<()> {
        room_members::Entity::delete_by_id((room_id, agent_id))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}
