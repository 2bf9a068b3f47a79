//! Per-socket state, kept in the socket's extensions: who it is, what it joined, its queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::dispatch::Work;
use super::rate::RateLimiter;
use crate::auth::{Caller, CredentialKind};
use crate::model::Room;
use crate::state::AppState;

pub struct Session {
    /// The socket id as a string, for presence.
    pub sid: String,
    pub ip: Option<String>,
    inner: Mutex<Inner>,
    /// The JWT expiry the socket currently follows (`None` for API-key sockets).
    pub expiry: watch::Sender<Option<DateTime<Utc>>>,
    pub limiter: Mutex<RateLimiter>,
    last_hub_error: Mutex<Option<Instant>>,
    /// Cancelled when the socket is gone; stops its background tasks.
    pub closed: CancellationToken,
    /// Set while the socket waits to be kicked for flooding.
    pub kick: PendingKick,
    /// Set by whoever undoes the socket's registration (presence, gauge), so it happens once.
    cleaned_up: std::sync::atomic::AtomicBool,
    /// Set when the socket's worker starts: from then on the worker undoes the socket's
    /// registration when it ends, not the handshake's ghost watchdog.
    worker_started: std::sync::atomic::AtomicBool,
}

/// A flood kick waiting for the socket to go quiet (see `dispatch::flood_disconnect`).
#[derive(Default)]
pub struct PendingKick {
    /// When the kick began; `None`: no kick pending.
    began: Mutex<Option<Instant>>,
    /// When the socket last sent anything since.
    last_packet: Mutex<Option<Instant>>,
}

impl PendingKick {
    /// How long the socket must have sent nothing before the DISCONNECT goes out.
    const QUIET: std::time::Duration = std::time::Duration::from_millis(100);
    /// The longest a kick waits for that.
    const AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);

    /// Starts the kick; false when one is already pending.
    pub fn begin(&self) -> bool {
        let mut began = lock(&self.began);
        if began.is_some() {
            return false;
        }
        *began = Some(Instant::now());
        *lock(&self.last_packet) = Some(Instant::now());
        true
    }

    pub fn is_pending(&self) -> bool {
        lock(&self.began).is_some()
    }

    /// Records a packet that arrived while the kick waits.
    pub fn touch(&self) {
        *lock(&self.last_packet) = Some(Instant::now());
    }

    /// Resolves once the socket has been quiet for a moment, or the kick waited long enough.
    pub async fn quiet(&self) {
        let began = lock(&self.began).unwrap_or_else(Instant::now);
        loop {
            tokio::time::sleep(Self::QUIET / 2).await;
            let last = lock(&self.last_packet).unwrap_or(began);
            if last.elapsed() >= Self::QUIET || began.elapsed() >= Self::AT_MOST {
                return;
            }
        }
    }
}

struct Inner {
    caller: Caller,
    /// Rooms this socket joined, as they were when it joined: a send to one of them needs
    /// no lookup (archival is checked by the write itself, removal by the adapter's room).
    joined: HashMap<String, Arc<Room>>,
}

/// The two ends of a socket's event queue. The receiver is taken by the worker once the
/// connection is established; events that arrive earlier wait in the channel.
pub struct Queue<A: Adapter> {
    pub tx: mpsc::Sender<Work<A>>,
    pub rx: Mutex<Option<mpsc::Receiver<Work<A>>>>,
}

/// What goes in the socket's extensions (cheap to clone).
pub struct SocketCtx<A: Adapter> {
    pub session: Arc<Session>,
    pub queue: Arc<Queue<A>>,
    pub state: AppState,
}

impl<A: Adapter> Clone for SocketCtx<A> {
    fn clone(&self) -> Self {
        Self {
            session: self.session.clone(),
            queue: self.queue.clone(),
            state: self.state.clone(),
        }
    }
}

/// Events a socket may have waiting: one second's worth of its rate limit, so the token
/// bucket alone decides what is refused, within bounds that cap the memory a socket can hold
/// (at most this many packets of `MAX_PAYLOAD_BYTES`).
pub fn queue_capacity(events_per_sec: u32) -> usize {
    (events_per_sec as usize).clamp(64, 10_000)
}

impl<A: Adapter> SocketCtx<A> {
    pub fn new(session: Session, state: AppState) -> Self {
        let (tx, rx) = mpsc::channel(queue_capacity(state.settings.rate_limit_ws_events_per_sec));
        Self {
            state,
            session: Arc::new(session),
            queue: Arc::new(Queue {
                tx,
                rx: Mutex::new(Some(rx)),
            }),
        }
    }

    pub fn of(socket: &SocketRef<A>) -> Option<Self> {
        socket.extensions.get::<Self>()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    pub fn new(sid: String, ip: Option<String>, caller: Caller, events_per_sec: u32) -> Self {
        let expiry = match caller.kind {
            CredentialKind::Jwt { expires_at } => Some(expires_at),
            CredentialKind::ApiKey => None,
        };
        Self {
            sid,
            ip,
            inner: Mutex::new(Inner {
                caller,
                joined: HashMap::new(),
            }),
            expiry: watch::Sender::new(expiry),
            limiter: Mutex::new(RateLimiter::new(events_per_sec)),
            last_hub_error: Mutex::new(None),
            closed: CancellationToken::new(),
            kick: PendingKick::default(),
            cleaned_up: Default::default(),
            worker_started: Default::default(),
        }
    }

    /// Records that the socket's worker runs (see `worker_started`).
    pub fn start_worker(&self) {
        self.worker_started
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn worker_started(&self) -> bool {
        self.worker_started
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// True for the first caller only: the one that undoes the socket's registration.
    pub fn take_cleanup(&self) -> bool {
        !self
            .cleaned_up
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    pub fn caller(&self) -> Caller {
        lock(&self.inner).caller.clone()
    }

    pub fn agent_id(&self) -> Uuid {
        lock(&self.inner).caller.agent.id
    }

    pub fn token_id(&self) -> Uuid {
        lock(&self.inner).caller.token_id
    }

    /// Follows a refreshed JWT: its token for revocation, its expiry for the timer.
    /// Returns the token id followed before.
    pub fn refresh(&self, caller: Caller) -> Uuid {
        let expiry = match caller.kind {
            CredentialKind::Jwt { expires_at } => Some(expires_at),
            CredentialKind::ApiKey => None,
        };
        let old = std::mem::replace(&mut lock(&self.inner).caller, caller);
        self.expiry.send_replace(expiry);
        old.token_id
    }

    /// Records a join; false when the socket was already in the room.
    pub fn join(&self, room: Room) -> bool {
        lock(&self.inner)
            .joined
            .insert(room.name.to_string(), Arc::new(room))
            .is_none()
    }

    /// A room this socket joined.
    pub fn joined_room(&self, room: &str) -> Option<Arc<Room>> {
        lock(&self.inner).joined.get(room).cloned()
    }

    /// The private rooms this socket is in (name, id): their membership can be taken away.
    pub fn joined_private(&self) -> Vec<(String, Uuid)> {
        lock(&self.inner)
            .joined
            .iter()
            .filter(|(_, room)| room.private)
            .map(|(name, room)| (name.clone(), room.id))
            .collect()
    }

    pub fn leave(&self, room: &str) -> bool {
        lock(&self.inner).joined.remove(room).is_some()
    }

    pub fn joined_count(&self) -> usize {
        lock(&self.inner).joined.len()
    }

    pub fn has_joined(&self, room: &str) -> bool {
        lock(&self.inner).joined.contains_key(room)
    }

    pub fn joined_rooms(&self) -> Vec<String> {
        lock(&self.inner).joined.keys().cloned().collect()
    }

    /// True at most once per second: `hub:error` is throttled so a flood gets no flood back.
    pub fn may_send_hub_error(&self) -> bool {
        let mut last = lock(&self.last_hub_error);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < std::time::Duration::from_secs(1)) {
            return false;
        }
        *last = Some(now);
        true
    }
}
