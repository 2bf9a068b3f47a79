use sea_orm::entity::prelude::*;

/// One skill id (`kind` = `skill`) or method (`method`) of a card: what the discovery
/// filters of `GET /agents` look up.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_card_keys")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(8))"
    )]
    pub kind: String,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub value: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub agent_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::agent_cards::Entity",
        from = "Column::AgentId",
        to = "super::agent_cards::Column::AgentId",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    AgentCards,
}

impl Related<super::agent_cards::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AgentCards.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
