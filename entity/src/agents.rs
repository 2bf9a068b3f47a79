use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub display_name: String,
    /// `admin`, `agent` or `observer`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub role: String,
    pub created_at: DateTimeUtc,
    pub disabled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::api_tokens::Entity")]
    ApiTokens,
    #[sea_orm(has_many = "super::audit_events::Entity")]
    AuditEvents,
    #[sea_orm(has_many = "super::messages::Entity")]
    Messages,
    #[sea_orm(has_many = "super::room_members::Entity")]
    RoomMembers,
    #[sea_orm(has_many = "super::rooms::Entity")]
    Rooms,
}

impl Related<super::api_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiTokens.def()
    }
}

impl Related<super::audit_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AuditEvents.def()
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

/// Rooms created by this agent (`rooms.created_by`).
impl Related<super::rooms::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Rooms.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
