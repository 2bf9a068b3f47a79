//! Accepts TCP connections and serves the router on each one (HTTP/1.1 with upgrades for
//! WebSockets), with a header-read timeout against slow clients and a cap on concurrent
//! connections. Every request carries its peer address (`ConnectInfo`) and its [`Conn`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::{Conn, DroppableIo};

#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// Connections held at once, WebSockets included; more wait in the listen backlog.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop`; then stops accepting, lets requests in
/// flight finish and closes idle connections, and returns once they are all done.
/// Upgraded WebSockets are not waited for: they belong to Socket.IO from the upgrade on.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    stop: CancellationToken,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.map_err(io::Error::other)?,
            () = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        // Socket.IO packets are small and latency matters more than segment count.
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(Conn::default());
        let io = TokioIo::new(DroppableIo::new(stream, conn.clone()).holding(permit));
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(conn.clone());
            router.clone().oneshot(req)
        });
        let stop = stop.clone();
        let header_read_timeout = options.header_read_timeout;
        tracker.spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
