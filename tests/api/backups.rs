//! The backup and restore drill of RUNBOOK.md ("Backup and restore"), with the real binary
//! as an OS process: `pg_dump --format=custom`, a dropped database, `pg_restore --no-owner
//! --no-acl`; row counts of every table match and the history reads back the same.

use std::collections::BTreeMap;
use std::process::Command;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

use crate::support::app::pg_admin_url;
use crate::support::processes::{Server, assert_succeeded, text};
use crate::support::*;

/// The tables RUNBOOK.md's backup section names: the schema's tables plus the migration log.
fn runbook_tables() -> impl Iterator<Item = &'static str> {
    SCHEMA_TABLES.into_iter().chain(["seaql_migrations"])
}

/// Rows per table of the public schema; every table RUNBOOK.md names must be there.
async fn row_counts(url: &str) -> BTreeMap<String, i64> {
    let db = Database::connect(url).await.expect("database reachable");
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "t").unwrap())
        .collect();
    let mut counts = BTreeMap::new();
    for table in tables {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT count(*)::bigint AS n FROM \"{table}\""),
            ))
            .await
            .unwrap()
            .unwrap();
        counts.insert(table, row.try_get::<i64>("", "n").unwrap());
    }
    db.close().await.ok();
    for table in runbook_tables() {
        assert!(
            counts.contains_key(table),
            "table {table} exists: {counts:?}"
        );
    }
    counts
}

/// Rows in all public tables, 0 when there are none (a freshly created database).
async fn row_counts_or_empty(url: &str) -> i64 {
    let db = Database::connect(url).await.expect("database reachable");
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*)::bigint AS n FROM information_schema.tables \
             WHERE table_schema = 'public'",
        ))
        .await
        .unwrap()
        .unwrap();
    db.close().await.ok();
    row.try_get::<i64>("", "n").unwrap()
}

/// Fills a database over REST: agents, tokens, a public and a private room with a member,
/// messages with metadata, client ids and non-ASCII text, and a DM. Returns the scout's key.
async fn fill(api: &Api, admin: &str) -> String {
    for agent in [
        json!({"name": "scout", "display_name": "Scout ü", "role": "agent"}),
        json!({"name": "watcher", "role": "observer"}),
    ] {
        let res = api.post("/api/v1/agents", admin, agent).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let token = api
        .create_token(
            admin,
            "scout",
            json!({"name": "laptop", "expires_in_days": 30}),
        )
        .await;
    let scout = token["key"].as_str().unwrap().to_owned();

    for (name, private) in [("lobby", false), ("ops", true)] {
        api.create_room_with(
            &scout,
            json!({"name": name, "topic": format!("the {name}"), "private": private}),
        )
        .await;
    }
    let res = api.put("/api/v1/rooms/ops/members/admin", &scout).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    for i in 0..25 {
        let body = json!({
            "body": format!("lobby message {i}: héllo 🌍 <b>raw</b>"),
            "client_id": format!("c{i}"),
            "metadata": if i % 3 == 0 { json!({"i": i, "tags": ["a", "b"]}) } else { Value::Null },
        });
        let res = api.post("/api/v1/rooms/lobby/messages", &scout, body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    api.post_message(&scout, "ops", "ops from scout").await;
    api.post_message(admin, "ops", "ops from admin").await;
    // A REST DM.
    api.post_message(&scout, "dm:admin:scout", "a direct message")
        .await;
    scout
}

/// The backup/restore drill of RUNBOOK.md ("Backup and restore"), on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_drill_keeps_every_row_and_the_history() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut server = Server::start_on(db.dir.path(), &db.url).await;
    let admin = server.read_banner_key().await;
    let scout = fill(&server.api, &admin).await;
    let rooms = ["lobby", "ops", "dm:admin:scout"];
    let mut before = BTreeMap::new();
    for room in rooms {
        before.insert(room, server.api.whole_history(&admin, room).await);
    }
    assert_eq!(before["lobby"].len(), 25);
    assert_eq!(before["ops"].len(), 2);
    assert_eq!(before["dm:admin:scout"].len(), 1);
    // Stop writers before the dump, as the runbook says (a dump of a live database is
    // consistent too, but this drill compares counts).
    drop(server);
    let counts = row_counts(&db.url).await;
    assert!(counts["messages"] >= 28, "{counts:?}");
    assert!(counts["room_members"] >= 1, "{counts:?}");
    assert!(counts["audit_events"] >= 1, "{counts:?}");

    // Back up: `pg_dump --format=custom`.
    let dump = db.dir.path().join("agenthub.dump");
    let out = Command::new("pg_dump")
        .arg("--format=custom")
        .arg(format!("--file={}", dump.display()))
        .arg(format!("--dbname={}", db.url))
        .output()
        .expect("pg_dump runs");
    assert_succeeded(&out, "pg_dump");
    let out = Command::new("pg_restore")
        .arg("--list")
        .arg(&dump)
        .output()
        .expect("pg_restore runs");
    assert_succeeded(&out, "pg_restore --list");
    let listing = text(&out.stdout);
    for table in runbook_tables() {
        assert!(
            listing.contains(&format!("TABLE DATA public {table} ")),
            "the dump holds {table}'s rows:\n{listing}"
        );
    }

    // Disaster: drop the database and create it empty again, as the runbook does.
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let out = Command::new("psql")
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg(format!("--dbname={}", pg_admin_url()))
        .arg("-c")
        .arg(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .arg("-c")
        .arg(format!("CREATE DATABASE \"{name}\""))
        .output()
        .expect("psql runs");
    assert_succeeded(&out, "psql drop/create");
    assert_eq!(
        row_counts_or_empty(&db.url).await,
        0,
        "the recreated database is empty"
    );

    // Restore: `pg_restore --no-owner --no-acl`, stopping at the first error.
    let out = Command::new("pg_restore")
        .args(["--no-owner", "--no-acl", "--exit-on-error"])
        .arg(format!("--dbname={}", db.url))
        .arg(&dump)
        .output()
        .expect("pg_restore runs");
    assert_succeeded(&out, "pg_restore");
    assert_eq!(
        row_counts(&db.url).await,
        counts,
        "row counts after restore"
    );

    // The server starts on the restored database: no second bootstrap, the same keys work,
    // the same messages with the same seqs, and new sends continue the sequences.
    let server = Server::start_on(db.dir.path(), &db.url).await;
    for room in rooms {
        let after = server.api.whole_history(&admin, room).await;
        assert_eq!(after, before[room], "history of {room} after restore");
    }
    let sent = server
        .api
        .post_message(&scout, "lobby", "after the restore")
        .await;
    assert_eq!(sent["seq"], 26, "seq continues after the restore");
    let last_id = before["dm:admin:scout"][0]["id"].as_i64().unwrap();
    assert!(
        sent["id"].as_i64().unwrap() > last_id,
        "the message id sequence was restored: {sent}"
    );
    // A repeated client_id is still recognised (the unique index came back).
    let again = json!({"body": "again", "client_id": "c3"});
    let res = post_to(&server.api, &scout, "lobby", again).await;
    assert_eq!(expect_json(res, StatusCode::OK).await["seq"], 4);
}
