//! `rpc:call`, `rpc:cancel`, `rpc:progress` (SPEC §12): calls between agents, on one node or
//! across nodes through the adapter.
//!
//! A call does not hold up its socket's other events: the worker checks and starts it in
//! order, and the call answers its ack from a task of its own when the callee answers, the
//! deadline passes, the caller cancels, or the callee's socket is gone. The callee's socket
//! is one of the agent's sockets on this node if it has any, else one of its sockets on other
//! nodes (from presence), chosen at random; the request goes to that socket's own room through
//! the adapter, so the same code reaches either.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use socketioxide::AckError;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::dispatch::{EventCtx, Reply, parse};
use super::protocol::{CallAck, CancelRequest, Done, ProgressRequest, server};
use super::session::Session;
use crate::error::{Error, Result};
use crate::hub::{Call, CallInput, Outcome, answer_of, caller_socket_of};
use crate::model::agent_key;
use crate::state::AppState;

/// How often a call checks that its callee's socket is still there (a dead node's sockets
/// leave presence when the reaper runs, SPEC §8).
const CALLEE_CHECK: Duration = Duration::from_millis(500);

#[derive(Serialize)]
struct Accepted<'a> {
    id: &'a str,
    to: &'a str,
    method: &'a str,
}

#[derive(Serialize)]
struct Canceled<'a> {
    id: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Progress<'a> {
    id: &'a str,
    data: &'a Value,
}

/// A call started: sent to the callee, waiting for what ends it.
pub struct Started {
    call: Call,
    callee: String,
    canceled: tokio::sync::oneshot::Receiver<()>,
}

/// Checks a call and sends it to one socket of the callee, in the socket's event order, so
/// its `rpc:accepted` comes before those of the socket's later calls: a caller tells its
/// calls apart by that order.
pub async fn start<A: Adapter>(
    socket: &SocketRef<A>,
    session: &Session,
    state: &AppState,
    payload: Option<Value>,
) -> Result<Started> {
    let input: CallInput = parse(payload)?;
    let caller = session.caller();
    let call = state.hub.prepare_call(&caller, &session.sid, input).await?;
    let Some(callee) = pick_socket(socket, session, state, call.callee.id).await else {
        return Err(Error::not_found("an online socket of that agent"));
    };
    let canceled = state.hub.start_call(&call.id, &session.sid, &callee)?;
    let accepted = Accepted {
        id: &call.id,
        to: &call.callee.name,
        method: &call.method,
    };
    let _ = socket.emit(server::RPC_ACCEPTED, &accepted);
    Ok(Started {
        call,
        callee,
        canceled,
    })
}

/// Waits for the call's end in a task of its own, and answers the caller's ack then.
pub fn answer_later<A: Adapter>(
    socket: SocketRef<A>,
    session: Arc<Session>,
    state: AppState,
    started: Started,
    reply: Reply<A>,
    span: tracing::Span,
) {
    let task = async move {
        let Started {
            call,
            callee,
            canceled,
        } = started;
        let (outcome, result) = await_answer(&socket, &state, &call, &callee, canceled).await;
        match outcome {
            Outcome::Timeout => tell_callee(&socket, &callee, &call.id, "timeout").await,
            Outcome::Canceled => tell_callee(&socket, &callee, &call.id, "canceled").await,
            _ => {}
        }
        state.hub.finish_call(&call, outcome);
        let result = result.map(|result| CallAck { result });
        reply.send(&socket, &session, &state.transports, result);
    };
    tokio::spawn(tracing::Instrument::instrument(task, span));
}

/// One socket of the callee: on this node if it has one there, else anywhere; never the
/// calling socket itself.
async fn pick_socket<A: Adapter>(
    socket: &SocketRef<A>,
    session: &Session,
    state: &AppState,
    callee: uuid::Uuid,
) -> Option<String> {
    let pick = |ids: Vec<String>| -> Option<String> {
        let ids: Vec<String> = ids.into_iter().filter(|id| *id != session.sid).collect();
        (!ids.is_empty()).then(|| ids[rand::random_range(0..ids.len())].clone())
    };
    let local = socket.within(agent_key(callee)).local().sockets();
    if let Some(id) = pick(local.iter().map(|s| s.id.to_string()).collect()) {
        return Some(id);
    }
    // Presence knows every node's sockets in one lookup (a dead node's until it is reaped;
    // a call sent there fails `unavailable` when the reaper takes them out).
    pick(state.presence.sockets_of(callee).await)
}

/// Sends `rpc:request` to the callee's socket and waits for what ends the call.
async fn await_answer<A: Adapter>(
    socket: &SocketRef<A>,
    state: &AppState,
    call: &Call,
    callee: &str,
    canceled: tokio::sync::oneshot::Receiver<()>,
) -> (Outcome, Result<Value>) {
    let timed_out = || {
        (
            Outcome::Timeout,
            Err(Error::new(
                crate::error::ErrorCode::Timeout,
                "the callee did not answer before the deadline",
            )),
        )
    };
    let gone = || {
        (
            Outcome::Unavailable,
            Err(Error::new(
                crate::error::ErrorCode::Unavailable,
                "the callee's socket is gone",
            )),
        )
    };
    let sent = socket
        .within(callee.to_owned())
        .timeout(call.timeout)
        .emit_with_ack::<_, Value>(server::RPC_REQUEST, &call.request)
        .await;
    let mut acks = match sent {
        Ok(acks) => Box::pin(acks),
        Err(e) => {
            tracing::warn!(error = %e, "rpc:request could not be sent");
            return gone();
        }
    };
    let callee_agent = call.callee.id;
    let watch_callee = async {
        loop {
            tokio::time::sleep(CALLEE_CHECK).await;
            if !state.presence.has_socket(callee_agent, callee).await {
                return;
            }
        }
    };
    let max = state.settings.max_message_bytes;
    tokio::select! {
        first = acks.next() => match first {
            Some((_, Ok(ack))) => {
                let result = answer_of(ack, max);
                let outcome = if result.is_ok() { Outcome::Ok } else { Outcome::Error };
                (outcome, result)
            }
            Some((_, Err(AckError::Timeout))) => timed_out(),
            // Gone before it answered (or never reached).
            Some((_, Err(_))) | None => gone(),
        },
        Ok(()) = canceled => (Outcome::Canceled, Err(Error::conflict("canceled"))),
        () = watch_callee => gone(),
        // The ack stream times out by itself; this is the backstop.
        () = tokio::time::sleep(call.timeout + Duration::from_millis(250)) => timed_out(),
    }
}

/// `rpc:cancel {"id","reason"}` to the callee's socket, on whichever node.
async fn tell_callee<A: Adapter>(socket: &SocketRef<A>, callee: &str, id: &str, reason: &str) {
    let body = Canceled { id, reason };
    if let Err(e) = socket
        .within(callee.to_owned())
        .emit(server::RPC_CANCEL, &body)
        .await
    {
        tracing::debug!(error = %e, "rpc:cancel did not reach the callee");
    }
}

/// `rpc:cancel` from the caller: the call answers `conflict` (`canceled`) at once.
pub async fn cancel<A: Adapter>(ctx: &EventCtx<'_, A>, req: CancelRequest) -> Result<Done> {
    ctx.state.hub.cancel_call(&ctx.session.sid, &req.id)?;
    Ok(Done {})
}

/// `rpc:progress` from the callee, to the caller's socket on whichever node.
pub async fn progress<A: Adapter>(ctx: &EventCtx<'_, A>, req: ProgressRequest) -> Result<Done> {
    let max = ctx.state.settings.max_message_bytes;
    if serde_json::to_vec(&req.data).map_or(usize::MAX, |v| v.len()) > max {
        return Err(Error::payload_too_large(format!(
            "data exceeds {max} bytes (MAX_MESSAGE_BYTES)"
        )));
    }
    let caller = caller_socket_of(&req.id).ok_or_else(|| Error::not_found("call"))?;
    match ctx.state.hub.is_callee_of(&req.id, &ctx.session.sid) {
        Some(true) => {}
        Some(false) => return Err(Error::not_found("call")),
        // Not in flight here: over, if its caller is on this node; else the id is the
        // capability and the caller's node is elsewhere.
        None if !ctx
            .socket
            .within(caller.to_owned())
            .local()
            .sockets()
            .is_empty() =>
        {
            return Err(Error::not_found("call"));
        }
        None => {}
    }
    let body = Progress {
        id: &req.id,
        data: &req.data,
    };
    if let Err(e) = ctx
        .socket
        .within(caller.to_owned())
        .emit(server::RPC_PROGRESS, &body)
        .await
    {
        tracing::debug!(error = %e, "rpc:progress did not reach the caller");
    }
    Ok(Done {})
}
