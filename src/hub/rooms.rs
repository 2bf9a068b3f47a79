//! Rooms: who may see, create, change and join them.

use entity::agents;
use serde_json::json;

use super::{Actor, Hub};
use crate::auth::Caller;
use crate::error::{Error, ErrorCode, Result};
use crate::model::{AgentName, AgentRef, AuditType, Room, RoomName, RoomPatch};
use crate::store::{NewRoom, StoreError};

pub fn validate_topic(topic: &str) -> Result<&str> {
    if topic.chars().count() > 512 || topic.contains('\0') {
        return Err(Error::bad_request(
            "topic must be at most 512 characters without U+0000",
        ));
    }
    Ok(topic)
}

impl Hub {
    /// A room the caller may read. Rooms it may not see answer `not_found`, exactly like
    /// rooms that do not exist, so private names do not leak.
    pub async fn readable_room(&self, caller: &Caller, name: &RoomName) -> Result<Room> {
        let room = self
            .store
            .room_by_name(name.as_str())
            .await?
            .ok_or_else(|| Error::not_found("room"))?;
        if !self.may_read(caller, &room).await? {
            return Err(Error::not_found("room"));
        }
        Ok(room)
    }

    /// The room a socket joins: readable and not archived; a missing plain room is created
    /// (public) when `ROOM_AUTO_CREATE` is on, except for observers.
    pub async fn room_for_join(&self, caller: &Caller, name: &RoomName) -> Result<Room> {
        let room = match self.store.room_by_name(name.as_str()).await? {
            Some(room) => room,
            None if name.is_dm() || !self.settings.room_auto_create => {
                return Err(Error::not_found("room"));
            }
            None => {
                if !caller.role.can_write() {
                    return Err(Error::forbidden("observers cannot create rooms"));
                }
                let actor = Actor {
                    agent_id: Some(caller.agent.id),
                    ip: None,
                };
                match self
                    .create_room(caller, actor, name.as_str(), None, false)
                    .await
                {
                    Ok(room) => room,
                    // Someone created it a moment ago.
                    Err(e) if e.code == ErrorCode::Conflict => self
                        .store
                        .room_by_name(name.as_str())
                        .await?
                        .ok_or_else(|| Error::not_found("room"))?,
                    Err(e) => return Err(e),
                }
            }
        };
        if !self.may_read(caller, &room).await? {
            return Err(Error::not_found("room"));
        }
        if room.is_archived() {
            return Err(Error::forbidden("the room is archived"));
        }
        Ok(room)
    }

    pub async fn may_read(&self, caller: &Caller, room: &Room) -> Result<bool> {
        Ok(caller.reads_without_membership(room)
            || self.store.is_member(room.id, caller.agent.id).await?)
    }

    pub async fn create_room(
        &self,
        caller: &Caller,
        actor: Actor,
        name: &str,
        topic: Option<&str>,
        private: bool,
    ) -> Result<Room> {
        caller.require_writer()?;
        let name = RoomName::parse_plain(name)?;
        let topic = topic.map(validate_topic).transpose()?.map(str::to_owned);
        if !caller.is_admin() {
            self.check_room_quota(caller).await?;
        }
        let room = self
            .store
            .create_room(
                NewRoom {
                    name,
                    topic,
                    private,
                    created_by: caller.agent.id,
                    creator: caller.agent.name.clone(),
                },
                &[],
            )
            .await?;
        self.audit(
            AuditType::RoomCreated,
            actor.agent_id,
            actor.ip,
            json!({"room": room.name.as_str(), "private": room.private}),
        )
        .await;
        Ok(room)
    }

    /// `ROOM_CREATES_PER_HOUR` (SPEC §5): counted from the rooms table, so it holds across
    /// nodes; DM rooms do not count. Past it: `rate_limited` until the oldest creation of the
    /// last hour is an hour old.
    async fn check_room_quota(&self, caller: &Caller) -> Result<()> {
        let hour = chrono::Duration::hours(1);
        let now = chrono::Utc::now();
        let (count, oldest) = self
            .store
            .rooms_created_since(caller.agent.id, now - hour)
            .await?;
        if count < u64::from(self.settings.room_creates_per_hour) {
            return Ok(());
        }
        let wait = oldest.map_or(hour, |at| at + hour - now);
        Err(Error::rate_limited(wait.num_milliseconds().max(1) as u64))
    }

    /// The DM room of the caller and `to`, created by the first sender — unless the message
    /// that would open it answers one (`reply_to`): in a room that does not exist yet there
    /// is nothing to answer, and a refused send must not leave a room behind.
    pub async fn dm_room(&self, caller: &Caller, to: &str, reply_to: Option<i64>) -> Result<Room> {
        caller.require_writer()?;
        let to = AgentName::parse(to)?;
        if to.as_str() == caller.agent.name {
            return Err(Error::bad_request(
                "cannot send a direct message to oneself",
            ));
        }
        let other = self
            .store
            .agent_by_name(to.as_str())
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or_else(|| Error::not_found("agent"))?;
        let me = AgentName::parse(&caller.agent.name)?;
        let name = RoomName::dm(&me, &to);
        if let Some(room) = self.store.room_by_name(name.as_str()).await? {
            return Ok(room);
        }
        if reply_to.is_some() {
            return Err(Error::not_found("message to reply to"));
        }
        let created = self
            .store
            .create_room(
                NewRoom {
                    name: name.clone(),
                    topic: None,
                    private: true,
                    created_by: caller.agent.id,
                    creator: caller.agent.name.clone(),
                },
                &[other.id],
            )
            .await;
        match created {
            Ok(room) => Ok(room),
            // The other agent opened it at the same moment: use theirs.
            Err(StoreError::Conflict(_)) => self
                .store
                .room_by_name(name.as_str())
                .await?
                .ok_or_else(|| Error::not_found("room")),
            Err(e) => Err(e.into()),
        }
    }

    /// The room a REST post goes to. A post to `dm:<a>:<b>` by `a` or `b` is a DM, so the
    /// room is created by that first post, like `dm:send` does.
    pub async fn room_for_post(&self, caller: &Caller, name: &RoomName) -> Result<Room> {
        if let Some((a, b)) = name.dm_agents() {
            let me = caller.agent.name.as_str();
            if me == a || me == b {
                return self
                    .dm_room(caller, if me == a { b } else { a }, None)
                    .await;
            }
        }
        self.readable_room(caller, name).await
    }

    /// Changes topic or archived state: the room's creator or an admin.
    pub async fn update_room(
        &self,
        caller: &Caller,
        actor: Actor,
        name: &RoomName,
        patch: RoomPatch,
    ) -> Result<Room> {
        let room = self.readable_room(caller, name).await?;
        caller.require_room_owner(&room)?;
        if let Some(Some(topic)) = &patch.topic {
            validate_topic(topic)?;
        }
        let details = json!({
            "room": room.name.as_str(),
            "topic": patch.topic,
            "archived": patch.archived,
        });
        let room = self.store.update_room(room, patch).await?;
        self.audit(AuditType::RoomUpdated, actor.agent_id, actor.ip, details)
            .await;
        Ok(room)
    }

    /// Adds or removes a private-room member (`PUT`/`DELETE /rooms/{name}/members/{agent}`).
    pub async fn set_member(
        &self,
        caller: &Caller,
        room: &RoomName,
        agent: &str,
        member: bool,
    ) -> Result<()> {
        let room = self.readable_room(caller, room).await?;
        caller.require_room_owner(&room)?;
        if room.name.is_dm() {
            return Err(Error::forbidden(
                "the members of a dm room are its two agents",
            ));
        }
        let agent: agents::Model = self
            .store
            .agent_by_name(AgentName::parse(agent)?.as_str())
            .await?
            .ok_or_else(|| Error::not_found("agent"))?;
        if member {
            self.store.add_member(room.id, agent.id).await?;
        } else {
            self.store.remove_member(room.id, agent.id).await?;
            // Its live sockets stop reading the room now, on every node (SPEC §5).
            if room.private {
                let agent = AgentRef::from_model(&agent);
                self.fanout
                    .removed_from_room(room.name.as_str(), &agent)
                    .await;
                // Its streams and activity there end (those held by this node; other nodes'
                // streams end at their next delta, their activity expires).
                self.abort_agent_streams(agent.id, room.name.as_str());
                self.activity_left(&agent, room.name.as_str());
            }
        }
        Ok(())
    }
}
