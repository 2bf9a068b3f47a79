//! Streamed messages (SPEC §11): an LLM's answer broadcast as it grows, stored as one
//! ordinary message when it ends.
//!
//! An open stream lives in memory on the node of the socket that started it (and, with
//! Redis, as a copy for the other nodes' `room:join`, [`DraftMirror`]). Only that socket may
//! feed, end or abort it. Its message takes its seq when it ends, through the same write
//! path as every send, so rooms stay gap-free and a client that knows nothing of streams sees
//! one `message:new`. An aborted stream leaves nothing stored. A node that dies mid-stream
//! takes its streams with it: they were never acknowledged, and their copies expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use super::messages::{MessageInput, check_metadata, check_reply_to};
use super::{Hub, Origin, Posted, RoomEvent};
use crate::auth::Caller;
use crate::cluster::DraftMirror;
use crate::error::{Error, Result};
use crate::model::{AgentRef, DraftView, Room, StreamAborted, StreamDelta, StreamView, timestamp};
use crate::telemetry::OutcomeLabels;

/// A stream without a delta for this long is aborted (`timeout`).
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A sender's abort `reason` may not exceed this many characters.
pub const MAX_REASON_CHARS: usize = 140;

struct OpenStream {
    view: StreamView,
    /// The room as the socket joined it.
    room: Room,
    /// The socket that started it: the only one that may feed, end or abort it.
    socket: String,
    text: String,
    /// The index of the last delta, -1 before the first.
    index: i64,
    last_delta: Instant,
    /// Its message is being committed: the idle timeout leaves it alone.
    ending: bool,
}

/// The open streams of this node, by id.
pub struct Streams {
    open: Mutex<HashMap<String, OpenStream>>,
    mirror: Option<DraftMirror>,
}

impl Streams {
    pub fn new(mirror: Option<DraftMirror>) -> Self {
        Self {
            open: Mutex::default(),
            mirror,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OpenStream>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why the server aborted a stream.
#[derive(Debug, Clone, Copy)]
pub enum AbortReason {
    /// No delta for [`STREAM_IDLE_TIMEOUT`].
    Timeout,
    /// Its socket is gone.
    Disconnected,
    /// Its text would pass `MAX_MESSAGE_BYTES`.
    TooLarge,
    /// Its socket left the room (or was removed from it).
    Left,
    /// `stream:end` repeated a `client_id` already stored: that message stands instead.
    Duplicate,
}

impl AbortReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Disconnected => "disconnected",
            Self::TooLarge => "too_large",
            Self::Left => "left",
            Self::Duplicate => "duplicate",
        }
    }
}

impl Hub {
    /// `stream:start` from a socket in `room` (same permissions as a send).
    pub async fn start_stream(
        &self,
        caller: &Caller,
        room: &Room,
        socket: &str,
        metadata: Option<Value>,
        reply_to: Option<i64>,
    ) -> Result<StreamView> {
        caller.require_poster(room)?;
        check_metadata(metadata.as_ref())?;
        check_reply_to(reply_to)?;
        // Archival as stored now, not as joined: a stream into a read-only room could
        // never end.
        let current = self.store.room_by_name(room.name.as_str()).await?;
        if current.as_ref().is_none_or(Room::is_archived) {
            return Err(Error::forbidden("the room is archived"));
        }
        self.check_reply_exists(current.as_ref().unwrap_or(room), reply_to)
            .await?;
        let max = self.settings.max_streams_per_socket;
        let view = StreamView {
            id: format!("st_{}", uuid::Uuid::now_v7().simple()),
            room: room.name.to_string(),
            sender: AgentRef::from_model(&caller.agent),
            metadata: metadata.filter(|m| !m.is_null()),
            reply_to,
            started_at: timestamp(Utc::now()),
        };
        {
            let mut open = self.streams.lock();
            if open.values().filter(|s| s.socket == socket).count() >= max {
                return Err(Error::conflict(format!(
                    "a socket may have at most {max} open streams (MAX_STREAMS_PER_SOCKET)"
                )));
            }
            open.insert(
                view.id.clone(),
                OpenStream {
                    view: view.clone(),
                    room: room.clone(),
                    socket: socket.to_owned(),
                    text: String::new(),
                    index: -1,
                    last_delta: Instant::now(),
                    ending: false,
                },
            );
        }
        self.metrics.streams_open.inc();
        if let Some(mirror) = &self.streams.mirror {
            mirror.opened(
                &view.id,
                &view.room,
                &serde_json::to_value(&view).unwrap_or_default(),
            );
        }
        self.broadcast(
            &room.name,
            RoomEvent::StreamStarted(view.clone()),
            Some(socket),
        );
        Ok(view)
    }

    /// The room of a stream `socket` started (`not_found` for any other).
    pub fn stream_room(&self, socket: &str, id: &str) -> Result<Room> {
        self.streams
            .lock()
            .get(id)
            .filter(|s| s.socket == socket)
            .map(|s| s.room.clone())
            .ok_or_else(|| Error::not_found("stream"))
    }

    /// `stream:delta`: appends `text` and broadcasts it; answers its index. Past
    /// `MAX_MESSAGE_BYTES` the stream is aborted (`too_large`).
    pub fn feed_stream(&self, socket: &str, id: &str, text: &str) -> Result<i64> {
        if text.is_empty() {
            return Err(Error::bad_request("text must not be empty"));
        }
        if text.contains('\0') {
            return Err(Error::bad_request("text must not contain U+0000"));
        }
        let max = self.settings.max_message_bytes;
        let (room, index) = {
            let mut open = self.streams.lock();
            let stream = open
                .get_mut(id)
                .filter(|s| s.socket == socket && !s.ending)
                .ok_or_else(|| Error::not_found("stream"))?;
            if stream.text.len() + text.len() > max {
                drop(open);
                self.abort_stream_as(id, AbortReason::TooLarge);
                return Err(Error::payload_too_large(format!(
                    "the stream's text exceeds {max} bytes (MAX_MESSAGE_BYTES): it is aborted"
                )));
            }
            stream.text.push_str(text);
            stream.index += 1;
            stream.last_delta = Instant::now();
            (stream.room.name.clone(), stream.index)
        };
        if let Some(mirror) = &self.streams.mirror {
            mirror.fed(id, room.as_str(), index, text);
        }
        let delta = StreamDelta {
            id: id.to_owned(),
            room: room.to_string(),
            index,
            text: text.to_owned(),
        };
        self.broadcast(&room, RoomEvent::StreamDelta(delta), Some(socket));
        Ok(index)
    }

    /// `stream:end`: stores the stream's text as one message through the write path and
    /// broadcasts it as `message:new` with `stream` set. An empty stream is `bad_request`
    /// and stays open; so does one whose write fails (the sender may end it again).
    pub async fn end_stream(
        &self,
        caller: &Caller,
        socket: &str,
        id: &str,
        client_id: Option<String>,
        origin: Origin<'_>,
    ) -> Result<Posted> {
        let (room, input) = {
            let mut open = self.streams.lock();
            let stream = open
                .get_mut(id)
                .filter(|s| s.socket == socket && !s.ending)
                .ok_or_else(|| Error::not_found("stream"))?;
            if stream.text.is_empty() {
                return Err(Error::bad_request(
                    "the stream is empty: send a delta first",
                ));
            }
            let input = MessageInput {
                body: stream.text.clone(),
                client_id,
                metadata: stream.view.metadata.clone(),
                reply_to: stream.view.reply_to,
            };
            stream.ending = true;
            (stream.room.clone(), input)
        };
        let result = match input.validate(self.settings.max_message_bytes) {
            Ok(message) => {
                let message = message.ending_stream(id);
                self.post_message(caller, &room, message, origin).await
            }
            Err(e) => Err(e),
        };
        match &result {
            Ok(posted) if posted.duplicate => self.abort_stream_as(id, AbortReason::Duplicate),
            Ok(_) => {
                if self.close_stream(id).is_some() {
                    self.metrics
                        .streams_total
                        .get_or_create(&OutcomeLabels { outcome: "ended" })
                        .inc();
                }
            }
            Err(_) => {
                if let Some(s) = self.streams.lock().get_mut(id) {
                    s.ending = false;
                }
            }
        }
        result
    }

    /// `stream:abort` by its socket; `reason` defaults to `aborted`.
    pub fn abort_stream(&self, socket: &str, id: &str, reason: Option<String>) -> Result<()> {
        let reason = reason.unwrap_or_else(|| "aborted".to_owned());
        if reason.chars().count() > MAX_REASON_CHARS || reason.contains('\0') {
            return Err(Error::bad_request(
                "reason must be at most 140 characters without U+0000",
            ));
        }
        self.stream_room(socket, id)?;
        self.abort_with(id, reason, false);
        Ok(())
    }

    /// Aborts every stream of a socket that is gone, or (with `room`) that left that room.
    pub fn abort_streams_of(&self, socket: &str, room: Option<&str>, reason: AbortReason) {
        self.abort_where(reason, |s| {
            s.socket == socket && room.is_none_or(|r| s.room.name.as_str() == r)
        });
    }

    /// Aborts an agent's streams in a room it was removed from (`left`).
    pub fn abort_agent_streams(&self, agent: uuid::Uuid, room: &str) {
        self.abort_where(AbortReason::Left, |s| {
            s.view.sender.id == agent && s.room.name.as_str() == room
        });
    }

    /// Aborts the streams that had no delta for [`STREAM_IDLE_TIMEOUT`].
    pub fn abort_idle_streams(&self) {
        self.abort_where(AbortReason::Timeout, |s| {
            s.last_delta.elapsed() >= STREAM_IDLE_TIMEOUT
        });
    }

    /// Aborts the open streams that `which` picks. One being committed is left to its end
    /// (which answers either way).
    fn abort_where(&self, reason: AbortReason, which: impl Fn(&OpenStream) -> bool) {
        let ids: Vec<String> = self
            .streams
            .lock()
            .iter()
            .filter(|(_, s)| !s.ending && which(s))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.abort_stream_as(&id, reason);
        }
    }

    /// A stream the server aborts. Its sender learns of the other reasons from the answer
    /// to its own event; a timeout comes unasked, so the sender's socket is told too.
    fn abort_stream_as(&self, id: &str, reason: AbortReason) {
        let tell_sender = matches!(reason, AbortReason::Timeout);
        self.abort_with(id, reason.as_str().to_owned(), tell_sender);
    }

    /// Forgets a stream and tells its room (and, with `tell_sender`, its socket) it was
    /// aborted.
    fn abort_with(&self, id: &str, reason: String, tell_sender: bool) {
        let Some(stream) = self.close_stream(id) else {
            return;
        };
        self.metrics
            .streams_total
            .get_or_create(&OutcomeLabels { outcome: "aborted" })
            .inc();
        let event = StreamAborted {
            id: id.to_owned(),
            room: stream.room.name.to_string(),
            reason,
        };
        let except = (!tell_sender).then_some(stream.socket.as_str());
        self.broadcast(&stream.room.name, RoomEvent::StreamAborted(event), except);
    }

    /// Removes a stream from this node and from Redis.
    fn close_stream(&self, id: &str) -> Option<OpenStream> {
        let stream = self.streams.lock().remove(id)?;
        self.metrics.streams_open.dec();
        if let Some(mirror) = &self.streams.mirror {
            mirror.dropped(id, stream.room.name.as_str());
        }
        Some(stream)
    }

    /// The open streams of a room with their text so far: this node's, and with Redis the
    /// other nodes' (`room:join`'s `streams`), oldest first.
    pub async fn open_streams(&self, room: &str) -> Vec<DraftView> {
        let mut drafts: Vec<DraftView> = self
            .streams
            .lock()
            .values()
            .filter(|s| s.room.name.as_str() == room)
            .map(|s| DraftView {
                stream: serde_json::to_value(&s.view).unwrap_or_default(),
                text: s.text.clone(),
                index: s.index,
            })
            .collect();
        if let Some(mirror) = &self.streams.mirror {
            for d in mirror.list(room).await {
                let id = d.stream.get("id").cloned();
                if drafts.iter().all(|o| o.stream.get("id") != id.as_ref()) {
                    drafts.push(DraftView {
                        stream: d.stream,
                        text: d.text,
                        index: d.index,
                    });
                }
            }
        }
        // Ids are UUID v7: by start time.
        drafts.sort_by(|a, b| a.stream["id"].as_str().cmp(&b.stream["id"].as_str()));
        drafts
    }
}

/// Aborts idle streams once a second until `stop`.
pub async fn sweep_idle_streams(hub: Hub, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => hub.abort_idle_streams(),
        }
    }
}
