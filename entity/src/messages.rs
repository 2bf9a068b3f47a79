use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub room_id: Uuid,
    /// Per-room sequence number; unique with `room_id` (`ux_messages_room_seq`).
    pub seq: i64,
    pub sender_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    /// Client-supplied idempotency key; unique with `sender_id` (`ux_messages_sender_client_id`).
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub client_id: Option<String>,
    pub created_at: DateTimeUtc,
    /// The seq of the message of the same room this one answers (SPEC §11 threads).
    pub reply_to: Option<i64>,
    /// The id of the stream this message finished (SPEC §11 streams).
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub stream: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::agents::Entity",
        from = "Column::SenderId",
        to = "super::agents::Column::Id",
        on_update = "NoAction",
        on_delete = "Restrict"
    )]
    Agents,
    #[sea_orm(
        belongs_to = "super::rooms::Entity",
        from = "Column::RoomId",
        to = "super::rooms::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Rooms,
}

/// The sender of the message (`messages.sender_id`).
impl Related<super::agents::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Agents.def()
    }
}

impl Related<super::rooms::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Rooms.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
