//! Operations drills from RUNBOOK.md, with the real binary as an OS process:
//!
//! - backup and restore of PostgreSQL with `pg_dump --format=custom` / `pg_restore --no-owner
//!   --no-acl`: row counts of every table match and the history reads back the same;
//! - a PostgreSQL outage on a PostgreSQL instance the test owns (`initdb` in a temp dir, never
//!   the machine's shared server): `/readyz` 503, REST `unavailable`, the process stays up, and
//!   everything recovers by itself when the database returns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{Backend, JWT_SECRET, TestDb, pg_admin_url};

const BIN: &str = env!("CARGO_BIN_EXE_agenthub");

/// The tables RUNBOOK.md's backup section names: the schema's six plus the migration log.
const TABLES: [&str; 7] = [
    "agents",
    "api_tokens",
    "rooms",
    "room_members",
    "messages",
    "audit_events",
    "seaql_migrations",
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `agenthub serve` on `database_url`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server with a clean environment and waits for `/healthz`.
    async fn start(dir: &Path, database_url: &str) -> Server {
        let port = free_port();
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", database_url)
            .env("DATABASE_MAX_CONNECTIONS", "4")
            .env("JWT_SECRET", JWT_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("agenthub starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = server.http.get(server.url("/healthz")).send().await
                && res.status() == StatusCode::OK
            {
                return server;
            }
            assert!(Instant::now() < deadline, "server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The first-start banner's admin key (development mode prints it once).
    async fn banner_key(&mut self) -> String {
        let stdout = self.child.stdout.take().expect("stdout piped");
        crate::helpers::read_banner_key(stdout).await
    }

    async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `GET path` → (status, JSON body).
    async fn probe(&self, path: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The whole history of `room`, oldest first (pages of 100 with `after`).
    async fn history(&self, room: &str, key: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let res = self
                .get(
                    &format!("/api/v1/rooms/{room}/messages?after={after}&limit=100"),
                    key,
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK, "history of {room}");
            let page: Value = res.json().await.unwrap();
            let messages = page["messages"].as_array().unwrap().clone();
            if let Some(last) = messages.last() {
                after = last["seq"].as_i64().unwrap();
            }
            all.extend(messages);
            if page["has_more"] != true {
                return all;
            }
        }
    }

    fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().expect("wait").is_none(),
            "the server process exited"
        );
    }
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
    for table in TABLES {
        assert!(
            counts.contains_key(table),
            "table {table} exists: {counts:?}"
        );
    }
    counts
}

/// Fills a database over REST: agents, tokens, a public and a private room with a member,
/// messages with metadata, client ids and non-ASCII text, and a DM. Returns the scout's key.
async fn fill(server: &Server, admin: &str) -> String {
    let res = server
        .post(
            "/api/v1/agents",
            admin,
            json!({"name": "scout", "display_name": "Scout ü", "role": "agent"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = server
        .post(
            "/api/v1/agents",
            admin,
            json!({"name": "watcher", "role": "observer"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = server
        .post(
            "/api/v1/agents/scout/tokens",
            admin,
            json!({"name": "laptop", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let scout = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    for (name, private) in [("lobby", false), ("ops", true)] {
        let res = server
            .post(
                "/api/v1/rooms",
                &scout,
                json!({"name": name, "topic": format!("the {name}"), "private": private}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "room {name}");
    }
    let res = server
        .http
        .put(server.url("/api/v1/rooms/ops/members/admin"))
        .bearer_auth(&scout)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    for i in 0..25 {
        let body = json!({
            "body": format!("lobby message {i}: héllo 🌍 <b>raw</b>"),
            "client_id": format!("c{i}"),
            "metadata": if i % 3 == 0 { json!({"i": i, "tags": ["a", "b"]}) } else { Value::Null },
        });
        let res = server
            .post("/api/v1/rooms/lobby/messages", &scout, body)
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    for (key, body) in [
        (&scout, "ops from scout"),
        (&admin.to_owned(), "ops from admin"),
    ] {
        let res = server
            .post("/api/v1/rooms/ops/messages", key, json!({"body": body}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = server
        .post(
            "/api/v1/rooms/dm:admin:scout/messages",
            &scout,
            json!({"body": "a direct message"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "a REST DM");
    scout
}

/// The backup/restore drill of RUNBOOK.md ("Backup and restore"), on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_drill_keeps_every_row_and_the_history() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut server = Server::start(db.dir.path(), &db.url).await;
    let admin = server.banner_key().await;
    let scout = fill(&server, &admin).await;
    let rooms = ["lobby", "ops", "dm:admin:scout"];
    let mut before = BTreeMap::new();
    for room in rooms {
        before.insert(room, server.history(room, &admin).await);
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
    ok(&out, "pg_dump");
    let out = Command::new("pg_restore")
        .arg("--list")
        .arg(&dump)
        .output()
        .expect("pg_restore runs");
    ok(&out, "pg_restore --list");
    let listing = text(&out.stdout);
    for table in TABLES {
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
    ok(&out, "psql drop/create");
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
    ok(&out, "pg_restore");
    assert_eq!(
        row_counts(&db.url).await,
        counts,
        "row counts after restore"
    );

    // The server starts on the restored database: no second bootstrap, the same keys work,
    // the same messages with the same seqs, and new sends continue the sequences.
    let server = Server::start(db.dir.path(), &db.url).await;
    for room in rooms {
        let after = server.history(room, &admin).await;
        assert_eq!(after, before[room], "history of {room} after restore");
    }
    let res = server
        .post(
            "/api/v1/rooms/lobby/messages",
            &scout,
            json!({"body": "after the restore"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let sent: Value = res.json().await.unwrap();
    assert_eq!(sent["seq"], 26, "seq continues after the restore");
    let last_id = before["dm:admin:scout"][0]["id"].as_i64().unwrap();
    assert!(
        sent["id"].as_i64().unwrap() > last_id,
        "the message id sequence was restored: {sent}"
    );
    // A repeated client_id is still recognised (the unique index came back).
    let res = server
        .post(
            "/api/v1/rooms/lobby/messages",
            &scout,
            json!({"body": "again", "client_id": "c3"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["seq"], 4);
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

/// A PostgreSQL instance of the test's own: `initdb` in a temp dir, started with `pg_ctl` on a
/// free port with its socket in that dir. Stopped (immediately) and deleted when dropped.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl OwnPostgres {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the cluster's binaries, as the `postgres` user when the test runs as root
    /// (PostgreSQL refuses to run as root).
    fn cmd(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    pub fn new() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((version, bin))
            })
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin")
            .1;
        use std::os::unix::fs::MetadataExt;
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        let dir = tempfile::Builder::new()
            .prefix("ahpg")
            .tempdir()
            .expect("temp dir");
        if as_postgres {
            let out = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .output()
                .expect("chown runs");
            ok(&out, "chown postgres: <temp dir>");
        }
        let pg = OwnPostgres {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let out = pg
            .cmd("initdb")
            .arg("-D")
            .arg(pg.data())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("initdb runs");
        ok(&out, "initdb");
        pg
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .expect("pg_ctl runs");
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        ok(&out, &format!("pg_ctl start (log: {log})"));
    }

    pub fn stop_immediately(&self) -> Output {
        self.cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "immediate", "stop"])
            .output()
            .expect("pg_ctl runs")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        // Whatever happened: no server of ours outlives the test; the temp dir goes with it.
        if self.data().join("postmaster.pid").exists() {
            let _ = self.stop_immediately();
        }
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after `limit`.
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {limit:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A PostgreSQL outage (RUNBOOK.md, "Database down"): not ready, `unavailable`, alive, and
/// back by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_unavailable_and_recovers_by_itself() {
    let pg = OwnPostgres::new();
    pg.start();
    let work = tempfile::tempdir().unwrap();
    let mut server = Server::start(work.path(), &pg.url()).await;
    let admin = server.banner_key().await;
    let res = server
        .post("/api/v1/rooms", &admin, json!({"name": "lobby"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = server
        .post(
            "/api/v1/rooms/lobby/messages",
            &admin,
            json!({"body": "before"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (status, ready) = server.probe("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");

    // The database goes away hard (no clean disconnects).
    ok(&pg.stop_immediately(), "pg_ctl stop -m immediate");
    let gone = Instant::now();

    let ready = eventually(Duration::from_secs(15), "/readyz turns 503", || async {
        let (status, body) = server.probe("/readyz").await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            Ok(body)
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    eprintln!("/readyz was 503 {:?} after the stop", gone.elapsed());
    assert_eq!(ready["status"], "not_ready", "{ready}");
    assert_eq!(ready["checks"]["database"], "error", "{ready}");

    // Every REST call that needs the database answers 503 `unavailable`, never 500. The
    // first calls may meet pooled connections the shutdown killed: those count too.
    let mut answers = Vec::new();
    for (method, path, body) in [
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/rooms/lobby/messages", None),
        (
            "POST",
            "/api/v1/rooms/lobby/messages",
            Some(json!({"body": "during"})),
        ),
        ("GET", "/api/v1/rooms", None),
    ] {
        let res = match body {
            None => server.get(path, &admin).await,
            Some(body) => server.post(path, &admin, body).await,
        };
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        answers.push(format!("{method} {path}: {status} {body}"));
    }
    eprintln!("during the outage:\n{}", answers.join("\n"));
    for answer in &answers {
        assert!(
            answer.contains(": 503 ") && answer.contains(r#""code":"unavailable""#),
            "during the outage every REST call answers 503 unavailable:\n{}",
            answers.join("\n")
        );
    }
    let (status, _) = server.probe("/healthz").await;
    assert_eq!(status, StatusCode::OK, "liveness holds during the outage");
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.trim() == "db_up 0"),
        "db_up is 0 during the outage"
    );
    server.assert_running();

    // The database comes back: readiness and REST recover with no restart.
    pg.start();
    let back = Instant::now();
    eventually(Duration::from_secs(30), "/readyz turns 200", || async {
        let (status, body) = server.probe("/readyz").await;
        if status == StatusCode::OK && body["checks"]["database"] == "ok" {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    eprintln!(
        "/readyz was 200 again {:?} after the database",
        back.elapsed()
    );
    let sent: Value = eventually(Duration::from_secs(15), "REST works again", || async {
        let res = server
            .post(
                "/api/v1/rooms/lobby/messages",
                &admin,
                json!({"body": "after", "client_id": "after-1"}),
            )
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status == StatusCode::CREATED || status == StatusCode::OK {
            Ok(body)
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    assert_eq!(
        sent["seq"], 2,
        "nothing was half-stored during the outage: {sent}"
    );
    let history = server.history("lobby", &admin).await;
    let bodies: Vec<&str> = history
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["before", "after"]);
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.trim() == "db_up 1"),
        "db_up is 1 again"
    );
    server.assert_running();
    drop(server);
    drop(pg);
}
