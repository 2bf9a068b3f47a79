//! Every setting AgentHub reads, its default and its validation, in one place.
//!
//! Settings come from environment variables (12-factor), each also a kebab-case flag.
//! Secrets (`JWT_SECRET`, `JWT_SECRET_OLD`, `METRICS_TOKEN`) are read from the environment only,
//! so they never show up in `ps` output or shell history.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;

/// Where the embedded default keeps its SQLite file and generated JWT secret.
pub const DATA_DIR: &str = "./data";

/// Settings shared by the server and the operator CLI.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen address.
    #[arg(long, env = "HOST", default_value = "0.0.0.0", global = true)]
    pub host: IpAddr,
    /// Listen port (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000, global = true)]
    pub port: u16,
    /// `postgres://…` or `sqlite://…`; unset: a SQLite file under ./data/.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Database pool size.
    #[arg(
        long,
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    pub database_max_connections: u32,
    /// Set: Redis adapter and cluster presence (scale-out).
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel.
    #[arg(long, env = "REDIS_PREFIX", default_value = "agenthub", global = true)]
    pub redis_prefix: String,
    /// This node's id in the cluster (with `REDIS_URL`); unset: a random one per start. A
    /// node restarting with the same id first clears what its previous run left in Redis.
    #[arg(long, env = "NODE_ID", global = true)]
    pub node_id: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long, env = "JWT_TTL_SECONDS", default_value_t = 900, global = true)]
    pub jwt_ttl_seconds: u64,
    /// Comma-separated exact origins allowed for CORS and the Socket.IO handshake.
    #[arg(long, env = "ALLOWED_ORIGINS", default_value = "", global = true)]
    pub allowed_origins: String,
    /// Take the client IP from `X-Forwarded-For`.
    #[arg(long, env = "TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub trust_proxy: bool,
    /// Send `Strict-Transport-Security`.
    #[arg(long, env = "ENABLE_HSTS", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub enable_hsts: bool,
    /// REST requests per minute per client IP, unauthenticated.
    #[arg(
        long,
        env = "RATE_LIMIT_REST_ANON_PER_MIN",
        default_value_t = 100,
        global = true
    )]
    pub rate_limit_rest_anon_per_min: u32,
    /// REST requests per minute per agent, authenticated.
    #[arg(
        long,
        env = "RATE_LIMIT_REST_AUTH_PER_MIN",
        default_value_t = 600,
        global = true
    )]
    pub rate_limit_rest_auth_per_min: u32,
    /// Socket.IO events per second per socket.
    #[arg(
        long,
        env = "RATE_LIMIT_WS_EVENTS_PER_SEC",
        default_value_t = 30,
        global = true
    )]
    pub rate_limit_ws_events_per_sec: u32,
    /// Refused credentials per client IP per minute (handshakes and token exchanges
    /// together); past it that IP's new Engine.IO sessions and token exchanges get 429.
    /// Successful handshakes are never capped: a fleet behind one address must get back at once.
    #[arg(
        long,
        env = "RATE_LIMIT_AUTH_FAILURES_PER_MIN",
        default_value_t = 60,
        global = true
    )]
    pub rate_limit_auth_failures_per_min: u32,
    /// Concurrent sockets of one agent.
    #[arg(
        long,
        env = "MAX_SOCKETS_PER_AGENT",
        default_value_t = 20,
        global = true
    )]
    pub max_sockets_per_agent: u32,
    /// Rooms one socket may be in at once; one more join is `forbidden`.
    #[arg(
        long,
        env = "MAX_ROOMS_PER_SOCKET",
        default_value_t = 100,
        global = true
    )]
    pub max_rooms_per_socket: usize,
    /// Open `stream:*` messages one socket may have at once; one more is `conflict`.
    #[arg(
        long,
        env = "MAX_STREAMS_PER_SOCKET",
        default_value_t = 8,
        global = true
    )]
    pub max_streams_per_socket: usize,
    /// Rooms a non-admin agent may create per hour (REST and joins; DM rooms do not count).
    #[arg(
        long,
        env = "ROOM_CREATES_PER_HOUR",
        default_value_t = 100,
        global = true
    )]
    pub room_creates_per_hour: u32,
    /// UTF-8 bytes of a message body.
    #[arg(
        long,
        env = "MAX_MESSAGE_BYTES",
        default_value_t = 16384,
        global = true
    )]
    pub max_message_bytes: usize,
    /// One Engine.IO packet, either transport.
    #[arg(
        long,
        env = "MAX_PAYLOAD_BYTES",
        default_value_t = 65536,
        global = true
    )]
    pub max_payload_bytes: u64,
    /// Joining a missing room creates it (public).
    #[arg(long, env = "ROOM_AUTO_CREATE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub room_auto_create: bool,
    /// Concurrent TCP connections the server holds (REST, polling and WebSocket together);
    /// past it new connections wait in the listen backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 25_000, global = true)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (a slowloris defence).
    #[arg(
        long,
        env = "HTTP_HEADER_TIMEOUT_SECONDS",
        default_value_t = 10,
        global = true
    )]
    pub http_header_timeout_seconds: u64,
    /// Graceful drain, in seconds.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT_SECONDS",
        default_value_t = 10,
        global = true
    )]
    pub shutdown_timeout_seconds: u64,
    /// `pretty` or `json` (default: `json` in production, else `pretty`).
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// `production` enforces explicit secrets and a real database.
    #[arg(
        long = "env",
        env = "AGENTHUB_ENV",
        default_value = "development",
        global = true
    )]
    pub environment: String,
    /// Create and print the first admin on an empty database.
    #[arg(long, env = "AGENTHUB_BOOTSTRAP", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub bootstrap: bool,
    /// Directory of the embedded default's SQLite file and generated JWT secret.
    #[arg(long, env = "AGENTHUB_DATA_DIR", default_value = DATA_DIR, global = true)]
    pub data_dir: PathBuf,
    #[arg(skip)]
    pub secrets: Secrets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Secrets come from the environment only.
#[derive(Clone, Default)]
pub struct Secrets {
    pub jwt_secret: Option<String>,
    pub jwt_secret_old: Option<String>,
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(redacted)")
    }
}

impl Secrets {
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            jwt_secret: read("JWT_SECRET"),
            jwt_secret_old: read("JWT_SECRET_OLD"),
            metrics_token: read("METRICS_TOKEN"),
        }
    }
}

/// A setting that cannot work; the binary prints it and exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    pub fn is_production(&self) -> bool {
        self.environment.eq_ignore_ascii_case("production")
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(if self.is_production() {
            LogFormat::Json
        } else {
            LogFormat::Pretty
        })
    }

    /// The database URL in force: the configured one or the embedded SQLite default.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("agenthub.db").display()
            ),
        }
    }

    pub fn allowed_origins(&self) -> Vec<String> {
        self.allowed_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect()
    }

    /// Checks what clap cannot: combinations and value ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: &str| Err(ConfigError(m.to_owned()));
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return err("DATABASE_URL must start with postgres://, postgresql:// or sqlite:");
        }
        if self.database_max_connections < 2 {
            // Start-up holds one connection for the migration lock while migrating on another.
            return err("DATABASE_MAX_CONNECTIONS must be at least 2");
        }
        if !(10..=86_400).contains(&self.jwt_ttl_seconds) {
            return err("JWT_TTL_SECONDS must be between 10 and 86400");
        }
        if self.max_message_bytes == 0 || self.max_message_bytes as u64 > self.max_payload_bytes {
            return err("MAX_MESSAGE_BYTES must be between 1 and MAX_PAYLOAD_BYTES");
        }
        if self.rate_limit_rest_anon_per_min == 0
            || self.rate_limit_rest_auth_per_min == 0
            || self.rate_limit_ws_events_per_sec == 0
            || self.rate_limit_auth_failures_per_min == 0
        {
            return err("rate limits must be at least 1");
        }
        if self.max_rooms_per_socket == 0
            || self.room_creates_per_hour == 0
            || self.max_streams_per_socket == 0
        {
            return err(
                "MAX_ROOMS_PER_SOCKET, ROOM_CREATES_PER_HOUR and MAX_STREAMS_PER_SOCKET must be at least 1",
            );
        }
        if self.max_connections == 0 {
            return err("MAX_CONNECTIONS must be at least 1");
        }
        if !(1..=300).contains(&self.http_header_timeout_seconds) {
            return err("HTTP_HEADER_TIMEOUT_SECONDS must be between 1 and 300");
        }
        if self.max_sockets_per_agent == 0 {
            return err("MAX_SOCKETS_PER_AGENT must be at least 1");
        }
        for origin in self.allowed_origins() {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "ALLOWED_ORIGINS entry {origin:?} must be an exact origin like https://app.example.com"
                )));
            }
        }
        for (name, secret) in [
            ("JWT_SECRET", &self.secrets.jwt_secret),
            ("JWT_SECRET_OLD", &self.secrets.jwt_secret_old),
        ] {
            if secret.as_ref().is_some_and(|s| s.len() < 32) {
                return Err(ConfigError(format!("{name} must be at least 32 bytes")));
            }
        }
        if self.is_production() {
            if self.secrets.jwt_secret.is_none() {
                return err("AGENTHUB_ENV=production needs JWT_SECRET (at least 32 bytes)");
            }
            if self.database_url.is_none() || self.database_url().starts_with("sqlite:") {
                return err(
                    "AGENTHUB_ENV=production needs DATABASE_URL=postgres://… (the SQLite default is for development)",
                );
            }
        }
        Ok(())
    }
}
