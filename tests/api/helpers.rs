//! Test helpers: spawn the real server in-process on port 0 with its own database
//! (a fresh PostgreSQL database, or a SQLite file in a temp dir), and talk to it over HTTP.

use std::net::SocketAddr;

use agenthub::app::App;
use agenthub::cli::Cli;
use agenthub::config::{Secrets, Settings};
use clap::Parser;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::sync::oneshot;

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

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    /// The bootstrap admin's API key.
    pub admin_key: String,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a server whose settings `configure` may change first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut settings = test_settings(&db);
    configure(&mut settings);
    spawn_on(db, settings).await
}

pub async fn spawn_on(db: TestDb, settings: Settings) -> TestApp {
    let app = App::build(settings).await.expect("app builds");
    let admin_key = app
        .bootstrap_key
        .clone()
        .expect("a fresh database bootstraps an admin");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until(async move {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        admin_key,
        db,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request to `path` (e.g. `/api/v1/me`), with `Authorization: Bearer <token>` if given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put(&self, path: &str, token: &str) -> Response {
        self.request(Method::PUT, path, Some(token))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .expect("request sent")
    }

    /// Creates an agent with `role` as the admin and returns its API key.
    pub async fn create_agent(&self, name: &str, role: &str) -> String {
        let res = self
            .post(
                "/api/v1/agents",
                &self.admin_key,
                json!({"name": name, "role": role}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating agent {name}");
        let res = self
            .post(
                &format!("/api/v1/agents/{name}/tokens"),
                &self.admin_key,
                json!({}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "creating a token for {name}"
        );
        res.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Exchanges an API key for a JWT.
    pub async fn jwt(&self, key: &str) -> String {
        let res = self
            .request(Method::POST, "/api/v1/auth/token", Some(key))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
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
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// The API key in the first-start banner a server process prints on stdout; `None` when the
/// stream ends without one.
pub fn banner_key(stdout: impl std::io::Read) -> Option<String> {
    use std::io::BufRead;
    std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_whitespace()
                .find(|w| w.starts_with("ahk_"))
                .map(str::to_owned)
        })
}

/// `banner_key` off the async workers, for a server that must print one.
pub async fn read_banner_key(stdout: std::process::ChildStdout) -> String {
    tokio::task::spawn_blocking(move || banner_key(stdout))
        .await
        .unwrap()
        .expect("the first start prints the admin key")
}

/// Asserts the status and the documented error body, returning the error code.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) {
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = res.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
}

/// Runs each named `async fn(TestApp)` against PostgreSQL and against SQLite.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await;
                    super::$name(app).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await;
                    super::$name(app).await;
                }
            )*
        }
    };
}
