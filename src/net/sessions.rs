//! Which connections carry which Engine.IO session, so that one session, or every Socket.IO
//! connection at shutdown, can be ended under Engine.IO (see [`super`]).
//!
//! The Socket.IO guard registers each request's connection under the `sid` it names, and the
//! handshake registers the WebSocket of a WebSocket-only client (whose upgrade names none).
//! A dropped session's later requests are refused, so nothing more reaches it over polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::Conn;

/// How long a dropped session's requests keep being refused. Clients open a new session
/// after their first failed request, so this only needs to outlive a poll or two.
const DROPPED_MEMORY: Duration = Duration::from_secs(120);

/// Cheap to clone; one per server.
#[derive(Clone, Default)]
pub struct Transports {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Every connection that served a Socket.IO request, by address (for shutdown).
    socket_io: Mutex<HashMap<usize, Weak<Conn>>>,
    /// The connections each live session was seen on.
    sessions: Mutex<HashMap<String, Vec<Weak<Conn>>>>,
    /// Sessions whose transports were dropped, and when.
    dropped: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Transports {
    /// Remembers that `conn` carries Socket.IO, so shutdown drops it.
    pub fn track(&self, conn: &Arc<Conn>) {
        if conn.mark_socket_io() {
            lock(&self.inner.socket_io).insert(Arc::as_ptr(conn) as usize, Arc::downgrade(conn));
        }
    }

    /// Remembers that `conn` carries the session `sid`.
    pub fn carry(&self, sid: &str, conn: &Arc<Conn>) {
        self.track(conn);
        let mut sessions = lock(&self.inner.sessions);
        let conns = sessions.entry(sid.to_owned()).or_default();
        conns.retain(|c| c.strong_count() > 0);
        if !conns
            .iter()
            .any(|c| std::ptr::eq(c.as_ptr(), Arc::as_ptr(conn)))
        {
            conns.push(Arc::downgrade(conn));
        }
    }

    /// True when `sid`'s transports were dropped: its requests must fail.
    pub fn is_dropped(&self, sid: &str) -> bool {
        lock(&self.inner.dropped).contains_key(sid)
    }

    /// Ends the session `sid` under Engine.IO: its connections fail and its later requests
    /// are refused, so the client sees a dropped transport and reconnects by itself.
    pub fn drop_session(&self, sid: &str) {
        lock(&self.inner.dropped).insert(sid.to_owned(), Instant::now());
        let conns = lock(&self.inner.sessions).remove(sid).unwrap_or_default();
        for conn in conns.iter().filter_map(Weak::upgrade) {
            conn.drop_transport();
        }
    }

    /// The session ended on its own: forget its connections.
    pub fn forget(&self, sid: &str) {
        lock(&self.inner.sessions).remove(sid);
    }

    /// Drops every connection that carries Socket.IO (shutdown). Returns how many there were.
    pub fn drop_all(&self) -> usize {
        let conns: Vec<Arc<Conn>> = lock(&self.inner.socket_io)
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for conn in &conns {
            conn.drop_transport();
        }
        conns.len()
    }

    /// Forgets closed connections, ended sessions and old drops.
    pub fn prune(&self) {
        lock(&self.inner.socket_io).retain(|_, c| c.strong_count() > 0);
        lock(&self.inner.sessions).retain(|_, conns| {
            conns.retain(|c| c.strong_count() > 0);
            !conns.is_empty()
        });
        let now = Instant::now();
        lock(&self.inner.dropped).retain(|_, at| now.duration_since(*at) < DROPPED_MEMORY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_a_session_drops_only_its_connections() {
        let transports = Transports::default();
        let (a, b, other) = (
            Arc::new(Conn::default()),
            Arc::new(Conn::default()),
            Arc::new(Conn::default()),
        );
        transports.carry("s1", &a);
        transports.carry("s1", &b);
        transports.carry("s1", &a);
        transports.carry("s2", &other);
        transports.drop_session("s1");
        assert!(a.is_dropped() && b.is_dropped());
        assert!(!other.is_dropped());
        assert!(transports.is_dropped("s1") && !transports.is_dropped("s2"));
        assert_eq!(transports.drop_all(), 3);
        assert!(other.is_dropped());
    }

    #[test]
    fn closed_connections_are_pruned() {
        let transports = Transports::default();
        let conn = Arc::new(Conn::default());
        transports.carry("s1", &conn);
        drop(conn);
        transports.prune();
        assert!(lock(&transports.inner.sessions).is_empty());
        assert!(lock(&transports.inner.socket_io).is_empty());
    }
}
