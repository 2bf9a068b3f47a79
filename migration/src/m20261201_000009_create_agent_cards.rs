//! SPEC §12: agent cards — what an agent can do — and the index the discovery filters of
//! `GET /agents?skill=&method=` read (one row per skill id and per method of a card).

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261128_000001_create_agents::Agents;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgentCards::Table)
                    .col(uuid(AgentCards::AgentId).primary_key())
                    .col(text_null(AgentCards::Description))
                    .col(string_len_null(AgentCards::Version, 64))
                    .col(json_binary(AgentCards::Skills))
                    .col(json_binary(AgentCards::Methods))
                    .col(timestamp_with_time_zone(AgentCards::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_agent_cards_agent_id")
                            .from(AgentCards::Table, AgentCards::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AgentCardKeys::Table)
                    .col(string_len(AgentCardKeys::Kind, 8))
                    .col(string_len(AgentCardKeys::Value, 64))
                    .col(uuid(AgentCardKeys::AgentId))
                    .primary_key(
                        Index::create()
                            .col(AgentCardKeys::Kind)
                            .col(AgentCardKeys::Value)
                            .col(AgentCardKeys::AgentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_agent_card_keys_agent_id")
                            .from(AgentCardKeys::Table, AgentCardKeys::AgentId)
                            .to(AgentCards::Table, AgentCards::AgentId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_agent_card_keys_agent_id")
                    .table(AgentCardKeys::Table)
                    .col(AgentCardKeys::AgentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgentCardKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AgentCards::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AgentCards {
    Table,
    AgentId,
    Description,
    Version,
    Skills,
    Methods,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgentCardKeys {
    Table,
    Kind,
    Value,
    AgentId,
}
