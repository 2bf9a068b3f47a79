//! `auth:refresh`: a JWT socket swaps in a fresh JWT of the same agent before expiry.

use socketioxide::adapter::Adapter;

use super::dispatch::EventCtx;
use super::protocol::{RefreshAck, RefreshRequest};
use super::token_key;
use crate::auth::{CredentialKind, keys};
use crate::error::{Error, Result};
use crate::model::timestamp;

pub async fn refresh<A: Adapter>(ctx: &EventCtx<'_, A>, req: RefreshRequest) -> Result<RefreshAck> {
    let current = ctx.session.caller();
    if current.kind == CredentialKind::ApiKey {
        return Err(Error::bad_request(
            "this socket connected with an API key, which does not expire",
        ));
    }
    if keys::is_api_key(&req.token) {
        return Err(Error::bad_request(
            "auth:refresh takes a JWT, not an API key",
        ));
    }
    let caller = ctx.state.auth.authenticate(&req.token).await?;
    if caller.agent.id != current.agent.id {
        return Err(Error::forbidden("the JWT belongs to another agent"));
    }
    let CredentialKind::Jwt { expires_at } = caller.kind else {
        return Err(Error::bad_request("auth:refresh takes a JWT"));
    };
    let new_token = caller.token_id;
    let old_token = ctx.session.refresh(caller);
    if old_token != new_token {
        ctx.socket.leave(token_key(old_token));
        ctx.socket.join(token_key(new_token));
    }
    Ok(RefreshAck {
        expires_at: timestamp(expires_at),
    })
}
