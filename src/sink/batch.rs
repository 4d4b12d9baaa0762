//! Builds the commands of one MULTI/EXEC: entity hashes, sets, `meta.seq`, `XADD` and `PUBLISH`, so a reader
//! never sees a message before the state it describes.

use super::message::{Message, MessageType, STREAM_CHANNELS_FIELD, STREAM_PAYLOAD_FIELD};
use super::{Keys, Update, field_to_redis};
use crate::engine::Fields;
use redis::Pipeline;

/// Per-batch write parameters.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub stream_maxlen: u64,
    pub call_ttl_s: u64,
}

/// Appends the hash writes of `update` as of message `seq`. Every hash is rewritten whole (DEL + HSET in the
/// same transaction) so a field the engine stopped rendering does not linger.
pub fn write_entity(pipe: &mut Pipeline, keys: &Keys, limits: Limits, seq: u64, update: &Update) {
    match update {
        Update::Agent { id, fields } => {
            let key = keys.agent(id);
            pipe.cmd("DEL").arg(&key).ignore();
            pipe.cmd("HSET").arg(&key).arg(hash_args(fields, Some(seq))).ignore();
            pipe.cmd("SADD").arg(keys.agents()).arg(id).ignore();
        }
        Update::AgentRemoved { id } => {
            pipe.cmd("DEL").arg(keys.agent(id)).ignore();
            pipe.cmd("SREM").arg(keys.agents()).arg(id).ignore();
        }
        Update::Queue { name, fields, waiting } => {
            let key = keys.queue(name);
            let waiting_key = keys.waiting(name);
            pipe.cmd("DEL").arg(&key).arg(&waiting_key).ignore();
            pipe.cmd("HSET").arg(&key).arg(hash_args(fields, Some(seq))).ignore();
            if !waiting.is_empty() {
                let entries: Vec<(&str, String)> =
                    waiting.iter().map(|(uid, entry)| (uid.as_str(), entry.to_string())).collect();
                pipe.cmd("HSET").arg(&waiting_key).arg(entries).ignore();
            }
            pipe.cmd("SADD").arg(keys.queues()).arg(name).ignore();
        }
        Update::Call { uniqueid, fields } => {
            let key = keys.call(uniqueid);
            pipe.cmd("DEL").arg(&key).ignore();
            if !fields.is_empty() {
                pipe.cmd("HSET").arg(&key).arg(hash_args(fields, None)).ignore();
                pipe.cmd("EXPIRE").arg(&key).arg(limits.call_ttl_s).ignore();
            }
        }
    }
}

/// Deletes an agent or queue that is no longer part of the state (full rewrites only).
pub fn delete_queue(pipe: &mut Pipeline, keys: &Keys, name: &str) {
    pipe.cmd("DEL").arg(keys.queue(name)).arg(keys.waiting(name)).ignore();
    pipe.cmd("SREM").arg(keys.queues()).arg(name).ignore();
}

/// Appends `XADD` and the `PUBLISH`es of one message.
pub fn publish(pipe: &mut Pipeline, keys: &Keys, limits: Limits, msg: &Message) {
    let json = msg.to_json();
    let channels = channels_of(keys, msg);
    pipe.cmd("XADD")
        .arg(keys.stream())
        .arg("MAXLEN")
        .arg("~")
        .arg(limits.stream_maxlen)
        .arg(format!("{}-0", msg.seq))
        .arg(STREAM_PAYLOAD_FIELD)
        .arg(&json)
        .arg(STREAM_CHANNELS_FIELD)
        .arg(channels.join(","))
        .ignore();
    for channel in &channels {
        pipe.cmd("PUBLISH").arg(channel).arg(&json).ignore();
    }
}

/// `events` always; plus the entity's own channel for agents and queues.
pub fn channels_of(keys: &Keys, msg: &Message) -> Vec<String> {
    let own = match msg.kind {
        MessageType::AgentUpdate | MessageType::AgentRemoved => Some(keys.agent(&msg.id)),
        MessageType::QueueUpdate => Some(keys.queue(&msg.id)),
        MessageType::CallUpdate | MessageType::Resync => None,
    };
    std::iter::once(keys.events()).chain(own).collect()
}

fn hash_args(fields: &Fields, seq: Option<u64>) -> Vec<(String, String)> {
    let mut args: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "seq")
        .map(|(k, v)| (k.clone(), field_to_redis(v)))
        .collect();
    if let Some(seq) = seq {
        args.push(("seq".to_owned(), seq.to_string()));
    }
    args
}
