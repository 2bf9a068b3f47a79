//! What the presence scripts answer, by name: each script that returns more than a number
//! returns one JSON document (`cjson.encode`), decoded here.

use serde::{Deserialize, Deserializer};

use crate::model::{AgentRef, MemberView};

/// Lua's cjson writes an empty table as `{}`: read that as an empty list.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List<T> {
        Items(Vec<T>),
        Empty {},
    }
    Ok(match List::deserialize(d)? {
        List::Items(items) => items,
        List::Empty {} => Vec::new(),
    })
}

/// `join.lua`: the agent as a member of the room after the join.
#[derive(Debug, Deserialize)]
pub struct Joined {
    /// The agent's first socket in the room.
    pub first: bool,
    pub connections: u32,
    pub since: String,
    pub status: String,
    pub note: Option<String>,
}

/// `set_status.lua`: the agent's sockets everywhere and in each of its rooms.
#[derive(Debug, Deserialize)]
pub struct StatusSet {
    pub since: String,
    pub connections: u32,
    #[serde(deserialize_with = "list")]
    pub rooms: Vec<RoomPresence>,
}

#[derive(Debug, Deserialize)]
pub struct RoomPresence {
    pub room: String,
    pub connections: u32,
    pub since: String,
}

/// `members.lua`: one member of a room.
#[derive(Debug, Deserialize)]
pub struct Member {
    pub agent: String,
    pub name: String,
    pub dn: String,
    pub connections: u32,
    pub since: String,
    pub status: String,
    pub note: Option<String>,
}

/// `members.lua`'s whole answer.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Members(#[serde(deserialize_with = "list")] pub Vec<Member>);

impl Member {
    pub fn view(self) -> Option<MemberView> {
        Some(MemberView {
            agent: AgentRef {
                id: self.agent.parse().ok()?,
                name: self.name,
                display_name: self.dn,
            },
            status: self.status,
            note: self.note,
            connections: self.connections,
            since: self.since,
        })
    }
}

/// Decodes a script's JSON answer; a reply that does not parse is logged and read as none.
pub fn decode<T: for<'de> Deserialize<'de>>(script: &'static str, json: &str) -> Option<T> {
    match serde_json::from_str(json) {
        Ok(reply) => Some(reply),
        Err(e) => {
            tracing::error!(error = %e, script, reply = json, "unexpected presence script reply");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lua_tables_read_as_empty_lists() {
        let s: StatusSet =
            serde_json::from_str(r#"{"since":"t","connections":1,"rooms":{}}"#).unwrap();
        assert!(s.rooms.is_empty());
        let m: Members = serde_json::from_str("{}").unwrap();
        assert!(m.0.is_empty());
        let m: Members = serde_json::from_str(
            r#"[{"agent":"00000000-0000-0000-0000-000000000000","name":"a","dn":"A","connections":2,"since":"t","status":"away","note":"n"}]"#,
        )
        .unwrap();
        let view = m.0.into_iter().next().unwrap().view().unwrap();
        assert_eq!((view.connections, view.note.as_deref()), (2, Some("n")));
    }
}
