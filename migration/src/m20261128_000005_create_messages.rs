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
                    .table(Messages::Table)
                    .col(big_pk_auto(Messages::Id))
                    .col(uuid(Messages::RoomId))
                    .col(big_integer(Messages::Seq))
                    .col(uuid(Messages::SenderId))
                    .col(text(Messages::Body))
                    .col(json_binary_null(Messages::Metadata))
                    .col(string_len_null(Messages::ClientId, 64))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_room_id")
                            .from(Messages::Table, Messages::RoomId)
                            .to(Rooms::Table, Rooms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_sender_id")
                            .from(Messages::Table, Messages::SenderId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_messages_room_seq")
                    .table(Messages::Table)
                    .col(Messages::RoomId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // NULL client_ids are distinct on both backends, so only keyed sends are deduplicated.
        manager
            .create_index(
                Index::create()
                    .name("ux_messages_sender_client_id")
                    .table(Messages::Table)
                    .col(Messages::SenderId)
                    .col(Messages::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    RoomId,
    Seq,
    SenderId,
    Body,
    Metadata,
    ClientId,
    CreatedAt,
}
