//! Events in, acks out: the per-socket ordering mechanism.
//!
//! socketioxide alone would run a socket's event handlers concurrently, so a `message:send`
//! could overtake the `room:join` before it. Instead every event is rate-checked and queued
//! while socketioxide still holds it in arrival order — in a message extractor
//! ([`Enqueued`]), before any task is spawned — and one worker task per socket ([`worker`])
//! handles the queue in order, answering each event with its [`Ack`] (or `hub:error` when it
//! came without an ack callback); consecutive `message:send`s overlap their commits. Rate-limited events are answered at once, without
//! queueing; a flood ends the socket.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, Value as RawValue};
use socketioxide::socket::Socket;
use tracing::Instrument;

use super::protocol::{Ack, Done, HubError, SendAck, client, server};
use super::rate::Verdict;
use super::session::{Session, SocketCtx};
use super::{activity, calls, messages, presence, refresh, rooms, streams};
use crate::error::{Error, Result};
use crate::net::Transports;
use crate::state::AppState;

/// One unit of a socket's queue. Boxed: a tokio channel allocates its first block of 32
/// slots when it is created, so every idle socket pays 32 × the size of this.
pub enum Work<A: Adapter> {
    Event(Box<QueuedEvent<A>>),
    /// The socket is gone: clean up after everything queued before it.
    Disconnect,
}

/// An event waiting for the socket's worker.
pub struct QueuedEvent<A: Adapter> {
    event: String,
    payload: Option<Value>,
    reply: Reply<A>,
    /// When it arrived, before queueing.
    received: std::time::Instant,
}

/// Where the outcome of an event goes: its ack, or `hub:error` when it has none.
pub struct Reply<A: Adapter> {
    event: String,
    ack: Option<AckSender<A>>,
}

impl<A: Adapter> Reply<A> {
    pub fn send<T: Serialize>(
        self,
        socket: &SocketRef<A>,
        session: &Session,
        transports: &Transports,
        result: Result<T>,
    ) {
        if let Err(e) = &result {
            e.log();
        }
        let sent = match (self.ack, &result) {
            (Some(ack), result) => ack.send(&Ack(result)),
            (None, Ok(_)) => Ok(()),
            (None, Err(e)) if session.may_send_hub_error() => {
                socket.emit(server::HUB_ERROR, &HubError::new(&self.event, e))
            }
            (None, Err(_)) => Ok(()),
        };
        unsent(sent, session, transports);
    }
}

/// An answer that cannot be sent: the socket is gone, or it stopped reading and its outgoing
/// buffer is full. Such a socket is not skipped silently (it would have a hole it cannot
/// see): its transport is dropped, so it reconnects and recovers with `since` (SPEC §5).
fn unsent(result: Result<(), socketioxide::SendError>, session: &Session, transports: &Transports) {
    use socketioxide::{SendError, SocketError};
    if let Err(e) = result {
        tracing::debug!(error = %e, "answer not sent");
        if matches!(e, SendError::Socket(SocketError::InternalChannelFull)) {
            tracing::warn!(agent_id = %session.agent_id(), "socket not reading: dropping its transport");
            transports.drop_session(&session.sid);
        }
    }
}

/// Extracts, checks and queues an event synchronously, in the order the socket sent it.
/// The handler it feeds does nothing: the socket's worker does the work.
pub struct Enqueued;

impl<A: Adapter> FromMessageParts<A> for Enqueued {
    type Error = std::convert::Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut RawValue,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        let socket = SocketRef::from(s.clone());
        let Some(ctx) = SocketCtx::<A>::of(&socket) else {
            return Ok(Enqueued);
        };
        // A socket being kicked for flooding: what it still sends is dropped unread.
        if ctx.session.kick.is_pending() {
            ctx.session.kick.touch();
            return Ok(Enqueued);
        }
        let (event, payload) = split_packet(v);
        let ack = ack_id.map(|_| {
            AckSender::from_message_parts(s, v, ack_id).unwrap_or_else(|never| match never {})
        });
        let reply = Reply {
            event: event.clone(),
            ack,
        };
        let verdict = ctx.session.limiter.lock().map(|mut l| l.check());
        match verdict {
            Ok(Verdict::Allowed) | Err(_) => {}
            Ok(Verdict::Limited { retry_after_ms }) => {
                ctx.state.metrics.rate_limited("ws");
                reply.send::<Done>(
                    &socket,
                    &ctx.session,
                    &ctx.state.transports,
                    Err(Error::rate_limited(retry_after_ms)),
                );
                return Ok(Enqueued);
            }
            Ok(Verdict::Flood) => {
                flood_disconnect(socket, &ctx.session, ctx.state.clone());
                return Ok(Enqueued);
            }
        }
        let work = Work::Event(Box::new(QueuedEvent {
            event,
            payload,
            reply,
            received: std::time::Instant::now(),
        }));
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(Work::Event(queued))) =
            ctx.queue.tx.try_send(work)
        {
            let reply = queued.reply;
            ctx.state.metrics.rate_limited("ws");
            reply.send::<Done>(
                &socket,
                &ctx.session,
                &ctx.state.transports,
                Err(Error::rate_limited(1000)),
            );
        }
        Ok(Enqueued)
    }
}

/// The event name and its first argument, from the packet's raw JSON `["event", arg, …]`.
fn split_packet(v: &RawValue) -> (String, Option<Value>) {
    let parsed = v
        .as_str()
        .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
        .unwrap_or_default();
    let mut args = parsed.into_iter();
    let event = match args.next() {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    (event, args.next())
}

pub async fn on_event(_: Enqueued) {}

/// Kicks a flooding socket with the Socket.IO DISCONNECT packet (`io server disconnect`: it
/// must not come straight back). Not at once: socketioxide answers a packet for a socket that
/// has left with an Engine.IO CLOSE, so the rest of a flood still in flight (a long-poll
/// payload holds hundreds of events) would end the session before the DISCONNECT is read and
/// the client would reconnect. So the socket first goes quiet: what it sends is dropped, and
/// the DISCONNECT goes out once nothing has arrived for a moment (or after two seconds).
fn flood_disconnect<A: Adapter>(socket: SocketRef<A>, session: &Arc<Session>, state: AppState) {
    if !session.kick.begin() {
        return;
    }
    let session = session.clone();
    tracing::warn!(agent_id = %session.agent_id(), "socket flooding: disconnecting");
    tokio::spawn(async move {
        session.kick.quiet().await;
        // With its outgoing buffer full not even that packet fits: drop the transport instead.
        if socket.clone().disconnect().is_err() {
            state.transports.drop_session(&socket.id.to_string());
        }
        let details = json!({"scope": "ws", "reason": "event flood"});
        state
            .hub
            .audit_rate_limited(Some(session.agent_id()), session.ip.clone(), details)
            .await;
    });
}

/// Parses an event payload: one JSON object, with the fields of `T`.
pub fn parse<T: DeserializeOwned>(payload: Option<Value>) -> Result<T> {
    match payload {
        Some(v @ Value::Object(_)) => serde_json::from_value(v)
            .map_err(|e| Error::bad_request(format!("invalid payload: {e}"))),
        _ => Err(Error::bad_request("the payload must be one JSON object")),
    }
}

/// What an event handler gets.
pub struct EventCtx<'a, A: Adapter> {
    pub socket: &'a SocketRef<A>,
    pub session: &'a Arc<Session>,
    pub state: &'a AppState,
    /// When the event arrived (before queueing).
    pub received: std::time::Instant,
}

impl<A: Adapter> EventCtx<'_, A> {
    fn answer<T: Serialize>(&self, reply: Reply<A>, result: Result<T>) {
        reply.send(self.socket, self.session, &self.state.transports, result);
    }
}

/// Routes one event to its handler and answers it.
async fn handle<A: Adapter>(
    ctx: &EventCtx<'_, A>,
    event: &str,
    payload: Option<Value>,
    reply: Reply<A>,
) {
    // Each arm parses the payload into its request type and answers with its ack type.
    macro_rules! route {
        ($handler:path) => {{
            let result = match parse(payload) {
                Ok(req) => $handler(ctx, req).await,
                Err(e) => Err(e),
            };
            ctx.answer(reply, result)
        }};
    }
    match event {
        client::ROOM_JOIN => route!(rooms::join),
        client::ROOM_LEAVE => route!(rooms::leave),
        // `message:send` is pipelined by the worker and never comes here.
        client::MESSAGE_HISTORY => route!(messages::history),
        client::DM_SEND => route!(messages::dm),
        client::PRESENCE_SET => route!(presence::set),
        client::PRESENCE_LIST => route!(presence::list),
        client::AUTH_REFRESH => route!(refresh::refresh),
        client::STREAM_START => route!(streams::start),
        client::STREAM_DELTA => route!(streams::delta),
        client::STREAM_END => route!(streams::end),
        client::STREAM_ABORT => route!(streams::abort),
        client::ACTIVITY_SET => route!(activity::set),
        client::CURSOR_SET => route!(activity::cursor),
        // `rpc:call` is started by the worker and answers from a task of its own.
        client::RPC_CANCEL => route!(calls::cancel),
        client::RPC_PROGRESS => route!(calls::progress),
        _ => ctx.answer::<Done>(reply, Err(Error::bad_request("unknown event"))),
    }
}

/// At most this many of a socket's `message:send`s wait for their commit at once.
const MAX_PIPELINED_SENDS: usize = 32;

/// A submitted `message:send` and the reply it gets once committed.
type PendingSend<A> = Pin<Box<dyn Future<Output = (Reply<A>, Result<SendAck>)> + Send>>;

/// Waits for every pending send, oldest first, and answers each.
async fn answer_all<A: Adapter>(
    sends: &mut VecDeque<PendingSend<A>>,
    answer: impl Fn((Reply<A>, Result<SendAck>)),
) {
    while let Some(oldest) = sends.pop_front() {
        answer(oldest.await);
    }
}

/// Handles a socket's events in order until it disconnects, then cleans up.
///
/// Events are handled one at a time, except that consecutive `message:send`s are pipelined:
/// each is checked and queued for the write path in order — so their seqs follow the order
/// they were sent — while the ones before it still wait for their commit, and their acks go
/// out in order. Any other event first waits until every send before it is answered.
pub async fn worker<A: Adapter>(socket: SocketRef<A>, ctx: SocketCtx<A>, state: AppState) {
    let Some(mut rx) = ctx.queue.rx.lock().ok().and_then(|mut rx| rx.take()) else {
        return;
    };
    let session = ctx.session.clone();
    drop(ctx);
    let mut sends: VecDeque<PendingSend<A>> = VecDeque::new();
    let answer = |(reply, result): (Reply<A>, Result<SendAck>)| {
        reply.send(&socket, &session, &state.transports, result);
    };
    loop {
        let work = match sends.front_mut() {
            None => rx.recv().await,
            Some(oldest) => tokio::select! {
                biased;
                done = oldest => {
                    sends.pop_front();
                    answer(done);
                    continue;
                }
                work = rx.recv() => work,
            },
        };
        let Some(Work::Event(queued)) = work else {
            answer_all(&mut sends, answer).await;
            break;
        };
        let QueuedEvent {
            event,
            payload,
            reply,
            received,
        } = *queued;
        let span = tracing::info_span!(
            "socket.event",
            otel.name = %event,
            agent = %session.caller().agent.name,
            room = tracing::field::Empty,
        );
        let ectx = EventCtx {
            socket: &socket,
            session: &session,
            state: &state,
            received,
        };
        if event == client::MESSAGE_SEND {
            if sends.len() >= MAX_PIPELINED_SENDS
                && let Some(oldest) = sends.pop_front()
            {
                answer(oldest.await);
            }
            let submitted = match parse(payload) {
                Ok(req) => Box::pin(messages::submit(&ectx, req).instrument(span.clone())).await,
                Err(e) => Err(e),
            };
            sends.push_back(Box::pin(
                async move {
                    let result = match submitted {
                        Ok(submitted) => submitted.posted().await.map(SendAck::from),
                        Err(e) => Err(e),
                    };
                    (reply, result)
                }
                .instrument(span),
            ));
            continue;
        }
        answer_all(&mut sends, answer).await;
        if event == client::RPC_CALL {
            // Checked and sent in order; answered whenever the callee answers, without
            // holding up the socket's next events (its own rpc:cancel among them).
            let started = calls::start(&socket, &session, &state, payload).instrument(span.clone());
            match Box::pin(started).await {
                Ok(call) => calls::answer_later(
                    socket.clone(),
                    session.clone(),
                    state.clone(),
                    call,
                    reply,
                    span,
                ),
                Err(e) => ectx.answer::<Done>(reply, Err(e)),
            }
            continue;
        }
        // Boxed: the idle worker of every socket would otherwise carry the state of the
        // largest handler.
        Box::pin(handle(&ectx, &event, payload, reply).instrument(span)).await;
    }
    Box::pin(rooms::on_disconnect(&socket, &session, &state)).await;
}

#[cfg(test)]
mod fuzz {
    //! Property tests over event decoding and validation: whatever a client sends, parsing
    //! answers a documented error or a value, and never panics.

    use proptest::prelude::*;
    use serde_json::Value;

    use super::{parse, split_packet};
    use crate::error::ErrorCode;
    use crate::hub::MessageInput;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Exact binary fractions: they survive a JSON round trip unchanged.
            (-1_000_000i64..1_000_000).prop_map(|i| Value::from(i as f64 / 4.0)),
            ".{0,40}".prop_map(Value::String),
            "\\PC{0,20}\u{0}?".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("room".to_owned()),
                        Just("body".to_owned()),
                        Just("client_id".to_owned()),
                        Just("metadata".to_owned()),
                        Just("since".to_owned()),
                        Just("limit".to_owned()),
                        ".{0,8}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[derive(serde::Deserialize)]
    struct Send {
        #[allow(dead_code)]
        room: String,
        #[serde(flatten)]
        message: MessageInput,
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn any_payload_parses_or_is_refused_with_a_documented_code(payload in proptest::option::of(json())) {
            match parse::<Send>(payload) {
                Ok(send) => {
                    if let Err(e) = send.message.validate(16384) {
                        prop_assert!(matches!(e.code, ErrorCode::BadRequest | ErrorCode::PayloadTooLarge));
                    }
                }
                Err(e) => prop_assert_eq!(e.code, ErrorCode::BadRequest),
            }
        }

        #[test]
        fn any_packet_text_splits_without_panicking(text in ".{0,200}") {
            let raw = socketioxide::handler::Value::Str(text.into(), None);
            let _ = split_packet(&raw);
        }

        #[test]
        fn any_event_array_yields_its_name_and_first_argument(name in ".{0,20}", args in prop::collection::vec(json(), 0..4)) {
            let mut packet = vec![Value::String(name.clone())];
            packet.extend(args.iter().cloned());
            let text = serde_json::to_string(&packet).unwrap();
            let (event, first) = split_packet(&socketioxide::handler::Value::Str(text.into(), None));
            prop_assert_eq!(event, name);
            prop_assert_eq!(first, args.first().cloned());
        }
    }
}
