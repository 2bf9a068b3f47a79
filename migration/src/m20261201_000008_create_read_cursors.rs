//! SPEC §11: how far each agent has read each room.

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
                    .table(ReadCursors::Table)
                    .col(uuid(ReadCursors::AgentId))
                    .col(uuid(ReadCursors::RoomId))
                    .col(big_integer(ReadCursors::Seq))
                    .col(timestamp_with_time_zone(ReadCursors::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ReadCursors::AgentId)
                            .col(ReadCursors::RoomId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_read_cursors_agent_id")
                            .from(ReadCursors::Table, ReadCursors::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_read_cursors_room_id")
                            .from(ReadCursors::Table, ReadCursors::RoomId)
                            .to(Rooms::Table, Rooms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // `GET /rooms/{name}/cursors` reads one room's cursors.
        manager
            .create_index(
                Index::create()
                    .name("ix_read_cursors_room_id")
                    .table(ReadCursors::Table)
                    .col(ReadCursors::RoomId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReadCursors::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReadCursors {
    Table,
    AgentId,
    RoomId,
    Seq,
    UpdatedAt,
}
