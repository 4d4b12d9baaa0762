//! Key and channel names. Every key of one PBX carries the hash tag `{PBX}` so a MULTI over all of them is
//! legal on Redis Cluster (one slot).

/// Key names of one PBX under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    base: String,
    pbx: String,
}

/// Written here, not in `config`: the key layout is the sink's, and the config knows nothing of it.
impl crate::config::RedisConfig {
    /// The keys of the configured prefix and PBX id.
    pub fn keys(&self) -> Keys {
        Keys::new(&self.prefix, &self.pbx_id)
    }
}

/// The keys that are the base and one fixed suffix: one row each, so a new one cannot get its layout wrong.
macro_rules! fixed_keys {
    ($($(#[$doc:meta])* $name:ident => $suffix:literal;)*) => {
        impl Keys {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> String {
                    format!("{}:{}", self.base, $suffix)
                }
            )*
        }
    };
}

fixed_keys! {
    meta => "meta";
    agents => "agents";
    queues => "queues";
    stream => "stream";
    /// Channel carrying every message.
    events => "events";
    /// Stream of commands from panels and `queuecast action` (DESIGN.md "Commands from panels").
    commands => "commands";
    /// Stream of command results, one entry per answered command id.
    results => "results";
}

impl Keys {
    pub fn new(prefix: &str, pbx: &str) -> Self {
        Self { base: format!("{prefix}:{{{pbx}}}"), pbx: pbx.to_owned() }
    }

    /// `PREFIX:{PBX}` — every key starts with this.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn pbx(&self) -> &str {
        &self.pbx
    }

    /// Hash of one agent; also the agent's pub/sub channel.
    pub fn agent(&self, id: &str) -> String {
        format!("{}:agent:{id}", self.base)
    }

    /// Hash of one queue; also the queue's pub/sub channel.
    pub fn queue(&self, name: &str) -> String {
        format!("{}:queue:{name}", self.base)
    }

    pub fn waiting(&self, queue: &str) -> String {
        format!("{}:queue:{queue}:waiting", self.base)
    }

    pub fn call(&self, uniqueid: &str) -> String {
        format!("{}:call:{uniqueid}", self.base)
    }

    /// Claim of one command id: set with NX before executing, so an id runs at most once across restarts and
    /// daemons.
    pub fn command_claim(&self, id: &str) -> String {
        format!("{}:command:{id}", self.base)
    }

    /// `SCAN` pattern matching every key of this PBX (hash-tag braces escaped for glob).
    pub fn scan_pattern(&self) -> String {
        format!("{}:*", glob_escape(&self.base))
    }
}

/// Escapes Redis glob metacharacters, so a PBX id like `pbx[1]` matches only itself.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Extracts the PBX id from a meta key `PREFIX:{PBX}:meta` (used to discover PBXes by `SCAN`).
pub fn pbx_of_meta_key<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(prefix)?.strip_prefix(":{")?.strip_suffix("}:meta")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_design() {
        let k = Keys::new("queuecast", "pbx1");
        assert_eq!(k.meta(), "queuecast:{pbx1}:meta");
        assert_eq!(k.agent("PJSIP/1001"), "queuecast:{pbx1}:agent:PJSIP/1001");
        assert_eq!(k.waiting("sales"), "queuecast:{pbx1}:queue:sales:waiting");
        assert_eq!(k.stream(), "queuecast:{pbx1}:stream");
        assert_eq!(k.events(), "queuecast:{pbx1}:events");
        assert_eq!(k.commands(), "queuecast:{pbx1}:commands");
        assert_eq!(k.results(), "queuecast:{pbx1}:results");
        assert_eq!(k.command_claim("c1"), "queuecast:{pbx1}:command:c1");
        assert_eq!(k.scan_pattern(), "queuecast:{pbx1}:*");
        assert_eq!(Keys::new("q", "a*b").scan_pattern(), "q:{a\\*b}:*");
    }

    #[test]
    fn every_key_and_channel_shares_one_cluster_slot() {
        use redis::cluster_routing::Slot;
        let k = Keys::new("queuecast", "pbx-1.example");
        let slot = Slot::for_key(k.meta());
        let all = [
            k.agents(),
            k.queues(),
            k.agent("Local/1001@agents/n"),
            k.queue("sales"),
            k.waiting("sales"),
            k.call("1732300000.42"),
            k.stream(),
            k.events(),
            k.commands(),
            k.results(),
            k.command_claim("0b9e"),
        ];
        for key in all {
            assert_eq!(Slot::for_key(&key), slot, "{key}");
        }
    }

    #[test]
    fn meta_key_gives_pbx() {
        assert_eq!(pbx_of_meta_key("queuecast", "queuecast:{pbx-1.example}:meta"), Some("pbx-1.example"));
        assert_eq!(pbx_of_meta_key("queuecast", "other:{x}:meta"), None);
    }
}
