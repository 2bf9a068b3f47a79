//! The presence scripts, loaded from `lua/*.lua` and run with EVALSHA (reloaded on NOSCRIPT,
//! after a Redis restart), so each call sends a hash instead of the script. Each change of
//! presence is one script, so concurrent nodes never see half of one. Key names go in KEYS
//! (see [`super::keys`]), everything else in ARGV, as each script's header says.

use fred::clients::Client;
use fred::types::FromValue;
use fred::types::scripts::Script;

pub struct Scripts {
    pub connect: Script,
    pub join: Script,
    pub leave: Script,
    pub disconnect: Script,
    pub set_status: Script,
    pub members: Script,
    pub heartbeat: Script,
    pub reap_list: Script,
    pub reap_unlock: Script,
    pub evict: Script,
}

impl Scripts {
    pub fn load() -> Self {
        Self {
            connect: Script::from_lua(include_str!("lua/connect.lua")),
            join: Script::from_lua(include_str!("lua/join.lua")),
            leave: Script::from_lua(include_str!("lua/leave.lua")),
            disconnect: Script::from_lua(include_str!("lua/disconnect.lua")),
            set_status: Script::from_lua(include_str!("lua/set_status.lua")),
            members: Script::from_lua(include_str!("lua/members.lua")),
            heartbeat: Script::from_lua(include_str!("lua/heartbeat.lua")),
            reap_list: Script::from_lua(include_str!("lua/reap_list.lua")),
            reap_unlock: Script::from_lua(include_str!("lua/reap_unlock.lua")),
            evict: Script::from_lua(include_str!("lua/evict.lua")),
        }
    }
}

/// Runs `script` with its keys and arguments.
pub async fn run<R: FromValue>(
    client: &Client,
    script: &Script,
    keys: Vec<String>,
    argv: Vec<String>,
) -> Result<R, fred::error::Error> {
    script
        .evalsha_with_reload::<R, _, _>(client, keys, argv)
        .await
}

/// ARGV or KEYS from anything that turns into strings.
pub fn strings(items: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}
