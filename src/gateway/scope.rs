//! What one client may see. Two filters apply together: the token's (hard: asking for more is 403) and the
//! query's (`agent`, `queue`, repeatable: a narrower view). A filter with agents shows those agents and the
//! queues they are members of; a filter with queues shows those queues and their member agents.

use super::token::Claims;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

pub type Names = BTreeSet<String>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `None` = every agent.
    pub agents: Option<Names>,
    /// `None` = every queue.
    pub queues: Option<Names>,
}

impl Filter {
    pub fn is_open(&self) -> bool {
        self.agents.is_none() && self.queues.is_none()
    }

    /// An agent with memberships `member_of` is visible when it is one of the filter's agents, or (without
    /// agents in the filter) a member of one of its queues.
    pub fn agent_visible<'a>(&self, id: &str, mut member_of: impl Iterator<Item = &'a str>) -> bool {
        match (&self.agents, &self.queues) {
            (Some(agents), _) => agents.contains(id),
            (None, Some(queues)) => member_of.any(|q| queues.contains(q)),
            (None, None) => true,
        }
    }

    /// `agent_queues`: the queues the filter's agents are members of (needed when the filter has agents).
    pub fn queue_visible(&self, name: &str, agent_queues: &Names) -> bool {
        let by_queue = self.queues.as_ref().is_none_or(|q| q.contains(name));
        let by_agent = self.agents.is_none() || agent_queues.contains(name);
        by_queue && by_agent
    }

    /// A call is visible when its agent or its queue is.
    pub fn call_visible(&self, call: &Map<String, Value>, agent_queues: &Names) -> bool {
        let text = |k: &str| call.get(k).and_then(Value::as_str).unwrap_or("");
        let (agent, queue) = (text("agent"), text("queue"));
        if self.agents.as_ref().is_some_and(|a| a.contains(agent)) {
            return true;
        }
        self.queue_visible(queue, agent_queues)
    }
}

/// The client's view: the token's filter and the query's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub token: Filter,
    pub query: Filter,
}

/// The query asks for agents or queues the token does not cover.
#[derive(Debug, thiserror::Error)]
#[error("{0} is outside the token's scope")]
pub struct OutOfScope(pub String);

impl Scope {
    /// The token's filter from its claims, narrowed by the query's `agent`/`queue` lists.
    pub fn new(claims: &Claims, agents: Vec<String>, queues: Vec<String>) -> Result<Self, OutOfScope> {
        let token = Filter {
            agents: claims.agent.as_ref().map(|a| Names::from([a.clone()])),
            queues: claims.queues.as_ref().map(|q| q.iter().cloned().collect()),
        };
        if let Some(asked) = agents.iter().find(|a| !claims_has(&token.agents, a)) {
            return Err(OutOfScope(format!("agent {asked}")));
        }
        if let Some(asked) = queues.iter().find(|q| !claims_has(&token.queues, q)) {
            return Err(OutOfScope(format!("queue {asked}")));
        }
        let set = |v: Vec<String>| (!v.is_empty()).then(|| v.into_iter().collect::<Names>());
        Ok(Self { token, query: Filter { agents: set(agents), queues: set(queues) } })
    }

    /// Agents whose memberships decide which queues are visible (the union of both filters' agents).
    pub fn tracked_agents(&self) -> Names {
        self.token.agents.iter().chain(self.query.agents.iter()).flatten().cloned().collect()
    }

    pub fn is_open(&self) -> bool {
        self.token.is_open() && self.query.is_open()
    }

    pub fn agent_visible(&self, id: &str, fields: &Map<String, Value>) -> bool {
        let member_of = || super::view::agent_queues(fields);
        self.token.agent_visible(id, member_of()) && self.query.agent_visible(id, member_of())
    }

    pub fn queue_visible(&self, name: &str, agent_queues: &Names) -> bool {
        self.token.queue_visible(name, agent_queues) && self.query.queue_visible(name, agent_queues)
    }

    pub fn call_visible(&self, call: &Map<String, Value>, agent_queues: &Names) -> bool {
        self.token.call_visible(call, agent_queues) && self.query.call_visible(call, agent_queues)
    }
}

fn claims_has(allowed: &Option<Names>, name: &str) -> bool {
    allowed.as_ref().is_none_or(|set| set.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(agent: Option<&str>, queues: Option<&[&str]>) -> Claims {
        Claims {
            sub: "t".into(),
            exp: 0,
            pbx: super::super::token::PbxClaim::One("p".into()),
            agent: agent.map(Into::into),
            queues: queues.map(|q| q.iter().map(|s| s.to_string()).collect()),
            actions: false,
        }
    }

    fn fields(queues: &[&str]) -> Map<String, Value> {
        let q: Map<String, Value> = queues.iter().map(|q| (q.to_string(), json!({}))).collect();
        json!({"queues": q}).as_object().cloned().unwrap()
    }

    #[test]
    fn agent_token_sees_itself_and_its_queues() {
        let scope = Scope::new(&claims(Some("PJSIP/1"), None), vec![], vec![]).unwrap();
        let mine = Names::from(["sales".to_string()]);
        assert!(scope.agent_visible("PJSIP/1", &fields(&["sales"])));
        assert!(!scope.agent_visible("PJSIP/2", &fields(&["sales"])));
        assert!(scope.queue_visible("sales", &mine));
        assert!(!scope.queue_visible("support", &mine));
        assert!(Scope::new(&claims(Some("PJSIP/1"), None), vec!["PJSIP/2".into()], vec![]).is_err());
    }

    #[test]
    fn queue_token_and_query_filters() {
        let scope = Scope::new(&claims(None, Some(&["sales"])), vec![], vec![]).unwrap();
        assert!(scope.agent_visible("a", &fields(&["sales", "x"])));
        assert!(!scope.agent_visible("b", &fields(&["support"])));
        assert!(!scope.queue_visible("support", &Names::new()));
        assert!(Scope::new(&claims(None, Some(&["sales"])), vec![], vec!["support".into()]).is_err());
        let narrowed = Scope::new(&claims(None, None), vec![], vec!["support".into()]).unwrap();
        assert!(narrowed.queue_visible("support", &Names::new()));
        assert!(!narrowed.queue_visible("sales", &Names::new()));
        let call = json!({"agent": "b", "queue": "support"}).as_object().cloned().unwrap();
        assert!(narrowed.call_visible(&call, &Names::new()));
        assert!(!scope.call_visible(&call, &Names::new()));
    }
}
