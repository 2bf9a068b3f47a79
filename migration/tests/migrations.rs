//! Runs the migrations up, down and up again on SQLite and PostgreSQL, then
//! round-trips one row per table through the entities.

use chrono::{SubsecRound, Utc};
use entity::{agents, api_tokens, audit_events, messages, room_members, rooms};
use migration::sea_orm::{
    ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    ModelTrait, Set, SqlErr,
};
use migration::{Migrator, MigratorTrait};
use serde_json::json;
use uuid::Uuid;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[tokio::test]
async fn sqlite_up_down_up() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    exercise(&db).await.unwrap();
}

#[tokio::test]
async fn postgres_up_down_up() {
    let admin_url = std::env::var("TEST_PG_URL").unwrap_or_else(|_| PG_ADMIN_URL.to_owned());
    let admin = Database::connect(&admin_url).await.unwrap();
    let name = format!("mig_{}", Uuid::now_v7().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();

    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let db = Database::connect(format!("{base}/{name}")).await.unwrap();
    let result = exercise(&db).await;
    db.close().await.unwrap();

    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    result.unwrap();
}

async fn exercise(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    Migrator::down(db, None).await?;
    Migrator::up(db, None).await?;
    assert!(Migrator::get_pending_migrations(db).await?.is_empty());

    let now = Utc::now().trunc_subsecs(6);

    let agent = agents::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("alice".into()),
        display_name: Set("Alice".into()),
        role: Set("admin".into()),
        created_at: Set(now),
        disabled_at: Set(None),
    }
    .insert(db)
    .await?;
    assert_eq!(
        agents::Entity::find_by_id(agent.id).one(db).await?,
        Some(agent.clone())
    );

    let token = api_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        agent_id: Set(agent.id),
        name: Set("ci".into()),
        token_hash: Set("ab".repeat(32)),
        prefix: Set("ah_12345678".into()),
        created_at: Set(now),
        expires_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let (t, a) = api_tokens::Entity::find_by_id(token.id)
        .find_also_related(agents::Entity)
        .one(db)
        .await?
        .unwrap();
    assert_eq!((t, a), (token.clone(), Some(agent.clone())));

    let room = rooms::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("general".into()),
        topic: Set(Some("chit-chat".into())),
        private: Set(false),
        created_by: Set(agent.id),
        created_at: Set(now),
        archived_at: Set(None),
        last_seq: Set(0),
    }
    .insert(db)
    .await?;
    assert_eq!(
        rooms::Entity::find_by_id(room.id).one(db).await?,
        Some(room.clone())
    );

    let member = room_members::ActiveModel {
        room_id: Set(room.id),
        agent_id: Set(agent.id),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    assert_eq!(
        member.find_related(agents::Entity).all(db).await?,
        vec![agent.clone()]
    );
    assert_eq!(
        room_members::Entity::find_by_id((room.id, agent.id))
            .one(db)
            .await?,
        Some(member)
    );

    let message = |seq: i64, client_id: Option<&str>| messages::ActiveModel {
        room_id: Set(room.id),
        seq: Set(seq),
        sender_id: Set(agent.id),
        body: Set(format!("hello #{seq}")),
        metadata: Set(Some(json!({ "mentions": ["bob"], "n": seq }))),
        client_id: Set(client_id.map(str::to_owned)),
        created_at: Set(now),
        ..Default::default()
    };
    let m1 = message(1, Some("c-1")).insert(db).await?;
    let m2 = message(2, None).insert(db).await?;
    let m3 = message(3, None).insert(db).await?; // NULL client_ids never collide
    assert!(
        m1.id > 0 && m2.id > m1.id && m3.id > m2.id,
        "{m1:?} {m2:?} {m3:?}"
    );
    assert_eq!(
        messages::Entity::find_by_id(m1.id).one(db).await?,
        Some(m1.clone())
    );
    assert_eq!(m1.metadata, Some(json!({ "n": 1, "mentions": ["bob"] })));

    let dup_seq = message(1, None).insert(db).await.unwrap_err();
    assert_unique_violation(
        &dup_seq,
        "ux_messages_room_seq",
        "messages.room_id, messages.seq",
    );
    let dup_client = message(4, Some("c-1")).insert(db).await.unwrap_err();
    assert_unique_violation(
        &dup_client,
        "ux_messages_sender_client_id",
        "messages.sender_id, messages.client_id",
    );

    let mut bad_sender = message(5, None);
    bad_sender.sender_id = Set(Uuid::now_v7());
    let err = bad_sender.insert(db).await.unwrap_err();
    assert!(
        matches!(
            err.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ),
        "{err:?}"
    );

    let event = |kind: &str| audit_events::ActiveModel {
        r#type: Set(kind.into()),
        agent_id: Set(Some(agent.id)),
        ip: Set(Some("127.0.0.1".into())),
        details: Set(json!({ "token_id": token.id })),
        created_at: Set(now),
        ..Default::default()
    };
    let e1 = event("token.created").insert(db).await?;
    let e2 = event("login").insert(db).await?;
    assert!(e1.id > 0 && e2.id > e1.id, "{e1:?} {e2:?}");
    assert_eq!(
        audit_events::Entity::find_by_id(e2.id).one(db).await?,
        Some(e2)
    );

    Ok(())
}

fn assert_unique_violation(err: &DbErr, index: &str, columns: &str) {
    match err.sql_err() {
        // PostgreSQL names the index, SQLite the columns.
        Some(SqlErr::UniqueConstraintViolation(msg)) => {
            assert!(
                msg.contains(index) || msg.contains(columns),
                "{index}: {msg}"
            )
        }
        other => panic!("expected unique violation on {index}, got {other:?} from {err:?}"),
    }
}
