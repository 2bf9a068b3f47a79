use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rooms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(140))", unique)]
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub topic: Option<String>,
    #[sea_orm(default_value = false)]
    pub private: bool,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
    /// Highest `messages.seq` allocated in this room.
    #[sea_orm(default_value = 0)]
    pub last_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::agents::Entity",
        from = "Column::CreatedBy",
        to = "super::agents::Column::Id",
        on_update = "NoAction",
        on_delete = "Restrict"
    )]
    Agents,
    #[sea_orm(has_many = "super::messages::Entity")]
    Messages,
    #[sea_orm(has_many = "super::room_members::Entity")]
    RoomMembers,
}

/// The creator of the room (`rooms.created_by`).
impl Related<super::agents::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Agents.def()
    }
}

impl Related<super::messages::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Messages.def()
    }
}

impl Related<super::room_members::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RoomMembers.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
