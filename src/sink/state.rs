//! What the sink task holds between writes: the latest unwritten update per entity, and a mirror of what
//! Redis should contain, from which everything is rewritten after an outage, a failed `EXEC`, a Redis that
//! came back empty, or an engine rebuild.
//!
//! Memory stays proportional to the state Redis holds, never to the traffic: agents, queues, and the calls of
//! the last `call_ttl` (live or ended; one entry per call). An ended call stays in the mirror as long as its
//! hash lives in Redis (`call_ttl` after its last write), so that a rewrite puts every call record back: a
//! Redis restarted empty must not lose the calls that ended before the outage. Ended calls are the bulk of
//! the mirror (a busy day has tens of thousands) and are only read again by a full rewrite; each is held as
//! its rendered [`super::Hash`], densely (`calls.rs`).

use super::batch::HashMode;
use super::calls::{Calls, Mirrored};
use super::{Entity, Hash, Update};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;
use tokio::time::Instant;

/// Latest update per entity, in the order each entity first arrived (so a batch publishes roughly in the
/// engine's order); a later update of the same entity replaces the earlier one in place.
#[derive(Default)]
pub(super) struct Latest {
    index: HashMap<Entity, usize>,
    updates: Vec<Update>,
    /// `agent_event`s among `updates`, which do not collapse per entity.
    agent_events: usize,
}

/// Unwritten `agent_event`s kept at most. They pile up only while Redis is away, and an outage ends in a
/// full rewrite and a `resync`, which drops them anyway (a message, not state): the cap keeps a long outage
/// from growing memory with the traffic. 10 000 events are a few MB and far more than one Redis round trip
/// of any call center.
pub(super) const MAX_UNWRITTEN_AGENT_EVENTS: usize = 10_000;

impl Latest {
    pub fn insert(&mut self, update: Update) {
        if update.is_message_only() {
            // Each event is its own message, in order: nothing replaces it.
            if self.agent_events < MAX_UNWRITTEN_AGENT_EVENTS {
                self.agent_events += 1;
                self.updates.push(update);
            }
            return;
        }
        match self.index.entry(update.entity()) {
            Entry::Occupied(slot) => {
                if let Some(old) = self.updates.get_mut(*slot.get()) {
                    *old = update;
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(self.updates.len());
                self.updates.push(update);
            }
        }
    }

    /// Adds `newer`, whose updates supersede ours.
    pub fn merge(&mut self, newer: Latest) {
        if self.updates.is_empty() {
            *self = newer;
        } else {
            for update in newer.updates {
                self.insert(update);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    pub fn len(&self) -> usize {
        self.updates.len()
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.updates.clear();
        self.agent_events = 0;
    }

    pub fn iter(&self) -> impl Iterator<Item = &Update> {
        self.updates.iter()
    }

    pub fn into_vec(self) -> Vec<Update> {
        self.updates
    }
}

/// The state Redis should hold, as last written (or, after a failed write, as it must be rewritten).
#[derive(Default)]
pub(super) struct Mirror {
    /// Agents and queues.
    entities: HashMap<Entity, Mirrored>,
    calls: Calls,
}

impl Mirror {
    /// Takes `update` as the entity's state, to be written by the next full rewrite.
    pub fn fold(&mut self, update: Update, now: Instant) {
        match update {
            Update::AgentRemoved { id } => {
                self.entities.remove(&Entity::Agent(id));
            }
            // A message, not state: a rewrite has nothing of it to write (a `resync` follows instead).
            Update::AgentEvent { .. } | Update::CommandResult { .. } => {}
            update @ Update::Call { .. } => self.calls.insert(Mirrored { update, at: now }),
            update => {
                self.entities.insert(update.entity(), Mirrored { update, at: now });
            }
        }
    }

    /// `update` is in Redis: keep it, a rewrite has to write it again. A call with nothing left to write
    /// (empty fields: deleted) is forgotten.
    pub fn written(&mut self, update: Update, now: Instant) {
        match &update {
            Update::Call { uniqueid, fields } if fields.is_empty() => self.calls.remove(uniqueid),
            _ => self.fold(update, now),
        }
    }

    /// An engine rebuild replaces agents and queues wholesale; calls stay (an unwritten finished call must
    /// still be written, and the rebuilt state brings the live ones anyway).
    pub fn keep_only_calls(&mut self) {
        self.entities.clear();
    }

    pub fn len(&self) -> usize {
        self.entities.len() + self.calls.len()
    }

    /// Everything to write (a full rewrite: at start-up, after an outage).
    pub fn updates(&self) -> Vec<&Update> {
        self.entities.values().chain(self.calls.iter()).map(|m| &m.update).collect()
    }

    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.entities.keys().filter_map(|entity| match entity {
            Entity::Queue(name) => Some(name.as_str()),
            Entity::Agent(_) | Entity::Call(_) | Entity::Message => None,
        })
    }

    pub fn prune_calls(&mut self, now: Instant, ttl: Duration) {
        self.calls.retain(|m| now < m.at + ttl);
    }

    /// How `update` can be written, given what this sink last wrote for the entity: a plain `HSET` when that
    /// write had no field this one lacks, else `DEL` + `HSET`. An entity this sink never wrote (since the last
    /// full rewrite, which deletes first) may have anything in Redis, so it is replaced.
    pub fn mode(&self, update: &Update) -> HashMode {
        // Both name lists are in ascending order.
        let covers = |old: &Hash, new: &Hash| {
            let mut new = new.names();
            old.names().all(|name| new.any(|n| n == name))
        };
        let old = match update {
            Update::Call { uniqueid, .. } => self.calls.get(uniqueid),
            _ => self.entities.get(&update.entity()),
        };
        let overwrite = match (old.map(|m| &m.update), update) {
            (Some(Update::Agent { fields: old, .. }), Update::Agent { fields: new, .. })
            | (Some(Update::Queue { fields: old, .. }), Update::Queue { fields: new, .. })
            | (Some(Update::Call { fields: old, .. }), Update::Call { fields: new, .. }) => covers(old, new),
            _ => false,
        };
        if overwrite { HashMode::Overwrite } else { HashMode::Replace }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(uid: &str, v: serde_json::Value) -> Update {
        Update::Call { uniqueid: uid.into(), fields: Hash::from(v.as_object().cloned().unwrap()) }
    }

    #[test]
    fn latest_keeps_first_arrival_order_and_last_content() {
        let mut latest = Latest::default();
        latest.insert(call("a", json!({"n": 1})));
        latest.insert(call("b", json!({"n": 1})));
        let mut newer = Latest::default();
        newer.insert(call("a", json!({"n": 2})));
        newer.insert(call("c", json!({"n": 1})));
        latest.merge(newer);
        assert_eq!(
            latest.into_vec(),
            [call("a", json!({"n": 2})), call("b", json!({"n": 1})), call("c", json!({"n": 1}))]
        );
    }

    #[test]
    fn agent_events_never_collapse_and_are_capped() {
        let event = |n: i64| Update::AgentEvent {
            id: "PJSIP/1".into(),
            data: json!({"event": "pause", "at": n}).as_object().cloned().unwrap(),
        };
        let mut latest = Latest::default();
        latest.insert(event(1));
        latest.insert(call("a", json!({"n": 1})));
        latest.insert(event(1));
        assert_eq!(latest.into_vec(), [event(1), call("a", json!({"n": 1})), event(1)], "each is a message");
        let mut latest = Latest::default();
        for n in 0..(MAX_UNWRITTEN_AGENT_EVENTS as i64 + 5) {
            latest.insert(event(n));
        }
        assert_eq!(latest.len(), MAX_UNWRITTEN_AGENT_EVENTS);
        let mut mirror = Mirror::default();
        mirror.fold(event(1), Instant::now());
        assert_eq!(mirror.len(), 0, "not state: a rewrite writes nothing of it");
    }

    #[test]
    fn ended_calls_stay_in_the_mirror_until_their_hash_expires() {
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut mirror = Mirror::default();
        let live = call("1.1", json!({"outcome": "waiting", "ended_at": null}));
        assert_eq!(mirror.mode(&live), HashMode::Replace, "never written by this sink");
        mirror.written(live, now);
        let ended = call("1.1", json!({"outcome": "answered", "ended_at": 5}));
        assert_eq!(mirror.mode(&ended), HashMode::Overwrite);
        mirror.written(ended.clone(), now + Duration::from_secs(10));
        mirror.prune_calls(now + Duration::from_secs(69), ttl);
        let kept: Vec<Update> = mirror.updates().into_iter().cloned().collect();
        assert_eq!(kept, [ended], "a rewrite writes it again, as it was");
        mirror.prune_calls(now + Duration::from_secs(70), ttl);
        assert_eq!(mirror.len(), 0, "Redis has expired it too");
        mirror.written(call("1.2", json!({"a": 1})), now);
        mirror.written(call("1.2", json!({})), now);
        assert_eq!(mirror.len(), 0, "a deleted call is forgotten");
    }

    #[test]
    fn an_ended_call_is_written_again_as_it_was() {
        let now = Instant::now();
        let mut mirror = Mirror::default();
        let visits =
            json!([{"queue": "q", "outcome": "answered", "joined_at": 1, "agent": "Bob \"B\" Jones"}]);
        let ended =
            call("1.1", json!({"ended_at": 5, "outcome": "answered", "visits": visits, "caller_id": null}));
        mirror.written(ended.clone(), now);
        let kept: Vec<Update> = mirror.updates().into_iter().cloned().collect();
        assert_eq!(kept.as_slice(), std::slice::from_ref(&ended));
        assert_eq!(mirror.mode(&ended), HashMode::Overwrite, "its fields are known");
        assert_eq!(mirror.mode(&call("1.1", json!({"ended_at": 5}))), HashMode::Replace);
    }

    #[test]
    fn a_shrinking_field_set_replaces_the_hash() {
        let now = Instant::now();
        let mut mirror = Mirror::default();
        mirror.written(call("1.1", json!({"a": 1, "b": 2})), now);
        assert_eq!(mirror.mode(&call("1.1", json!({"a": 1, "b": 3, "c": 4}))), HashMode::Overwrite);
        assert_eq!(mirror.mode(&call("1.1", json!({"a": 1}))), HashMode::Replace);
    }
}
