//! One accepted TCP connection, with a switch that fails all its further I/O.
//!
//! Once dropped, every read and write of the connection returns an error, and tasks parked
//! on it are woken: hyper ends the HTTP connection (a pending long-poll fails), tungstenite
//! ends the WebSocket (the client sees it close without a close frame). The socket itself is
//! closed when its owner drops it, which follows at once.
//!
//! A connection whose writes make no progress for [`WRITE_STALL`] (the client stopped reading:
//! its TCP window is shut and every buffer in between is full) is dropped the same way, so a
//! socket that does not read is disconnected (and recovers with `since`) instead of piling up
//! packets it will never see (SPEC §5).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

/// What the rest of the server knows of a connection (in every request's extensions).
#[derive(Debug, Default)]
pub struct Conn {
    dropped: AtomicBool,
    /// Set once the connection served a Socket.IO request ([`super::Transports::track`]).
    socket_io: AtomicBool,
    /// The tasks parked on reading and on writing (hyper uses one task; a split WebSocket two).
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

impl Conn {
    /// Fails the connection's I/O from now on and wakes whoever waits on it.
    pub fn drop_transport(&self) {
        self.dropped.store(true, Ordering::Release);
        for slot in [&self.reader, &self.writer] {
            if let Some(waker) = lock(slot).take() {
                waker.wake();
            }
        }
    }

    /// Marks the connection as carrying Socket.IO; true the first time.
    pub fn mark_socket_io(&self) -> bool {
        !self.socket_io.swap(true, Ordering::AcqRel)
    }

    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    /// Parks `cx` in `slot`, then reports whether the connection was dropped (checked after
    /// parking, so a drop in between is never missed).
    fn park(&self, slot: &Mutex<Option<Waker>>, cx: &Context<'_>) -> io::Result<()> {
        {
            let mut slot = lock(slot);
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        if self.is_dropped() {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "transport dropped by the server",
            ))
        } else {
            Ok(())
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long a write may make no progress before the connection is dropped.
pub const WRITE_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// A stream whose I/O fails once its [`Conn`] is dropped, or once a write stalls.
pub struct DroppableIo<T> {
    inner: T,
    conn: Arc<Conn>,
    /// Since when the pending write has made no progress, and the timer that wakes the writer
    /// at [`WRITE_STALL`] (allocated only while stalled).
    stalled: Option<(std::time::Instant, Pin<Box<tokio::time::Sleep>>)>,
    /// [`WRITE_STALL`], shorter in tests.
    stall_after: std::time::Duration,
    /// The connection's slot under `MAX_CONNECTIONS`, held as long as the stream lives
    /// (past a WebSocket upgrade too).
    _permit: Option<OwnedSemaphorePermit>,
}

impl<T> DroppableIo<T> {
    pub fn new(inner: T, conn: Arc<Conn>) -> Self {
        Self {
            inner,
            conn,
            stalled: None,
            stall_after: WRITE_STALL,
            _permit: None,
        }
    }

    pub fn holding(mut self, permit: OwnedSemaphorePermit) -> Self {
        self._permit = Some(permit);
        self
    }
}

impl<T> DroppableIo<T> {
    /// Passes a write's outcome through, tracking how long writes have been pending: past
    /// [`WRITE_STALL`] without progress the connection is dropped.
    fn watch_stall<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let (since, timer) = self.stalled.get_or_insert_with(|| {
            let now = std::time::Instant::now();
            let deadline = tokio::time::Instant::now() + self.stall_after;
            (now, Box::pin(tokio::time::sleep_until(deadline)))
        });
        if timer.as_mut().poll(cx).is_ready() || since.elapsed() >= self.stall_after {
            tracing::warn!("a client stopped reading: dropping its connection");
            self.stalled = None;
            self.conn.drop_transport();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )));
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DroppableIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.park(&this.conn.reader, cx)?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DroppableIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.conn.park(&this.conn.writer, cx)?;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch_stall(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.conn.park(&this.conn.writer, cx)?;
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch_stall(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.park(&this.conn.writer, cx)?;
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch_stall(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.is_dropped() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_dropped_connection_wakes_its_parked_reader_with_an_error() {
        let (a, mut b) = tokio::io::duplex(64);
        let conn = Arc::new(Conn::default());
        let mut io = DroppableIo::new(a, conn.clone());
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            io.read(&mut buf).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        conn.drop_transport();
        let result = reader.await.unwrap();
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
        // The peer sees the stream end once the dropped side is gone.
        let mut buf = [0u8; 1];
        assert_eq!(b.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_write_that_makes_no_progress_drops_the_connection() {
        // The peer never reads: once the pipe's 64 bytes are full, writes pend.
        let (a, _peer) = tokio::io::duplex(64);
        let conn = Arc::new(Conn::default());
        let mut io = DroppableIo::new(a, conn.clone());
        io.stall_after = std::time::Duration::from_millis(200);
        let started = std::time::Instant::now();
        let result = io.write_all(&[0u8; 4096]).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
        assert!(conn.is_dropped(), "the rest of the connection fails too");
    }

    #[tokio::test]
    async fn writes_fail_after_the_drop() {
        let (a, _b) = tokio::io::duplex(64);
        let conn = Arc::new(Conn::default());
        let mut io = DroppableIo::new(a, conn.clone());
        assert!(io.write_all(b"before").await.is_ok());
        conn.drop_transport();
        assert!(io.write_all(b"after").await.is_err());
    }
}
