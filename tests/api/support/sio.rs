//! A small raw Socket.IO v5 client over WebSocket (Engine.IO 4), for tests that need full
//! control of what goes on the wire: acks, events, garbage, oversized frames.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{Mutex, Notify, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long a test waits to see that something does not happen.
pub const QUIET: Duration = Duration::from_millis(300);

pub struct Sio {
    out: mpsc::UnboundedSender<Message>,
    events: Arc<Mutex<Vec<(String, Value)>>>,
    /// Events the server sent with an ack callback: (name, ack id, data).
    requests: Arc<Mutex<Vec<(String, u64, Value)>>>,
    arrived: Arc<Notify>,
    acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_ack: AtomicU64,
    closed: watch::Receiver<bool>,
    ending: Arc<std::sync::Mutex<Option<Ending>>>,
}

/// How the server ended a socket, as a client library tells it apart (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The Socket.IO DISCONNECT packet (`41`): clients report `io server disconnect` and
    /// do not come back by themselves.
    Disconnect,
    /// The Engine.IO CLOSE packet (`1`): python-socketio does not come back either.
    EngineClose,
    /// The connection went away without either packet: clients retry by themselves.
    Dropped,
}

/// Why a connection attempt did not produce a socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `connect_error` with this message.
    ConnectError(String),
    /// The HTTP upgrade was refused with this status.
    Http(u16),
}

impl Sio {
    /// Connects with `{"token": token}` as the auth payload.
    pub async fn connect(addr: SocketAddr, token: &str) -> Sio {
        Self::connect_with(addr, Some(serde_json::json!({"token": token})), &[])
            .await
            .expect("socket connects")
    }

    pub async fn connect_with(
        addr: SocketAddr,
        auth: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<Sio, Refused> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .unwrap(),
                value.parse().unwrap(),
            );
        }
        let (ws, _) = match tokio_tungstenite::connect_async(request).await {
            Ok(ok) => ok,
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                return Err(Refused::Http(res.status().as_u16()));
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        };
        let (mut sink, mut stream) = ws.split();
        connect_namespace(&mut sink, &mut stream, auth.as_ref())
            .await
            .map_err(Refused::ConnectError)?;
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let events = Arc::new(Mutex::new(Vec::new()));
        let requests: Arc<Mutex<Vec<(String, u64, Value)>>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>> = Arc::default();
        let (closed_tx, closed) = watch::channel(false);
        let ending = Arc::new(std::sync::Mutex::new(None));
        {
            let requests = requests.clone();
            let (events, arrived, acks, out, ending) = (
                events.clone(),
                arrived.clone(),
                acks.clone(),
                out.clone(),
                ending.clone(),
            );
            tokio::spawn(async move {
                let mut how = Ending::Dropped;
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(t) = msg else {
                        if matches!(msg, Message::Close(_)) {
                            break;
                        }
                        continue;
                    };
                    let t = t.as_str();
                    if t == "2" {
                        let _ = out.send(Message::text("3"));
                    } else if t == "1" {
                        how = Ending::EngineClose;
                        break;
                    } else if t.starts_with("41") {
                        how = Ending::Disconnect;
                        break;
                    } else if let Some(rest) = t.strip_prefix("42")
                        && rest.starts_with(|c: char| c.is_ascii_digit())
                    {
                        // An event with an ack callback: `42<id>[…]`.
                        let split = rest.find('[').unwrap();
                        let id: u64 = rest[..split].parse().unwrap();
                        let mut args: Vec<Value> = serde_json::from_str(&rest[split..]).unwrap();
                        let data = if args.len() > 1 {
                            args.remove(1)
                        } else {
                            Value::Null
                        };
                        let name = args[0].as_str().unwrap().to_owned();
                        requests.lock().await.push((name, id, data));
                        arrived.notify_waiters();
                    } else if let Some(rest) = t.strip_prefix("42") {
                        let mut args: Vec<Value> = serde_json::from_str(rest).unwrap();
                        let data = if args.len() > 1 {
                            args.remove(1)
                        } else {
                            Value::Null
                        };
                        let name = args[0].as_str().unwrap().to_owned();
                        events.lock().await.push((name, data));
                        arrived.notify_waiters();
                    } else if let Some(rest) = t.strip_prefix("43") {
                        let split = rest.find('[').unwrap();
                        let id: u64 = rest[..split].parse().unwrap();
                        let mut args: Vec<Value> = serde_json::from_str(&rest[split..]).unwrap();
                        if let Some(tx) = acks.lock().await.remove(&id) {
                            let _ = tx.send(if args.is_empty() {
                                Value::Null
                            } else {
                                args.remove(0)
                            });
                        }
                    }
                }
                *ending.lock().unwrap() = Some(how);
                let _ = closed_tx.send(true);
                arrived.notify_waiters();
            });
        }
        Ok(Sio {
            out,
            events,
            requests,
            arrived,
            acks,
            next_ack: AtomicU64::new(1),
            closed,
            ending,
        })
    }

    /// A socket of `token` at `addr` that has joined `room` (asserting an ok ack).
    pub async fn joined(addr: SocketAddr, token: &str, room: &str) -> Sio {
        let s = Sio::connect(addr, token).await;
        let ack = s.emit("room:join", serde_json::json!({"room": room})).await;
        assert_eq!(ack["ok"], true, "an ok ack: {ack}");
        s
    }

    /// Emits an event with an ack callback and returns the ack's first argument.
    pub async fn emit(&self, event: &str, data: Value) -> Value {
        self.emit_args(event, vec![data]).await
    }

    /// `message:send` with `payload`, and its ack.
    pub async fn send_message(&self, payload: Value) -> Value {
        self.emit("message:send", payload).await
    }

    /// `dm:send` with `payload`, and its ack.
    pub async fn send_dm(&self, payload: Value) -> Value {
        self.emit("dm:send", payload).await
    }

    /// Emits an event with any arguments and waits for its ack.
    pub async fn emit_args(&self, event: &str, mut args: Vec<Value>) -> Value {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().await.insert(id, tx);
        args.insert(0, Value::String(event.to_owned()));
        self.send_text(&format!("2{id}{}", Value::Array(args)));
        tokio::time::timeout(WAIT, rx)
            .await
            .unwrap_or_else(|_| panic!("no ack for {event} within {WAIT:?}"))
            .expect("ack channel open")
    }

    /// Like `emit`, but `None` when no ack comes within `within` (or the socket closed).
    pub async fn try_emit(&self, event: &str, data: Value, within: Duration) -> Option<Value> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().await.insert(id, tx);
        let packet = Value::Array(vec![Value::String(event.to_owned()), data]);
        self.send_text(&format!("2{id}{packet}"));
        tokio::time::timeout(within, rx).await.ok()?.ok()
    }

    /// Emits an event without an ack callback.
    pub fn emit_noack(&self, event: &str, data: Value) {
        self.send_text(&format!(
            "2{}",
            Value::Array(vec![Value::String(event.to_owned()), data])
        ));
    }

    /// Sends a raw Socket.IO packet (`2[…]` for an event) in an Engine.IO message frame.
    pub fn send_text(&self, text: &str) {
        let _ = self.out.send(Message::text(format!("4{text}")));
    }

    /// Sends a raw WebSocket frame.
    pub fn send_frame(&self, msg: Message) {
        let _ = self.out.send(msg);
    }

    /// Waits for the next `name` event and returns its data.
    pub async fn next_event(&self, name: &str) -> Value {
        tokio::time::timeout(WAIT, self.next_event_quiet(name))
            .await
            .unwrap_or_else(|_| panic!("no {name} event within {WAIT:?}"))
    }

    /// Waits, without a time limit of its own, for the next `name` event (wrap it in a
    /// timeout); panics if the socket closes first.
    pub async fn next_event_quiet(&self, name: &str) -> Value {
        loop {
            let notified = self.arrived.notified();
            {
                let mut events = self.events.lock().await;
                if let Some(i) = events.iter().position(|(n, _)| n == name) {
                    return events.remove(i).1;
                }
            }
            if *self.closed.borrow() {
                panic!("socket closed while waiting for {name}");
            }
            notified.await;
        }
    }

    /// Waits for the next `name` event the server sent with an ack callback: its data and
    /// the ack id to [`Sio::answer`] with.
    pub async fn next_request(&self, name: &str) -> (Value, u64) {
        let wait = async {
            loop {
                let notified = self.arrived.notified();
                {
                    let mut requests = self.requests.lock().await;
                    if let Some(i) = requests.iter().position(|(n, _, _)| n == name) {
                        let (_, id, data) = requests.remove(i);
                        return (data, id);
                    }
                }
                if *self.closed.borrow() {
                    panic!("socket closed while waiting for {name}");
                }
                notified.await;
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("no {name} request within {WAIT:?}"))
    }

    /// Answers the server's event `id` with the ack argument `answer`.
    pub fn answer(&self, id: u64, answer: Value) {
        self.send_text(&format!("3{id}{}", Value::Array(vec![answer])));
    }

    /// Asserts that no `name` event arrives within `wait`.
    pub async fn assert_no_event(&self, name: &str, wait: Duration) {
        tokio::time::sleep(wait).await;
        let events = self.events.lock().await;
        let found: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect();
        assert!(found.is_empty(), "unexpected {name} events: {found:?}");
    }

    /// How many `name` events arrived so far (consuming none).
    pub async fn count(&self, name: &str) -> usize {
        self.events
            .lock()
            .await
            .iter()
            .filter(|(n, _)| n == name)
            .count()
    }

    /// True once the server has closed the connection (waits at most `within`).
    pub async fn closed_within(&self, within: Duration) -> bool {
        let mut closed = self.closed.clone();
        tokio::time::timeout(within, closed.wait_for(|c| *c))
            .await
            .is_ok()
    }

    /// How the server ended the socket, once it has (waits at most `within`).
    pub async fn ending_within(&self, within: Duration) -> Option<Ending> {
        if !self.closed_within(within).await {
            return None;
        }
        *self.ending.lock().unwrap()
    }

    pub async fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Asserts that the socket is still connected and answers events.
    pub async fn assert_alive(&self) {
        assert!(!self.is_closed().await, "the socket is still connected");
        let ack = self
            .emit("presence:set", serde_json::json!({"status": "online"}))
            .await;
        assert_eq!(ack["ok"], true, "an ok ack: {ack}");
    }

    /// Disconnects like a client that leaves.
    pub async fn close(self) {
        self.send_text("1");
        let _ = self.out.send(Message::Close(None));
        let _ = self.closed_within(Duration::from_secs(2)).await;
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The Engine.IO open packet, then the Socket.IO CONNECT with `auth` (answering pings
/// meanwhile): `Ok` when the namespace connect succeeds, else the `connect_error` message.
async fn connect_namespace(
    sink: &mut futures_util::stream::SplitSink<WsStream, Message>,
    stream: &mut futures_util::stream::SplitStream<WsStream>,
    auth: Option<&Value>,
) -> Result<(), String> {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.starts_with('0') => {}
        other => panic!("expected an Engine.IO open packet, got {other:?}"),
    }
    let connect = match auth {
        Some(a) => format!("40{a}"),
        None => "40".to_owned(),
    };
    sink.send(Message::text(connect)).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if t.starts_with("40") {
                    return Ok(());
                }
                if let Some(err) = t.strip_prefix("44") {
                    let v: Value = serde_json::from_str(err).unwrap();
                    return Err(v["message"].as_str().unwrap_or("").to_owned());
                }
                if t.as_str() == "2" {
                    sink.send(Message::text("3")).await.unwrap();
                }
            }
            other => panic!("expected a connect answer, got {other:?}"),
        }
    }
}

/// A Socket.IO handshake at a URL of our own (query parameters included): `Ok` when the
/// namespace connect succeeds, else the `connect_error` message.
pub async fn handshake_at(url: &str, auth: Option<Value>) -> Result<(), String> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket upgrade");
    let (mut sink, mut stream) = ws.split();
    connect_namespace(&mut sink, &mut stream, auth.as_ref()).await
}

/// Why a handshake with `auth` and `headers` was refused; panics if it connected.
pub async fn refusal(addr: SocketAddr, auth: Option<Value>, headers: &[(&str, &str)]) -> Refused {
    match Sio::connect_with(addr, auth.clone(), headers).await {
        Err(refused) => refused,
        Ok(_) => panic!("{auth:?} / {headers:?} connected"),
    }
}

/// The `connect_error` message of a handshake with `{"token": token}`; panics otherwise.
pub async fn token_refusal(addr: SocketAddr, token: &str) -> String {
    let auth = Some(serde_json::json!({"token": token}));
    match refusal(addr, auth.clone(), &[]).await {
        Refused::ConnectError(m) => m,
        other => panic!("{auth:?}: refused with {other:?}, not connect_error"),
    }
}
