use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .col(pk_uuid(Agents::Id))
                    .col(string_len_uniq(Agents::Name, 64))
                    .col(string_len(Agents::DisplayName, 128))
                    .col(string_len(Agents::Role, 16))
                    .col(timestamp_with_time_zone(Agents::CreatedAt))
                    .col(timestamp_with_time_zone_null(Agents::DisabledAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Agents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Agents {
    Table,
    Id,
    Name,
    DisplayName,
    Role,
    CreatedAt,
    DisabledAt,
}
