//! What happened in the simulated call center, with everything both writers need to render it.

/// AMI device states (`Status:` of QueueMember* events), as app_queue numbers them.
pub const DEVICE_NOT_INUSE: u8 = 1;
pub const DEVICE_INUSE: u8 = 2;
pub const DEVICE_RINGING: u8 = 6;

/// A queue member as Asterisk reports it in QueueMember* events and QueueStatus.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberInfo {
    pub name: String,
    pub interface: String,
    pub queues: Vec<String>,
    pub penalty: u32,
    pub calls_taken: u64,
    /// Epoch seconds; 0 = never.
    pub last_call: u64,
    pub last_pause: u64,
    pub login_time: u64,
    pub in_call: bool,
    pub status: u8,
    pub paused: bool,
    pub paused_reason: String,
}

impl MemberInfo {
    pub fn new(name: String, interface: String, queues: Vec<String>) -> Self {
        Self {
            name,
            interface,
            queues,
            penalty: 0,
            calls_taken: 0,
            last_call: 0,
            last_pause: 0,
            login_time: 0,
            in_call: false,
            status: DEVICE_NOT_INUSE,
            paused: false,
            paused_reason: String::new(),
        }
    }
}

/// A caller in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct CallInfo {
    pub uniqueid: String,
    /// Channel sequence number: names the caller's and the agent's channels like Asterisk does.
    pub seq: u64,
    pub caller_id: String,
    pub queue: String,
    /// Epoch milliseconds.
    pub joined_at: u64,
    pub position: usize,
    pub original_position: usize,
}

impl CallInfo {
    pub fn channel(&self) -> String {
        format!("PJSIP/trunk-{:08x}", self.seq * 2)
    }

    /// The agent leg Asterisk creates when it rings a member.
    pub fn dest_uniqueid(&self) -> String {
        match self.uniqueid.split_once('.') {
            Some((secs, n)) => format!("{secs}.{}", n.parse::<u64>().map_or(0, |n| n + 1)),
            None => format!("{}.1", self.uniqueid),
        }
    }

    pub fn dest_channel(&self, member: &MemberInfo) -> String {
        format!("{}-{:08x}", member.interface, self.seq * 2 + 1)
    }
}

/// Per-queue figures QueueParams reports.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    pub name: String,
    pub calls: usize,
    pub completed: u64,
    pub abandoned: u64,
    pub hold_total_s: u64,
    pub talk_total_s: u64,
    pub answered: u64,
    pub service_level_s: u64,
}

impl QueueInfo {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            calls: 0,
            completed: 0,
            abandoned: 0,
            hold_total_s: 0,
            talk_total_s: 0,
            answered: 0,
            service_level_s: 20,
        }
    }

    pub fn record_hold(&mut self, hold_s: u64) {
        self.answered += 1;
        self.hold_total_s += hold_s;
    }

    pub fn avg_hold_s(&self) -> u64 {
        self.hold_total_s.checked_div(self.answered).unwrap_or(0)
    }

    pub fn avg_talk_s(&self) -> u64 {
        self.talk_total_s.checked_div(self.completed).unwrap_or(0)
    }
}

/// One thing that happened; `at` is epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// Logged into one queue (ADDMEMBER / QueueMemberAdded).
    MemberAdded {
        at: u64,
        queue: String,
        member: MemberInfo,
    },
    /// Logged off from one queue (REMOVEMEMBER / QueueMemberRemoved).
    MemberRemoved {
        at: u64,
        queue: String,
        member: MemberInfo,
    },
    /// Paused or unpaused (`member.paused` tells which) in all its queues, or in `queue` only (a member
    /// action naming one: app_queue then writes no PAUSEALL).
    Pause {
        at: u64,
        member: MemberInfo,
        queue: Option<String>,
    },
    /// Penalty changed in one queue (a member action: PENALTY / QueueMemberPenalty).
    Penalty {
        at: u64,
        queue: String,
        member: MemberInfo,
    },
    /// `count` = callers in the queue after the join.
    CallerJoin {
        at: u64,
        call: CallInfo,
        count: usize,
    },
    AgentCalled {
        at: u64,
        call: CallInfo,
        member: MemberInfo,
    },
    RingNoAnswer {
        at: u64,
        call: CallInfo,
        member: MemberInfo,
        ring_ms: u64,
    },
    /// `count` = callers left waiting.
    Connect {
        at: u64,
        call: CallInfo,
        count: usize,
        member: MemberInfo,
        hold_s: u64,
        ring_s: u64,
    },
    Complete {
        at: u64,
        call: CallInfo,
        member: MemberInfo,
        hold_s: u64,
        talk_s: u64,
        by_agent: bool,
    },
    /// Hung up while waiting (`abandoned`) or sent on by the queue timeout.
    CallerLeft {
        at: u64,
        call: CallInfo,
        count: usize,
        wait_s: u64,
        abandoned: bool,
    },
}

impl Fact {
    pub fn at(&self) -> u64 {
        match self {
            Fact::MemberAdded { at, .. }
            | Fact::MemberRemoved { at, .. }
            | Fact::Pause { at, .. }
            | Fact::Penalty { at, .. }
            | Fact::CallerJoin { at, .. }
            | Fact::AgentCalled { at, .. }
            | Fact::RingNoAnswer { at, .. }
            | Fact::Connect { at, .. }
            | Fact::Complete { at, .. }
            | Fact::CallerLeft { at, .. } => *at,
        }
    }
}
