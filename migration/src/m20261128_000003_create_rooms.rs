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
                    .table(Rooms::Table)
                    .col(pk_uuid(Rooms::Id))
                    .col(string_len_uniq(Rooms::Name, 140))
                    .col(text_null(Rooms::Topic))
                    .col(boolean(Rooms::Private).default(false))
                    .col(uuid(Rooms::CreatedBy))
                    .col(timestamp_with_time_zone(Rooms::CreatedAt))
                    .col(timestamp_with_time_zone_null(Rooms::ArchivedAt))
                    .col(big_integer(Rooms::LastSeq).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_rooms_created_by")
                            .from(Rooms::Table, Rooms::CreatedBy)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Rooms::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Rooms {
    Table,
    Id,
    Name,
    Topic,
    Private,
    CreatedBy,
    CreatedAt,
    ArchivedAt,
    LastSeq,
}
