use sea_orm_migration::{prelude::*, schema::*};

use super::m20261128_000001_create_agents::Agents;
use super::m20261128_000003_create_rooms::Rooms;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RoomMembers::Table)
                    .col(uuid(RoomMembers::RoomId))
                    .col(uuid(RoomMembers::AgentId))
                    .col(timestamp_with_time_zone(RoomMembers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(RoomMembers::RoomId)
                            .col(RoomMembers::AgentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_room_members_room_id")
                            .from(RoomMembers::Table, RoomMembers::RoomId)
                            .to(Rooms::Table, Rooms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_room_members_agent_id")
                            .from(RoomMembers::Table, RoomMembers::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_room_members_agent_id")
                    .table(RoomMembers::Table)
                    .col(RoomMembers::AgentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RoomMembers::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RoomMembers {
    Table,
    RoomId,
    AgentId,
    CreatedAt,
}
