//! Member names and the interfaces and agents they stand for: the one place the name indexes change
//! (`identity` decides when).

use super::key::{Key, KeyMap};
use super::state::AgentIx;

#[derive(Debug, Default)]
pub(super) struct Names {
    /// Member name → interface, learned from AMI (both spellings in one message) or astdb.
    interfaces: KeyMap<Key>,
    /// Member name → the non-provisional agents carrying it (usually one), so a queue_log line that names a
    /// member resolves without scanning the queue's members.
    agents: KeyMap<Vec<AgentIx>>,
}

impl Names {
    /// The interface `name` was learned for.
    pub fn interface(&self, name: &str) -> Option<&Key> {
        self.interfaces.get(name)
    }

    /// Records that `name` is the member name of `interface`; true when the pair is new.
    pub fn learn(&mut self, name: &str, interface: &str) -> bool {
        if self.interfaces.get(name).is_some_and(|known| *known == interface) {
            return false;
        }
        self.interfaces.insert(Key::new(name), Key::new(interface));
        true
    }

    /// The non-provisional agents named `name`.
    pub fn agents(&self, name: &str) -> &[AgentIx] {
        self.agents.get(name).map_or(&[], Vec::as_slice)
    }

    /// Adds a non-provisional agent to the name index.
    pub fn index(&mut self, a: AgentIx, name: &str) {
        let ids = self.agents.entry(Key::new(name)).or_default();
        if !ids.contains(&a) {
            ids.push(a);
        }
    }

    pub fn unindex(&mut self, a: AgentIx, name: &str) {
        if let Some(ids) = self.agents.get_mut(name) {
            ids.retain(|i| *i != a);
            if ids.is_empty() {
                self.agents.remove(name);
            }
        }
    }
}
