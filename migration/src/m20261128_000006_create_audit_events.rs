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
                    .table(AuditEvents::Table)
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(string_len(AuditEvents::Type, 32))
                    .col(uuid_null(AuditEvents::AgentId))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(json_binary(AuditEvents::Details))
                    .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_events_agent_id")
                            .from(AuditEvents::Table, AuditEvents::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_type_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Type)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_agent_id_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::AgentId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Type,
    AgentId,
    Ip,
    Details,
    CreatedAt,
}
