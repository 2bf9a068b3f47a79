//! SPEC §11: a message may answer another of its room (`reply_to`, a seq) and may be the end
//! of a stream (`stream`, the stream's id). Thread pages read `(room_id, reply_to, seq)`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(big_integer_null(Messages::ReplyTo))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(string_len_null(Messages::Stream, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_room_reply_to")
                    .table(Messages::Table)
                    .col(Messages::RoomId)
                    .col(Messages::ReplyTo)
                    .col(Messages::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_messages_room_reply_to")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Messages::Stream, Messages::ReplyTo] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Messages::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    ReplyTo,
    Stream,
    RoomId,
    Seq,
}
