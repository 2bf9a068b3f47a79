//! Names parsed once at the edge: inside, an `AgentName` or `RoomName` is always valid.

use std::fmt;

use crate::error::Error;

/// `^[a-z0-9][a-z0-9_.-]{0,63}$`, the pattern of agent and room names.
fn is_valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b[1..].iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentName(String);

impl AgentName {
    pub fn parse(s: &str) -> Result<Self, Error> {
        if is_valid_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::bad_request(
                "agent name must match ^[a-z0-9][a-z0-9_.-]{0,63}$",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A room name: a plain name, or `dm:<a>:<b>` (the two agent names, sorted) for direct messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomName(String);

impl RoomName {
    /// The prefix of direct-message rooms, for queries that tell them apart (`LIKE 'dm:%'`).
    pub const DM_PREFIX: &'static str = "dm:";

    /// A name read back from the store, validated when the room was created.
    pub(crate) fn stored(name: String) -> Self {
        Self(name)
    }

    /// Parses a name a client may create: plain names only (`dm:` is reserved).
    pub fn parse_plain(s: &str) -> Result<Self, Error> {
        if is_valid_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::bad_request(
                "room name must match ^[a-z0-9][a-z0-9_.-]{0,63}$",
            ))
        }
    }

    /// Parses a name a client may refer to: plain or a well-formed `dm:` name.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.strip_prefix(Self::DM_PREFIX) {
            None => Self::parse_plain(s),
            Some(rest) => match rest.split_once(':') {
                Some((a, b)) if is_valid_name(a) && is_valid_name(b) && a < b => {
                    Ok(Self(s.to_owned()))
                }
                _ => Err(Error::bad_request(
                    "a dm room is named dm:<a>:<b> with the two agent names sorted",
                )),
            },
        }
    }

    /// The DM room of two distinct agents.
    pub fn dm(a: &AgentName, b: &AgentName) -> Self {
        let (x, y) = if a < b { (a, b) } else { (b, a) };
        Self(format!("dm:{}:{}", x.as_str(), y.as_str()))
    }

    /// The two agents of a `dm:` room.
    pub fn dm_agents(&self) -> Option<(&str, &str)> {
        self.0.strip_prefix(Self::DM_PREFIX)?.split_once(':')
    }

    pub fn is_dm(&self) -> bool {
        self.0.starts_with(Self::DM_PREFIX)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `agent` is one of the two agents of this `dm:` room.
    pub fn is_dm_of(&self, agent: &str) -> bool {
        self.dm_agents()
            .is_some_and(|(a, b)| a == agent || b == agent)
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_pattern() {
        for ok in ["a", "0", "a.b-c_d", &"a".repeat(64)] {
            assert!(AgentName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "_a",
            "-a",
            ".a",
            "a b",
            "a:b",
            "é",
            &"a".repeat(65),
            "a'--",
        ] {
            assert!(AgentName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dm_names_are_sorted_and_reserved() {
        let a = AgentName::parse("zed").unwrap();
        let b = AgentName::parse("amy").unwrap();
        assert_eq!(RoomName::dm(&a, &b).as_str(), "dm:amy:zed");
        assert!(RoomName::parse("dm:amy:zed").is_ok());
        assert!(RoomName::parse("dm:zed:amy").is_err());
        assert!(RoomName::parse("dm:amy:amy").is_err());
        assert!(RoomName::parse_plain("dm:amy:zed").is_err());
        assert_eq!(
            RoomName::parse("dm:amy:zed").unwrap().dm_agents(),
            Some(("amy", "zed"))
        );
    }
}
