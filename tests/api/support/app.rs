//! The real server in-process on port 0 with a database of its own (a fresh PostgreSQL
//! database, or a SQLite file in a temp dir), and the macros that run a test on both backends.

use std::net::SocketAddr;
use std::ops::Deref;

use agenthub::app::App;
use agenthub::cli::Cli;
use agenthub::config::{Secrets, Settings};
use clap::Parser;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use tokio::sync::oneshot;

use super::api::Api;

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The PostgreSQL server tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database of its own for one test; dropped (PostgreSQL) or deleted (SQLite) at the end.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display()),
                pg_name: None,
                dir,
            },
            Backend::Postgres => {
                let name = format!("ahtest_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(pg_admin_url())
                    .await
                    .expect("PostgreSQL reachable");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = pg_admin_url();
                let server = &base[..base.rfind('/').expect("url has a database")];
                TestDb {
                    url: format!("{server}/{name}"),
                    pg_name: Some(name),
                    dir,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async: use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = Database::connect(pg_admin_url()).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// Settings as the binary would parse them with no flags, pointed at `db`.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Cli::try_parse_from(["agenthub"])
        .expect("defaults parse")
        .settings;
    settings.host = "127.0.0.1".parse().unwrap();
    settings.port = 0;
    settings.database_url = Some(db.url.clone());
    settings.database_max_connections = 5;
    settings.data_dir = db.dir.path().to_path_buf();
    settings.bootstrap = true;
    settings.environment = "test".into();
    // Tests hammer one server from one address; the rate-limit tests set real limits.
    settings.rate_limit_rest_anon_per_min = 1_000_000;
    settings.rate_limit_rest_auth_per_min = 1_000_000;
    settings.rate_limit_auth_failures_per_min = 1_000_000;
    settings.room_creates_per_hour = 1_000_000;
    settings.secrets = Secrets {
        jwt_secret: Some(JWT_SECRET.into()),
        jwt_secret_old: None,
        metrics_token: None,
    };
    settings
}

/// A server running in the test's runtime, stopped with `stop` (or with the runtime).
pub struct Running {
    pub addr: SocketAddr,
    /// The bootstrap admin's API key, on a fresh database.
    pub bootstrap_key: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Builds and starts a server with `settings`.
    pub async fn start(settings: Settings) -> Running {
        let app = App::build(settings).await.expect("app builds");
        let bootstrap_key = app.bootstrap_key.clone();
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async move {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Running {
            addr,
            bootstrap_key,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// The in-process server of one test, its database, and its REST API (`app.get(…)`,
/// `app.http`, `app.base` come from [`Api`]).
pub struct TestApp {
    pub addr: SocketAddr,
    pub api: Api,
    /// The bootstrap admin's API key.
    pub admin_key: String,
    pub db: TestDb,
    server: Running,
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a server whose settings `configure` may change first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db);
    configure(&mut settings);
    let server = Running::start(settings).await;
    let admin_key = server
        .bootstrap_key
        .clone()
        .expect("a fresh database bootstraps an admin");
    TestApp {
        addr: server.addr,
        api: Api::new(format!("http://{}", server.addr)),
        admin_key,
        db,
        server,
    }
}

impl TestApp {
    /// Creates an agent with `role` as the admin and returns its API key.
    pub async fn create_agent(&self, name: &str, role: &str) -> String {
        self.api.create_agent(&self.admin_key, name, role).await.0
    }

    /// Creates agents named `names` (role `agent`) in order, as the admin: their API keys.
    pub async fn create_agents<const N: usize>(&self, names: [&str; N]) -> [String; N] {
        let mut keys = Vec::with_capacity(N);
        for name in names {
            keys.push(self.create_agent(name, "agent").await);
        }
        keys.try_into().unwrap()
    }

    /// Creates an agent with `role` as the admin: its API key and that token's id.
    pub async fn create_agent_with_token(&self, name: &str, role: &str) -> (String, String) {
        self.api.create_agent(&self.admin_key, name, role).await
    }

    /// Rows of an audit event type, read over the API as the admin.
    pub async fn audit_events(&self, kind: &str) -> Vec<Value> {
        let res = self
            .get(
                &format!("/api/v1/audit?type={kind}&limit=100"),
                &self.admin_key,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["events"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Runs each named `async fn(TestApp)` against PostgreSQL and against SQLite.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::on_backend!(postgres, Postgres, |_| {}, 1, $($name),*);
        $crate::on_backend!(sqlite, Sqlite, |_| {}, 1, $($name),*);
    };
}

/// Runs each named `async fn(TestApp)` on both backends against a server whose settings
/// `$configure` changed, in a module of its own.
#[macro_export]
macro_rules! on_both_backends_with {
    ($module:ident, $configure:expr, [$($name:ident),* $(,)?]) => {
        mod $module {
            $crate::on_backend!(postgres, Postgres, $configure, 2, $($name),*);
            $crate::on_backend!(sqlite, Sqlite, $configure, 2, $($name),*);
        }
    };
}

/// One backend's module of tests for the two macros above: `$module::$name` spawns a server
/// on `Backend::$backend` with `$configure` and runs the test body `$name`, which is `$depth`
/// modules up.
#[doc(hidden)]
#[macro_export]
macro_rules! on_backend {
    (@run 1, $name:ident, $app:ident) => {
        super::$name($app).await
    };
    (@run 2, $name:ident, $app:ident) => {
        super::super::$name($app).await
    };
    ($module:ident, $backend:ident, $configure:expr, $depth:tt, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::support::app::spawn_app_with(
                        $crate::support::app::Backend::$backend,
                        $configure,
                    )
                    .await;
                    $crate::on_backend!(@run $depth, $name, app);
                }
            )*
        }
    };
}

/// Two tests, `$postgres` and `$sqlite`, each running `$body(backend)` (an
/// `async fn(Backend)` that spawns what it needs) on its backend with `$threads` workers.
#[macro_export]
macro_rules! for_each_backend {
    ($body:ident, $threads:tt, $postgres:ident, $sqlite:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
        async fn $postgres() {
            $body($crate::support::app::Backend::Postgres).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
        async fn $sqlite() {
            $body($crate::support::app::Backend::Sqlite).await;
        }
    };
}
