//! The `agenthub` binary as OS processes: clean commands, free ports, the first-start banner,
//! servers killed when dropped, and restartable nodes (alone or as a pair over Redis).

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::api::Api;
use super::app::{JWT_SECRET, TestDb};
use super::services::{remove_redis_keys, shared_redis_url};

pub const BIN: &str = env!("CARGO_BIN_EXE_agenthub");

/// `agenthub` with a clean environment in `dir`: only what the test sets.
pub fn agenthub(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear().env("RUST_LOG", "warn");
    cmd
}

/// `agenthub serve` on 127.0.0.1:`port` in `dir`, with a clean environment.
pub fn serve(dir: &Path, port: u16) -> Command {
    let mut cmd = agenthub(dir);
    cmd.arg("serve")
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string());
    cmd
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn run(mut cmd: Command) -> Output {
    cmd.output().expect("agenthub runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn stdout(out: &Output) -> String {
    text(&out.stdout)
}

/// Asserts that a command succeeded, showing both streams when not.
#[track_caller]
pub fn assert_succeeded(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Sends SIGTERM to `child`; whether `kill` succeeded.
pub fn sigterm(child: &Child) -> bool {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success())
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

/// A child process, killed (and reaped) when dropped.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// An `agenthub serve` process on a free port, killed when dropped; its REST API is `api`.
pub struct Server {
    pub child: KillOnDrop,
    pub port: u16,
    pub api: Api,
}

impl Server {
    /// Starts `cmd` (an [`agenthub`] command) as `agenthub serve` with stdout piped, and waits
    /// until it answers `/healthz`.
    pub async fn start(mut cmd: Command) -> Server {
        let port = free_port();
        let child = cmd
            .arg("serve")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("agenthub starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let server = Server {
            child: KillOnDrop(child),
            port,
            api: Api::with_client(format!("http://127.0.0.1:{port}"), http),
        };
        let up = Duration::from_secs(30);
        server
            .api
            .wait_for_ok("/healthz", up, "server did not come up")
            .await;
        server
    }

    /// `agenthub serve` on `database_url` with a pool of 4, as the operations drills run it.
    pub async fn start_on(dir: &Path, database_url: &str) -> Server {
        let mut cmd = agenthub(dir);
        cmd.env("DATABASE_URL", database_url)
            .env("DATABASE_MAX_CONNECTIONS", "4")
            .env("JWT_SECRET", JWT_SECRET);
        Server::start(cmd).await
    }

    /// The first line of stdout that holds an API key (the bootstrap banner), read to the end
    /// of the stream: call it once the process is gone.
    pub fn banner_key(&mut self) -> Option<String> {
        banner_key(self.child.stdout.take()?)
    }

    /// The first-start banner's admin key, read as the process prints it.
    pub async fn read_banner_key(&mut self) -> String {
        let stdout = self.child.stdout.take().expect("stdout piped");
        read_banner_key(stdout).await
    }

    pub fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().expect("wait").is_none(),
            "the server process exited"
        );
    }
}

/// One `agenthub serve` process on a fixed port that can be stopped and started again;
/// killed when dropped.
pub struct HubProcess {
    pub port: u16,
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
    child: Option<KillOnDrop>,
}

impl HubProcess {
    /// Starts the first node on an empty `database_url` (plus `env`); returns it and the
    /// bootstrap admin's key from its banner.
    pub async fn start(dir: &Path, database_url: &str, env: &[(&str, &str)]) -> (Self, String) {
        let (hub, key) = Self::launch(dir, database_url, env, true).await;
        (hub, key.expect("a fresh database prints the admin key"))
    }

    /// Starts another node on a database that is already set up (it prints no banner).
    pub async fn join(dir: &Path, database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(dir, database_url, env, false).await.0
    }

    async fn launch(
        dir: &Path,
        database_url: &str,
        env: &[(&str, &str)],
        read_banner: bool,
    ) -> (Self, Option<String>) {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        env.push(("DATABASE_URL".into(), database_url.into()));
        let mut hub = HubProcess {
            port: free_port(),
            env,
            dir: dir.to_path_buf(),
            child: None,
        };
        let key = hub.spawn(read_banner).await;
        (hub, key)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn api(&self) -> Api {
        Api::new(self.base())
    }

    pub fn kill(&mut self) {
        self.child.take();
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    async fn spawn(&mut self, read_banner: bool) -> Option<String> {
        let mut child = serve(&self.dir, self.port)
            .env("JWT_SECRET", JWT_SECRET)
            .env("SHUTDOWN_TIMEOUT_SECONDS", "5")
            // The producers post faster than an agent's default REST quota.
            .env("RATE_LIMIT_REST_AUTH_PER_MIN", "1000000")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(if read_banner {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit())
            .spawn()
            .expect("agenthub starts");
        let key = if read_banner {
            Some(read_banner_key(child.stdout.take().unwrap()).await)
        } else {
            None
        };
        self.child = Some(KillOnDrop(child));
        key
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, limit: Duration) {
        let what = format!("node on {} not ready in {limit:?}", self.port);
        self.api().wait_for_ok("/readyz", limit, &what).await;
    }

    /// SIGTERM, then waits for the exit and checks it was clean and in time.
    pub async fn terminate(&mut self) {
        let mut child = self.child.take().expect("running");
        assert!(sigterm(&child));
        let started = Instant::now();
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        assert_eq!(status.code(), Some(0), "a clean exit after SIGTERM");
        assert!(
            started.elapsed() < Duration::from_secs(5 + 2),
            "exit within the timeout"
        );
    }

    /// Starts the same node again on the same port and database (no banner: not empty).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "terminate first");
        self.spawn(false).await;
    }
}

/// Two ready nodes on one database, joined over the shared Redis under a prefix of their own,
/// whose keys are removed when the pair is dropped.
pub struct NodePair {
    pub one: HubProcess,
    pub two: HubProcess,
    /// The bootstrap admin's key.
    pub admin: String,
    redis: String,
    prefix: String,
}

impl NodePair {
    pub async fn start(db: &TestDb) -> NodePair {
        let redis = shared_redis_url();
        let prefix = format!("ahtest-{}", uuid::Uuid::new_v4().simple());
        let env = [
            ("REDIS_URL", redis.as_str()),
            ("REDIS_PREFIX", prefix.as_str()),
        ];
        let (one, admin) = HubProcess::start(db.dir.path(), &db.url, &env).await;
        one.wait_ready(Duration::from_secs(30)).await;
        let two = HubProcess::join(db.dir.path(), &db.url, &env).await;
        two.wait_ready(Duration::from_secs(30)).await;
        NodePair {
            one,
            two,
            admin,
            redis,
            prefix,
        }
    }
}

impl Drop for NodePair {
    fn drop(&mut self) {
        self.one.kill();
        self.two.kill();
        remove_redis_keys(&self.redis, &self.prefix);
    }
}
