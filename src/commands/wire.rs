//! A command and its result as they travel on the Redis streams `…:commands` and `…:results` (DESIGN.md
//! "Commands from panels"). Producers are trusted to be who they say, but their bytes are not: every field is
//! checked here (length, UTF-8, control characters, numbers) before anything reaches the AMI, where a CR or LF
//! in a value would inject a header.

use std::fmt;

/// Longest accepted `id`, in bytes: room for a UUID or a ULID with a producer prefix.
pub const MAX_ID_BYTES: usize = 128;
/// Longest `agent`, `queue`, `member_name` or `requested_by`, in bytes: Asterisk interfaces and queue names
/// are far shorter (queue names are limited to 80 characters by app_queue).
pub const MAX_NAME_BYTES: usize = 256;
/// Longest pause `reason`, in bytes: app_queue keeps 80 characters; more is a producer bug, not a reason.
pub const MAX_REASON_BYTES: usize = 256;
/// Most fields one command entry may carry: the nine known ones plus slack would still be far below this;
/// a bigger entry is junk and is not looked at further.
pub const MAX_FIELDS: usize = 16;
/// Highest penalty accepted: app_queue stores an `int` and rejects negative values.
pub const MAX_PENALTY: u32 = i32::MAX as u32;

/// What a command asks the PBX to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pause,
    Unpause,
    Login,
    Logout,
    Penalty,
}

impl Action {
    pub const ALL: [Action; 5] =
        [Action::Pause, Action::Unpause, Action::Login, Action::Logout, Action::Penalty];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Login => "login",
            Action::Logout => "logout",
            Action::Penalty => "penalty",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command entry of `…:commands`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Unique per command, chosen by the producer; the daemon answers it once and executes it at most once.
    pub id: String,
    pub action: Action,
    /// Agent id as in the `agents` set (the member interface), or a member name the daemon knows.
    pub agent: String,
    /// `None` (empty on the wire) = every queue of the agent; `login` always names one.
    pub queue: Option<String>,
    /// Pause reason; empty = none.
    pub reason: String,
    /// `login` (optional) and `penalty` (required).
    pub penalty: Option<u32>,
    /// `login`: the member name Asterisk shows; empty = Asterisk's default (the interface).
    pub member_name: String,
    /// Who asked (`cli:alice`, `gateway:<token sub>`): for the audit line.
    pub requested_by: String,
    /// When the producer wrote it, ms since the Unix epoch; older than `max_age_ms` is refused.
    pub ts: i64,
}

/// Field names on the wire.
mod field {
    pub const ID: &str = "id";
    pub const ACTION: &str = "action";
    pub const AGENT: &str = "agent";
    pub const QUEUE: &str = "queue";
    pub const REASON: &str = "reason";
    pub const PENALTY: &str = "penalty";
    pub const MEMBER_NAME: &str = "member_name";
    pub const REQUESTED_BY: &str = "requested_by";
    pub const TS: &str = "ts";
    pub const OK: &str = "ok";
    pub const CODE: &str = "code";
    pub const ERROR: &str = "error";
    pub const COMMAND_FIELDS: [&str; 9] =
        [ID, ACTION, AGENT, QUEUE, REASON, PENALTY, MEMBER_NAME, REQUESTED_BY, TS];
}

/// Why a command entry was not accepted as a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("unknown action {0}")]
    UnknownAction(Shown),
    #[error("field `{0}` is not a number in range")]
    NotANumber(&'static str),
    #[error("field `{field}` is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("field `{0}` contains a control character")]
    ControlCharacter(&'static str),
    #[error("field `{0}` is not UTF-8")]
    NotUtf8(&'static str),
    #[error("unknown field {0}")]
    UnknownField(Shown),
    #[error("field `{0}` given twice")]
    Repeated(&'static str),
    #[error("more than {MAX_FIELDS} fields")]
    TooManyFields,
    #[error("`{action}` needs `{field}`")]
    Needs { action: Action, field: &'static str },
}

/// A command entry that is not a valid command. `id` is kept when it was itself valid, so the producer can
/// still be answered (`malformed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed command: {problem}")]
pub struct Malformed {
    pub id: Option<String>,
    pub problem: Problem,
}

/// A hostile value quoted in an error: at most 32 characters, escaped, so an error line stays one short line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    const MAX_CHARS: usize = 32;

    fn of(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let mut out: String = text.chars().take(Self::MAX_CHARS).flat_map(char::escape_debug).collect();
        if text.chars().nth(Self::MAX_CHARS).is_some() {
            out.push('…');
        }
        Shown(out)
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

impl Command {
    /// A command with the optional fields empty; `ts` is the producer's clock.
    pub fn new(id: impl Into<String>, action: Action, agent: impl Into<String>, ts: i64) -> Self {
        Self {
            id: id.into(),
            action,
            agent: agent.into(),
            queue: None,
            reason: String::new(),
            penalty: None,
            member_name: String::new(),
            requested_by: String::new(),
            ts,
        }
    }

    /// The stream entry's fields, every field present (empty when unset) so entries look alike.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            (field::ID, self.id.clone()),
            (field::ACTION, self.action.as_str().to_owned()),
            (field::AGENT, self.agent.clone()),
            (field::QUEUE, self.queue.clone().unwrap_or_default()),
            (field::REASON, self.reason.clone()),
            (field::PENALTY, self.penalty.map(|p| p.to_string()).unwrap_or_default()),
            (field::MEMBER_NAME, self.member_name.clone()),
            (field::REQUESTED_BY, self.requested_by.clone()),
            (field::TS, self.ts.to_string()),
        ]
    }

    /// Checks a command before it is written, with the same rules the daemon applies on reading, so a
    /// producer learns about a bad value at once instead of from a `malformed` result.
    pub fn validate(&self) -> Result<(), Malformed> {
        let fields = self.to_fields();
        Self::from_fields(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))).map(|_| ())
    }

    /// Decodes a stream entry's fields (raw bytes: the entry may hold anything).
    pub fn from_fields<'a>(
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<Self, Malformed> {
        let fields: Vec<(&[u8], &[u8])> = fields.into_iter().take(MAX_FIELDS + 1).collect();
        let id = fields.iter().find(|(k, _)| *k == field::ID.as_bytes()).and_then(|(_, v)| {
            text(field::ID, v, MAX_ID_BYTES).ok().filter(|id| !id.is_empty()).map(str::to_owned)
        });
        Self::decode(&fields).map_err(|problem| Malformed { id, problem })
    }

    fn decode(fields: &[(&[u8], &[u8])]) -> Result<Self, Problem> {
        if fields.len() > MAX_FIELDS {
            return Err(Problem::TooManyFields);
        }
        let mut values: [Option<&[u8]>; 9] = [None; 9];
        for (key, value) in fields {
            let slot = field::COMMAND_FIELDS
                .iter()
                .position(|f| f.as_bytes() == *key)
                .ok_or_else(|| Problem::UnknownField(Shown::of(key)))?;
            if values[slot].replace(value).is_some() {
                return Err(Problem::Repeated(field::COMMAND_FIELDS[slot]));
            }
        }
        let get = |name: &'static str, max: usize| -> Result<&str, Problem> {
            let slot = field::COMMAND_FIELDS.iter().position(|f| *f == name).unwrap_or(0);
            values[slot].map_or(Ok(""), |v| text(name, v, max))
        };
        let required = |name: &'static str, max: usize| -> Result<&str, Problem> {
            let v = get(name, max)?;
            if v.is_empty() { Err(Problem::Missing(name)) } else { Ok(v) }
        };
        let id = required(field::ID, MAX_ID_BYTES)?.to_owned();
        let action_text = required(field::ACTION, MAX_NAME_BYTES)?;
        let action = Action::parse(action_text)
            .ok_or_else(|| Problem::UnknownAction(Shown::of(action_text.as_bytes())))?;
        let agent = required(field::AGENT, MAX_NAME_BYTES)?.to_owned();
        let queue = Some(get(field::QUEUE, MAX_NAME_BYTES)?.to_owned()).filter(|q| !q.is_empty());
        let penalty = match get(field::PENALTY, MAX_NAME_BYTES)? {
            "" => None,
            p => Some(
                p.parse::<u32>()
                    .ok()
                    .filter(|p| *p <= MAX_PENALTY)
                    .ok_or(Problem::NotANumber(field::PENALTY))?,
            ),
        };
        let ts = required(field::TS, MAX_NAME_BYTES)?
            .parse::<i64>()
            .ok()
            .filter(|ts| *ts >= 0)
            .ok_or(Problem::NotANumber(field::TS))?;
        let command = Self {
            id,
            action,
            agent,
            queue,
            reason: get(field::REASON, MAX_REASON_BYTES)?.to_owned(),
            penalty,
            member_name: get(field::MEMBER_NAME, MAX_NAME_BYTES)?.to_owned(),
            requested_by: get(field::REQUESTED_BY, MAX_NAME_BYTES)?.to_owned(),
            ts,
        };
        command.check_needs()?;
        Ok(command)
    }

    /// Fields an action cannot do without: QueueAdd needs a queue; QueuePenalty needs the penalty.
    fn check_needs(&self) -> Result<(), Problem> {
        match self.action {
            Action::Login if self.queue.is_none() => {
                Err(Problem::Needs { action: self.action, field: field::QUEUE })
            }
            Action::Penalty if self.penalty.is_none() => {
                Err(Problem::Needs { action: self.action, field: field::PENALTY })
            }
            _ => Ok(()),
        }
    }
}

/// One field as text: UTF-8, at most `max` bytes, no control characters (CR/LF would split an AMI header).
fn text<'a>(field: &'static str, value: &'a [u8], max: usize) -> Result<&'a str, Problem> {
    if value.len() > max {
        return Err(Problem::TooLong { field, max });
    }
    let s = std::str::from_utf8(value).map_err(|_| Problem::NotUtf8(field))?;
    if s.chars().any(char::is_control) {
        return Err(Problem::ControlCharacter(field));
    }
    Ok(s)
}

/// The machine-readable outcome of a command (`code` on `…:results`); docs/DESIGN.md lists how a gateway maps
/// each to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Executed; Asterisk said Success.
    Done,
    /// `[actions] enabled` is false.
    Disabled,
    /// The action is not in `[actions] allow`.
    NotAllowed,
    /// The queue (or, for an all-queues command, one of the agent's queues) is not in `[actions] queues`.
    QueueNotAllowed,
    /// `ts` older than `max_age_ms`, or too far in the future.
    Stale,
    /// Over `max_per_minute` for this agent.
    RateLimited,
    /// The entry is not a valid command.
    Malformed,
    /// Another entry with the same id was already taken.
    Duplicate,
    /// No AMI session at the moment.
    AmiUnavailable,
    /// Asterisk refused it (its message is in `error`), the agent is unknown, or the run was interrupted.
    Failed,
}

impl Code {
    pub const ALL: [Code; 10] = [
        Code::Done,
        Code::Disabled,
        Code::NotAllowed,
        Code::QueueNotAllowed,
        Code::Stale,
        Code::RateLimited,
        Code::Malformed,
        Code::Duplicate,
        Code::AmiUnavailable,
        Code::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Done => "done",
            Code::Disabled => "disabled",
            Code::NotAllowed => "not_allowed",
            Code::QueueNotAllowed => "queue_not_allowed",
            Code::Stale => "stale",
            Code::RateLimited => "rate_limited",
            Code::Malformed => "malformed",
            Code::Duplicate => "duplicate",
            Code::AmiUnavailable => "ami_unavailable",
            Code::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Refused by `[actions]` itself (a gateway answers 403), as opposed to refused for this one request
    /// (409) or done (200).
    pub fn is_forbidden(self) -> bool {
        matches!(self, Code::Disabled | Code::NotAllowed | Code::QueueNotAllowed)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `…:results`: `ok` is `true` exactly when `code` is `done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    pub id: String,
    pub code: Code,
    /// Human-readable reason; empty when done.
    pub error: String,
    /// When the daemon answered, ms since the Unix epoch.
    pub ts: i64,
}

/// A `…:results` entry that is not a result this version understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad result entry: {0}")]
pub struct BadResult(pub Problem);

impl CommandResult {
    pub fn new(id: impl Into<String>, code: Code, error: impl Into<String>, ts: i64) -> Self {
        Self { id: id.into(), code, error: error.into(), ts }
    }

    pub fn ok(&self) -> bool {
        self.code == Code::Done
    }

    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            (field::ID, self.id.clone()),
            (field::OK, self.ok().to_string()),
            (field::CODE, self.code.as_str().to_owned()),
            (field::ERROR, self.error.clone()),
            (field::TS, self.ts.to_string()),
        ]
    }

    /// The id of a result entry without decoding the rest: a waiting producer skips other ids cheaply.
    pub fn id_of<'a>(fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Option<&'a [u8]> {
        fields.into_iter().find(|(k, _)| *k == field::ID.as_bytes()).map(|(_, v)| v)
    }

    /// Decodes a result entry. Unknown extra fields are ignored: a newer daemon may add some.
    pub fn from_fields<'a>(
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<Self, BadResult> {
        let (mut id, mut code, mut error, mut ts) = (None, None, String::new(), None);
        for (key, value) in fields {
            let as_text = |name| std::str::from_utf8(value).map_err(|_| BadResult(Problem::NotUtf8(name)));
            match key {
                k if k == field::ID.as_bytes() => id = Some(as_text(field::ID)?.to_owned()),
                k if k == field::CODE.as_bytes() => {
                    let text = as_text(field::CODE)?;
                    code = Some(
                        Code::parse(text)
                            .ok_or_else(|| BadResult(Problem::UnknownField(Shown::of(value))))?,
                    );
                }
                k if k == field::ERROR.as_bytes() => error = String::from_utf8_lossy(value).into_owned(),
                k if k == field::TS.as_bytes() => {
                    ts = Some(
                        as_text(field::TS)?.parse().map_err(|_| BadResult(Problem::NotANumber(field::TS)))?,
                    )
                }
                _ => {}
            }
        }
        Ok(Self {
            id: id.ok_or(BadResult(Problem::Missing(field::ID)))?,
            code: code.ok_or(BadResult(Problem::Missing(field::CODE)))?,
            error,
            ts: ts.ok_or(BadResult(Problem::Missing(field::TS)))?,
        })
    }
}

/// A fresh command id: 128 random bits in hex, unique without coordination between producers.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
