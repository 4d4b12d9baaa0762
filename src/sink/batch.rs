//! Builds the commands of one MULTI/EXEC: entity hashes, sets, `meta.seq`, `XADD` and `PUBLISH`, so a reader
//! never sees a message before the state it describes.
//!
//! This is the sink's hot path (one call per change), so field values go from the rendered [`Hash`] straight
//! into the command buffers, each message is serialized once for the stream and all its channels, and the key
//! names that never change are formatted once.

use super::message::{self, Envelope, Message, MessageType, STREAM_CHANNELS_FIELD, STREAM_PAYLOAD_FIELD};
use super::{Hash, Keys, Update};
use redis::{Cmd, Pipeline};
use serde_json::Value;
use std::fmt::Write as _;

/// How much the stream keeps and how long call hashes live: what every batch trims and expires to.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub stream_maxlen: u64,
    pub call_ttl_s: u64,
}

/// How an entity hash is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashMode {
    /// `DEL` + `HSET` in the same transaction (and the id added to its set): Redis may hold fields this write
    /// does not set (first write by this sink, full rewrites, a field set that shrank), and a field the engine
    /// stopped rendering must not linger.
    Replace,
    /// `HSET` alone: this sink's last write of the hash had no field that this one lacks, so every field in
    /// Redis is overwritten, and it added the id to its set. The engine renders a fixed field set per entity
    /// kind, so this is the usual case.
    Overwrite,
}

/// Reused buffers and the fixed names of one PBX.
pub struct Builder {
    keys: Keys,
    retention: Retention,
    stream: String,
    events: String,
    agents: String,
    queues: String,
    meta: String,
    /// The message being published (written once, sent to the stream and every channel).
    json: Vec<u8>,
    /// A non-string field value in its JSON spelling.
    value: Vec<u8>,
    /// `events` channel plus the entity's own, comma-separated, for the stream entry.
    channels: String,
    /// The stream entry id `SEQ-0`.
    id: String,
}

impl Builder {
    pub fn new(keys: Keys, retention: Retention) -> Self {
        Self {
            stream: keys.stream(),
            events: keys.events(),
            agents: keys.agents(),
            queues: keys.queues(),
            meta: keys.meta(),
            keys,
            retention,
            json: Vec::new(),
            value: Vec::new(),
            channels: String::new(),
            id: String::new(),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Appends the commands of one delta batch: [`Builder::batch_keys`], then each change's hash writes and
    /// its message, numbered from `after + 1`, then `meta.seq` and the stream cap. Returns the last seq.
    pub fn delta(
        &mut self,
        pipe: &mut Pipeline,
        epoch: &str,
        ts: i64,
        after: u64,
        writes: &[(&Update, HashMode)],
    ) -> u64 {
        self.batch_keys(pipe, writes, &[]);
        let mut seq = after;
        for &(update, _) in writes {
            seq += 1;
            self.entity(pipe, seq, update);
            self.publish_update(pipe, epoch, ts, seq, update);
        }
        self.meta_seq(pipe, seq);
        self.trim_stream(pipe);
        seq
    }

    /// Appends what a batch does to keys as a whole, before its hash writes: one `DEL` of every key it
    /// replaces or removes, and one `SADD` / `SREM` per id set with the members it adds or removes.
    ///
    /// Per key, a `DEL` costs Redis about as much CPU as a whole `HSET` (the fixed cost of a command: parsing,
    /// queueing into the MULTI, the `QUEUED` reply, timing), while one `DEL` of a thousand keys costs little
    /// more than the lookups. Within one MULTI the order between different keys is invisible to readers, and
    /// a batch holds each entity once, so a key is never deleted after its own write in the same batch.
    /// Membership is only (re)added for entities in `Replace` mode: `Overwrite` means this sink's last write
    /// of the entity, confirmed since the last full rewrite, already added it.
    pub fn batch_keys(&self, pipe: &mut Pipeline, writes: &[(&Update, HashMode)], stale_queues: &[String]) {
        let mut del = redis::cmd("DEL");
        let mut any_del = false;
        let (mut sadd_agents, mut sadd_queues, mut srem_agents, mut srem_queues) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut delete = |key: String| {
            del.arg(key);
            any_del = true;
        };
        for &(update, mode) in writes {
            let replace = mode == HashMode::Replace;
            match update {
                Update::Agent { id, .. } if replace => {
                    delete(self.keys.agent(id));
                    sadd_agents.push(id.as_str());
                }
                Update::Agent { .. } => {}
                Update::AgentRemoved { id } => {
                    delete(self.keys.agent(id));
                    srem_agents.push(id.as_str());
                }
                Update::Queue { name, .. } => {
                    // The waiting list shrinks whenever a caller leaves, so that hash is always replaced.
                    delete(self.keys.waiting(name));
                    if replace {
                        delete(self.keys.queue(name));
                        sadd_queues.push(name.as_str());
                    }
                }
                Update::Call { uniqueid, fields } if replace || fields.is_empty() => {
                    delete(self.keys.call(uniqueid));
                }
                Update::Call { .. } | Update::AgentEvent { .. } | Update::CommandResult { .. } => {}
            }
        }
        for name in stale_queues {
            delete(self.keys.queue(name));
            delete(self.keys.waiting(name));
            srem_queues.push(name.as_str());
        }
        if any_del {
            pipe.add_command(del).ignore();
        }
        for (verb, set, members) in [
            ("SADD", &self.agents, sadd_agents),
            ("SADD", &self.queues, sadd_queues),
            ("SREM", &self.agents, srem_agents),
            ("SREM", &self.queues, srem_queues),
        ] {
            if !members.is_empty() {
                pipe.cmd(verb).arg(set).arg(members).ignore();
            }
        }
    }

    /// Appends the hash writes of `update` as of message `seq`; its deletes and set changes come from
    /// [`Builder::batch_keys`].
    pub fn entity(&mut self, pipe: &mut Pipeline, seq: u64, update: &Update) {
        match update {
            Update::Agent { id, fields } => {
                let key = self.keys.agent(id);
                self.hset(pipe, &key, fields, Some(seq));
            }
            Update::AgentRemoved { .. } | Update::AgentEvent { .. } | Update::CommandResult { .. } => {}
            Update::Queue { name, fields, waiting } => {
                let key = self.keys.queue(name);
                self.hset(pipe, &key, fields, Some(seq));
                if !waiting.is_empty() {
                    let mut cmd = sized("HSET", 1 + 2 * waiting.len(), 64 + 128 * waiting.len());
                    cmd.arg(self.keys.waiting(name));
                    for (uniqueid, entry) in waiting {
                        cmd.arg(uniqueid.as_str());
                        self.push_value(&mut cmd, entry);
                    }
                    pipe.add_command(cmd).ignore();
                }
            }
            Update::Call { uniqueid, fields } => {
                if !fields.is_empty() {
                    let key = self.keys.call(uniqueid);
                    self.hset(pipe, &key, fields, None);
                    pipe.cmd("EXPIRE").arg(&key).arg(self.retention.call_ttl_s).ignore();
                }
            }
        }
    }

    /// Appends `XADD` and the `PUBLISH`es of the message announcing `update`.
    pub fn publish_update(&mut self, pipe: &mut Pipeline, epoch: &str, ts: i64, seq: u64, update: &Update) {
        self.json.clear();
        let env = Envelope { epoch, ts, pbx: self.keys.pbx() };
        message::write_update_json(&mut self.json, env, seq, update);
        let own = match update {
            Update::Agent { id, .. } | Update::AgentRemoved { id } | Update::AgentEvent { id, .. } => {
                Some(self.keys.agent(id))
            }
            Update::Queue { name, .. } => Some(self.keys.queue(name)),
            Update::CommandResult { agent, .. } => agent.as_deref().map(|a| self.keys.agent(a)),
            Update::Call { .. } => None,
        };
        self.publish_json(pipe, seq, own.as_deref().as_slice());
    }

    /// A `resync` goes to `events` and to every agent and queue channel in `entity_channels`, so a consumer
    /// of one entity's channel learns too that it must re-read (the stream entry lists them all, for
    /// Centrifugo).
    pub fn publish_resync(&mut self, pipe: &mut Pipeline, msg: &Message, entity_channels: &[String]) {
        self.json.clear();
        self.json.extend_from_slice(msg.to_json().as_bytes());
        let own: Vec<&str> = entity_channels.iter().map(String::as_str).collect();
        self.publish_json(pipe, msg.seq, &own);
    }

    /// Appends `XADD` and the `PUBLISH`es of a message built as a [`Message`] (`resync`).
    pub fn publish_message(&mut self, pipe: &mut Pipeline, msg: &Message) {
        self.json.clear();
        self.json.extend_from_slice(msg.to_json().as_bytes());
        let own = match msg.kind {
            MessageType::AgentUpdate | MessageType::AgentRemoved | MessageType::AgentEvent => {
                Some(self.keys.agent(&msg.id))
            }
            MessageType::QueueUpdate => Some(self.keys.queue(&msg.id)),
            MessageType::CallUpdate | MessageType::CommandResult | MessageType::Resync => None,
        };
        self.publish_json(pipe, msg.seq, own.as_deref().as_slice());
    }

    /// `meta.seq` = the last message of the batch.
    pub fn meta_seq(&self, pipe: &mut Pipeline, seq: u64) {
        pipe.cmd("HSET").arg(&self.meta).arg("seq").arg(seq).ignore();
    }

    /// Caps the stream (`XTRIM … MAXLEN ~ stream_maxlen`) once per MULTI rather than in every `XADD`: no
    /// reader sees the inside of a transaction, so the cap it observes is the same, and each change costs
    /// Redis three arguments fewer to parse. Approximate trimming only drops whole stream nodes, which is
    /// far cheaper than exact trimming.
    pub fn trim_stream(&self, pipe: &mut Pipeline) {
        pipe.cmd("XTRIM").arg(&self.stream).arg("MAXLEN").arg("~").arg(self.retention.stream_maxlen).ignore();
    }

    /// `events` always; plus the entity's own channel for agents and queues (all of them for `resync`).
    fn publish_json(&mut self, pipe: &mut Pipeline, seq: u64, own: &[&str]) {
        self.channels.clear();
        self.channels.push_str(&self.events);
        for own in own {
            self.channels.push(',');
            self.channels.push_str(own);
        }
        let json = &self.json[..];
        let fixed = self.stream.len() + STREAM_PAYLOAD_FIELD.len() + STREAM_CHANNELS_FIELD.len() + 24;
        let mut xadd = sized("XADD", 6, fixed + json.len() + self.channels.len());
        self.id.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.id, "{seq}-0");
        xadd.arg(&self.stream)
            .arg(&self.id)
            .arg(STREAM_PAYLOAD_FIELD)
            .arg(json)
            .arg(STREAM_CHANNELS_FIELD)
            .arg(&self.channels);
        pipe.add_command(xadd).ignore();
        for channel in std::iter::once(self.events.as_str()).chain(own.iter().copied()) {
            let mut publish = sized("PUBLISH", 2, channel.len() + json.len());
            publish.arg(channel).arg(json);
            pipe.add_command(publish).ignore();
        }
    }

    /// `HSET key field value …` with the rendered fields (the entity's own `seq` field replaced by `seq`).
    fn hset(&mut self, pipe: &mut Pipeline, key: &str, fields: &Hash, seq: Option<u64>) {
        let mut cmd = sized("HSET", 3 + 2 * fields.len(), key.len() + 24 + fields.text_len());
        cmd.arg(key);
        for (name, value) in fields.iter().filter(|(name, _)| *name != "seq") {
            cmd.arg(name).arg(value.redis());
        }
        if let Some(seq) = seq {
            cmd.arg("seq").arg(seq);
        }
        pipe.add_command(cmd).ignore();
    }

    /// One argument holding a waiting entry as Redis stores it ([`super::field_to_redis`]).
    fn push_value(&mut self, cmd: &mut Cmd, value: &Value) {
        match value {
            Value::String(s) => cmd.arg(s.as_str()),
            Value::Null => cmd.arg(""),
            other => {
                self.value.clear();
                // Writing a JSON value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut self.value, other);
                cmd.arg(&self.value[..])
            }
        };
    }
}

/// A command with room for `args` arguments and `bytes` of their data. Commands are built once per change
/// and grew their buffers argument by argument; for an `XADD` carrying the message that was a chain of
/// reallocations, a good part of the sink's own CPU per change.
fn sized(name: &str, args: usize, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(args + 1, name.len() + bytes);
    cmd.arg(name);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::field_to_redis;
    use serde_json::json;

    /// The direct encoding must write exactly what `field_to_redis` (the documented mapping) gives.
    #[test]
    fn hash_values_match_field_to_redis() {
        let keys = Keys::new("q", "p");
        let mut builder = Builder::new(keys, Retention { stream_maxlen: 10, call_ttl_s: 60 });
        let fields =
            json!({"s": "x", "n": 12, "f": 0.5, "b": true, "z": null, "o": {"a": [1, "b"]}, "seq": 3});
        let fields = fields.as_object().cloned().unwrap();
        let mut direct = redis::pipe();
        builder.hset(&mut direct, "k", &Hash::from(fields.clone()), Some(9));
        let mut expected = redis::pipe();
        expected.cmd("HSET").arg("k");
        for (name, value) in fields.iter().filter(|(n, _)| n.as_str() != "seq") {
            expected.arg(name.as_str()).arg(field_to_redis(value));
        }
        expected.arg("seq").arg("9").ignore();
        assert_eq!(direct.get_packed_pipeline(), expected.get_packed_pipeline());
    }

    /// One `DEL` for all replaced keys and one command per set, membership only for `Replace`.
    #[test]
    fn deletes_and_memberships_are_one_command_each() {
        let builder = Builder::new(Keys::new("q", "p"), Retention { stream_maxlen: 10, call_ttl_s: 60 });
        let fields = Hash::from(json!({"a": 1}).as_object().cloned().unwrap());
        let agent = |id: &str| Update::Agent { id: id.into(), fields: fields.clone() };
        let queue = |name: &str| Update::Queue { name: name.into(), fields: fields.clone(), waiting: vec![] };
        let updates = [
            agent("new"),
            agent("known"),
            Update::AgentRemoved { id: "gone".into() },
            queue("new"),
            queue("known"),
            Update::Call { uniqueid: "1.1".into(), fields: fields.clone() },
            Update::Call { uniqueid: "1.2".into(), fields: fields.clone() },
            Update::Call { uniqueid: "1.3".into(), fields: Hash::new() },
        ];
        let modes =
            [0, 1, 0, 0, 1, 0, 1, 1].map(|m| if m == 0 { HashMode::Replace } else { HashMode::Overwrite });
        let writes: Vec<(&Update, HashMode)> = updates.iter().zip(modes).collect();
        let mut pipe = redis::pipe();
        builder.batch_keys(&mut pipe, &writes, &["stale".to_owned()]);
        let mut expected = redis::pipe();
        expected
            .cmd("DEL")
            .arg(&[
                "q:{p}:agent:new",
                "q:{p}:agent:gone",
                "q:{p}:queue:new:waiting",
                "q:{p}:queue:new",
                "q:{p}:queue:known:waiting",
                "q:{p}:call:1.1",
                "q:{p}:call:1.3",
                "q:{p}:queue:stale",
                "q:{p}:queue:stale:waiting",
            ])
            .ignore();
        expected.cmd("SADD").arg("q:{p}:agents").arg("new").ignore();
        expected.cmd("SADD").arg("q:{p}:queues").arg("new").ignore();
        expected.cmd("SREM").arg("q:{p}:agents").arg("gone").ignore();
        expected.cmd("SREM").arg("q:{p}:queues").arg("stale").ignore();
        assert_eq!(pipe.get_packed_pipeline(), expected.get_packed_pipeline());
    }
}
