//! The calls of the sink's mirror: a busy day's tens of thousands, so they are held apart from agents and
//! queues, densely. Each sits once in a vector, found through a table of positions keyed by its uniqueid
//! inline (no second copy of the id on the heap). A hash table of whole entries would take twice the
//! memory: a table grows by doubling and keeps up to half of its slots empty, each as large as an entry.

use super::Update;
use compact_str::CompactString;
use tokio::time::Instant;

/// An update as last given to the mirror, and when.
pub(super) struct Mirrored {
    pub update: Update,
    /// When it was last given; calls are forgotten `call_ttl` after it, as Redis forgets their hashes.
    pub at: Instant,
}

/// Every call of the last `call_ttl`, as last written.
#[derive(Default)]
pub(super) struct Calls {
    list: Vec<Mirrored>,
    /// Uniqueid → position in `list`.
    at: foldhash::HashMap<CompactString, u32>,
}

impl Calls {
    pub fn get(&self, uniqueid: &str) -> Option<&Mirrored> {
        self.at.get(uniqueid).map(|&i| &self.list[i as usize])
    }

    /// Takes `call` (an [`Update::Call`]) as the state of its call.
    pub fn insert(&mut self, call: Mirrored) {
        let uniqueid = uniqueid_of(&call.update);
        if let Some(&i) = self.at.get(uniqueid) {
            self.list[i as usize] = call;
            return;
        }
        let Ok(i) = u32::try_from(self.list.len()) else { return };
        self.at.insert(CompactString::new(uniqueid), i);
        self.list.push(call);
    }

    pub fn remove(&mut self, uniqueid: &str) {
        let Some(i) = self.at.remove(uniqueid) else { return };
        self.list.swap_remove(i as usize);
        if let Some(moved) = self.list.get(i as usize) {
            self.at.insert(CompactString::new(uniqueid_of(&moved.update)), i);
        }
    }

    pub fn retain(&mut self, keep: impl FnMut(&Mirrored) -> bool) {
        let before = self.list.len();
        self.list.retain(keep);
        if self.list.len() == before {
            return;
        }
        self.at.clear();
        for (i, call) in self.list.iter().enumerate() {
            // Positions fit: `insert` never let the list grow past u32.
            self.at.insert(CompactString::new(uniqueid_of(&call.update)), i as u32);
        }
        self.list.shrink_to(self.list.len() + self.list.len() / 4);
        self.at.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Mirrored> {
        self.list.iter()
    }
}

fn uniqueid_of(update: &Update) -> &str {
    match update {
        Update::Call { uniqueid, .. } => uniqueid,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Hash;

    fn call(uid: &str) -> Mirrored {
        Mirrored { update: Update::Call { uniqueid: uid.into(), fields: Hash::new() }, at: Instant::now() }
    }

    fn uids(calls: &Calls) -> Vec<&str> {
        let mut uids: Vec<&str> = calls.iter().map(|m| uniqueid_of(&m.update)).collect();
        uids.sort();
        uids
    }

    #[test]
    fn removing_and_pruning_keep_every_other_call_findable() {
        let mut calls = Calls::default();
        for uid in ["1.1", "1.2", "1.3", "1.4"] {
            calls.insert(call(uid));
        }
        calls.insert(call("1.2"));
        assert_eq!(calls.len(), 4, "a call given again replaces itself");
        calls.remove("1.1");
        calls.remove("1.9");
        assert_eq!(uids(&calls), ["1.2", "1.3", "1.4"]);
        for uid in ["1.2", "1.3", "1.4"] {
            assert_eq!(calls.get(uid).map(|m| uniqueid_of(&m.update)), Some(uid), "the moved one too");
        }
        calls.retain(|m| uniqueid_of(&m.update) != "1.3");
        assert_eq!(uids(&calls), ["1.2", "1.4"]);
        assert!(calls.get("1.3").is_none());
        assert_eq!(calls.get("1.4").map(|m| uniqueid_of(&m.update)), Some("1.4"));
    }
}
