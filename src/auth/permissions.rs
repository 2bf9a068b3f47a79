//! Who may do what (SPEC §4–§6): the authenticated caller and every permission rule of the
//! hub, in one place. REST, Socket.IO and the hub's use cases ask here; none writes a rule
//! of its own.

use chrono::{DateTime, Utc};
use entity::{agents, api_tokens};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{Role, Room};
use crate::store::Viewer;

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    /// A JWT, valid until `expires_at`.
    Jwt {
        expires_at: DateTime<Utc>,
    },
}

/// An authenticated agent, as every handler sees it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub agent: agents::Model,
    pub role: Role,
    /// The API token behind the credential (the key itself, or the JWT's `tid`).
    pub token_id: Uuid,
    pub kind: CredentialKind,
}

/// The rule every use of a credential repeats: its token is neither revoked nor expired and
/// its agent is not disabled.
pub fn credential_live(
    token: &api_tokens::Model,
    agent: &agents::Model,
    now: DateTime<Utc>,
) -> bool {
    token.revoked_at.is_none()
        && token.expires_at.is_none_or(|e| e > now)
        && agent.disabled_at.is_none()
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn viewer(&self) -> Viewer {
        Viewer {
            agent_id: self.agent.id,
            is_admin: self.is_admin(),
        }
    }

    /// Agents and admins write; observers only read.
    pub fn require_writer(&self) -> Result<()> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(Error::forbidden("observers cannot do this"))
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::forbidden("admin only"))
        }
    }

    /// Admins manage every agent's tokens; agents their own.
    pub fn require_admin_or_self(&self, agent_id: Uuid) -> Result<()> {
        if self.is_admin() || self.agent.id == agent_id {
            Ok(())
        } else {
            Err(Error::forbidden(
                "only an admin or the agent itself may do this",
            ))
        }
    }

    /// A leaked 15-minute JWT must not become a key that never expires (SPEC §6): minting a
    /// token takes an API key, unless the caller is an admin.
    pub fn require_key_to_mint(&self) -> Result<()> {
        if self.is_admin() || self.kind == CredentialKind::ApiKey {
            Ok(())
        } else {
            Err(Error::forbidden(
                "creating a token needs an API key (or an admin); a JWT cannot mint one",
            ))
        }
    }

    /// Another agent's token does not exist for a non-admin.
    pub fn may_see_token_of(&self, owner: Uuid) -> bool {
        self.is_admin() || self.agent.id == owner
    }

    /// Topic, archival and private members: the room's creator or an admin.
    pub fn require_room_owner(&self, room: &Room) -> Result<()> {
        if self.is_admin() || room.created_by == self.agent.id {
            Ok(())
        } else {
            Err(Error::forbidden(
                "only the room's creator or an admin may do this",
            ))
        }
    }

    /// Whether the caller reads `room` whatever its membership list says: a public room, or
    /// any room for an admin. Everyone else reads a private room as a member.
    pub fn reads_without_membership(&self, room: &Room) -> bool {
        !room.private || self.is_admin()
    }

    /// Posting to `room`: a writer, a room not archived, and of a `dm:` room one of its two
    /// agents.
    pub fn require_poster(&self, room: &Room) -> Result<()> {
        self.require_writer()?;
        if room.is_archived() {
            return Err(Error::forbidden("the room is archived"));
        }
        if room.name.is_dm() && !room.name.is_dm_of(&self.agent.name) {
            return Err(Error::forbidden("only its two agents post to a dm room"));
        }
        Ok(())
    }
}
