//! Builds the application: database, migrations, first-start bootstrap, state, router, bind.
//!
//! `App::build` binds the listener (port 0 works), so tests run the real server in-process
//! and the binary is a few lines.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use socketioxide_core::adapter::DefinedAdapter;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthFailures, Authenticator, JwtKeys, load_or_create_secret};
use crate::cluster::redis::{HubDriver, RedisClients};
use crate::cluster::{Presence, RedisPresence};
use crate::config::{ConfigError, Settings};
use crate::hub::{Actor, Hub};
use crate::model::Role;
use crate::net::{ServeOptions, Transports};
use crate::realtime::SocketIoFanout;
use crate::state::{AppState, Readiness};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// How long a stopping node keeps answering (readiness 503) before it stops accepting.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    router: axum::Router,
    /// The first admin's API key, when this start created it.
    pub bootstrap_key: Option<String>,
}

/// Like [`Store::open`], but waits for a database it cannot connect to yet (a node started
/// during a database outage, or before the database in a compose file), retrying with
/// backoff up to 5 s apart and logging why each attempt failed (a refused password looks
/// the same to the driver, so it is retried too). A migration that fails ends start-up.
async fn open_store_patiently(
    settings: &Settings,
    metrics: &Arc<Metrics>,
) -> Result<Store, StartupError> {
    let mut wait = Duration::from_millis(250);
    loop {
        match Store::open(settings, metrics.clone()).await {
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "database unreachable; waiting for it");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => return Ok(other?),
        }
    }
}

/// The JWT keys: `JWT_SECRET` (+ `JWT_SECRET_OLD`), or the secret generated in the data dir.
fn jwt_keys(settings: &Settings) -> Result<JwtKeys, StartupError> {
    let secret = match &settings.secrets.jwt_secret {
        Some(s) => s.clone(),
        None => load_or_create_secret(&settings.data_dir).map_err(|source| StartupError::Io {
            context: "reading or creating the JWT secret in the data directory".into(),
            source,
        })?,
    };
    Ok(JwtKeys::new(
        secret.as_bytes(),
        settings
            .secrets
            .jwt_secret_old
            .as_ref()
            .map(String::as_bytes),
        settings.jwt_ttl_seconds,
    ))
}

impl App {
    pub async fn build(settings: Settings) -> Result<App, StartupError> {
        settings.validate()?;
        let settings = Arc::new(settings);
        let metrics = Arc::new(Metrics::default());
        let store = open_store_patiently(&settings, &metrics).await?;
        let auth = Arc::new(Authenticator::new(
            store.clone(),
            jwt_keys(&settings)?,
            metrics.clone(),
        ));
        let payload = settings.max_payload_bytes;
        // Room for an answer to every event of a burst (queued or refused) plus broadcasts.
        let outgoing =
            crate::realtime::queue_capacity(settings.rate_limit_ws_events_per_sec) * 2 + 512;
        let builder = socketioxide::SocketIo::builder()
            .max_buffer_size(outgoing)
            .max_payload(payload)
            .ws_max_message_size(payload as usize)
            .ws_max_frame_size(payload as usize);
        let parts = Parts {
            settings: settings.clone(),
            store,
            metrics: metrics.clone(),
            auth,
        };
        let Some(url) = settings.redis_url.as_deref() else {
            // Single node: the in-memory adapter and node-local presence.
            metrics.redis_up.set(1);
            let (layer, io) = builder.build_layer();
            let (app, ()) = assemble(parts, io, layer, Presence::default(), None).await?;
            return Ok(app);
        };
        // Scale-out (SPEC §8): the Redis adapter and cluster presence.
        let clients = RedisClients::connect(url).await.map_err(redis_error)?;
        let driver = HubDriver::new(clients.subscriber.clone(), metrics.clone())
            .await
            .map_err(redis_error)?;
        let prefix = settings.redis_prefix.clone();
        let adapter = RedisAdapterCtr::new_with_driver(
            driver,
            // Calls between agents (SPEC §12) wait for acks across nodes: room for many
            // answers at once, and for bursts of requests, before the adapter drops any.
            RedisAdapterConfig::default()
                .with_prefix(prefix.clone())
                .with_ack_response_buffer(4096)
                .with_stream_buffer(8192),
        );
        let (layer, io) = builder
            .with_adapter::<HubAdapter<socketioxide::adapter::Emitter>>(adapter)
            .build_layer();
        let node = settings
            .node_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        tracing::info!(node = %node, "joining the cluster through redis");
        let presence = Presence::Redis(RedisPresence::new(
            clients.commands.clone(),
            &prefix,
            node,
            metrics.clone(),
        ));
        let (app, init) = assemble(parts, io.clone(), layer, presence, Some(clients)).await?;
        // Subscriptions are live only once the namespace's adapter is initialized.
        init.await.map_err(|e| StartupError::Io {
            context: "subscribing to redis".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let state = app.state.clone();
        let announce = move |reaped| crate::realtime::announce_reaped(io.clone(), reaped);
        if let Presence::Redis(p) = &*state.presence {
            crate::cluster::liveness::start(p, &announce).await;
        }
        tokio::spawn(crate::cluster::liveness::run(
            state.presence.clone(),
            announce,
            state.shutdown.clone(),
        ));
        Ok(app)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `signal` resolves, then shuts down within `SHUTDOWN_TIMEOUT_SECONDS`
    /// (SPEC §10): readiness and Socket.IO answer 503 at once; live sockets' transports are
    /// dropped without an Engine.IO CLOSE packet, so stock clients reconnect by themselves (to
    /// another node, or to this one restarted); for a short grace period requests in flight
    /// finish and load balancers see the 503; then the listener stops and open requests drain.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let stop_http = CancellationToken::new();
        let options = ServeOptions {
            header_read_timeout: Duration::from_secs(state.settings.http_header_timeout_seconds),
            max_connections: state.settings.max_connections,
        };
        let serve = crate::net::serve(self.listener, self.router, options, stop_http.clone());
        let mut server = tokio::spawn(serve);
        tokio::select! {
            () = signal => {}
            // The server ended on its own: an I/O error on the listener.
            joined = &mut server => return joined.map_err(std::io::Error::other)?,
        }
        tracing::info!("shutting down: not ready, dropping socket transports, draining");
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(state.settings.shutdown_timeout_seconds);
        state.shutdown.cancel();
        let dropped = state.transports.drop_all();
        tracing::info!(connections = dropped, "socket transports dropped");
        let grace = deadline.min(tokio::time::Instant::now() + DRAIN_GRACE);
        tokio::time::sleep_until(grace).await;
        stop_http.cancel();
        match tokio::time::timeout_at(deadline, &mut server).await {
            Ok(joined) => joined.map_err(std::io::Error::other)??,
            Err(_) => {
                tracing::warn!("drain timed out; closing remaining connections");
                server.abort();
            }
        }
        // Only now, with no request left: the namespace (and with it the cluster adapter)
        // carries the broadcasts of what requests in flight committed during the drain. What
        // it still holds (polling sessions between two requests) is closed inside
        // socketioxide; those CLOSE packets never reach a client, whose next poll got a 503.
        let _ = tokio::time::timeout_at(deadline, state.hub.fanout.close()).await;
        if let Presence::Redis(p) = &*state.presence {
            p.unregister().await;
        }
        state.hub.close().await;
        Ok(())
    }
}

/// What `App::build` made before choosing the adapter.
struct Parts {
    settings: Arc<Settings>,
    store: Store,
    metrics: Arc<Metrics>,
    auth: Arc<Authenticator>,
}

/// The socketioxide Redis adapter over AgentHub's driver.
type HubAdapter<E> = CustomRedisAdapter<E, HubDriver>;

fn redis_error(e: fred::error::Error) -> StartupError {
    StartupError::Io {
        context: "connecting to redis".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Everything after the adapter choice, for any adapter: fan-out, hub, bootstrap, state,
/// namespace, router, listener. Returns the namespace's init result (a future to await with
/// the Redis adapter).
async fn assemble<A: Adapter + DefinedAdapter>(
    parts: Parts,
    io: SocketIo<A>,
    layer: SocketIoLayer<A>,
    presence: Presence,
    redis: Option<RedisClients>,
) -> Result<(App, A::InitRes), StartupError> {
    let Parts {
        settings,
        store,
        metrics,
        auth,
    } = parts;
    let presence = Arc::new(presence);
    let fanout = Arc::new(SocketIoFanout {
        io: io.clone(),
        presence: presence.clone(),
    });
    // With Redis, open streams are copied there for the other nodes' joins.
    let drafts = redis.as_ref().map(|r| {
        crate::cluster::DraftMirror::start(
            r.commands.clone(),
            &settings.redis_prefix,
            metrics.clone(),
        )
    });
    let hub = Hub::new(store, settings.clone(), fanout, metrics.clone(), drafts);
    let bootstrap_key = if settings.bootstrap && !settings.is_production() {
        bootstrap(&hub).await?
    } else {
        None
    };
    let addr = SocketAddr::new(settings.host, settings.port);
    let listener = listen(addr).map_err(|source| StartupError::Io {
        context: format!("binding {addr}"),
        source,
    })?;
    let shutdown = CancellationToken::new();
    let readiness = Arc::new(Readiness::new(hub.clone(), redis.clone(), metrics.clone()));
    let transports = Transports::default();
    let failures = Arc::new(AuthFailures::new(settings.rate_limit_auth_failures_per_min));
    spawn_pruning(transports.clone(), failures.clone(), shutdown.clone());
    tokio::spawn(crate::hub::sweep_idle_streams(
        hub.clone(),
        shutdown.clone(),
    ));
    spawn_rate_sampling(metrics.clone(), shutdown.clone());
    let state = AppState {
        settings,
        hub,
        auth,
        presence,
        metrics,
        redis,
        readiness,
        transports,
        failures,
        shutdown,
    };
    let init = crate::realtime::attach(&io, state.clone());
    let router = crate::http::router(state.clone(), layer);
    Ok((
        App {
            listener,
            state,
            router,
            bootstrap_key,
        },
        init,
    ))
}

/// The listening socket, with room for a fleet's reconnects: the default backlog (1024)
/// overflows when 2,000 sockets of one host come back at once after a restart, and every
/// dropped SYN costs its client a one-second retransmission. The kernel caps it at
/// `net.core.somaxconn`.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    const BACKLOG: u32 = 8192;
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Every 30 s until shutdown: forgets closed connections and ended sessions, and addresses
/// whose refused-credential bucket is full again, so both follow the live clients.
fn spawn_pruning(transports: Transports, failures: Arc<AuthFailures>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    transports.prune();
                    failures.prune();
                }
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// Samples `messages_sent` once a second for the dashboard's messages per second.
fn spawn_rate_sampling(metrics: Arc<Metrics>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = ticker.tick() => metrics.message_rate.sample(metrics.messages_sent.get()),
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// On an empty database, creates the agent `admin` and returns its first API key.
async fn bootstrap(hub: &Hub) -> Result<Option<String>, StartupError> {
    if hub.count_agents().await.map_err(|e| StartupError::Io {
        context: "counting agents".into(),
        source: std::io::Error::other(e),
    })? > 0
    {
        return Ok(None);
    }
    let admin = match hub
        .create_agent(Actor::default(), "admin", None, Role::Admin)
        .await
    {
        Ok(admin) => admin,
        // Another node bootstrapped at the same moment.
        Err(e) if e.code == crate::error::ErrorCode::Conflict => return Ok(None),
        Err(e) => {
            return Err(StartupError::Io {
                context: "creating the first admin".into(),
                source: std::io::Error::other(e),
            });
        }
    };
    let issued = hub
        .create_token(Actor::default(), &admin, Some("bootstrap"), None)
        .await
        .map_err(|e| StartupError::Io {
            context: "creating the first admin's token".into(),
            source: std::io::Error::other(e),
        })?;
    Ok(Some(issued.key))
}
